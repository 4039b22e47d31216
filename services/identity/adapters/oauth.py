"""Tables of the OpenID Connect provider and the key material they hold.

Secrets are never stored as given: client secrets, codes, refresh tokens and session ids are
stored as SHA-256 hashes (they are long random values, so a fast hash is enough); private
signing keys are encrypted with the key-encryption key from the settings.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from .tables import metadata

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("private_key", LargeBinary, nullable=False),  # PEM, encrypted
    Column("public_jwk", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("activates_at", DateTime(timezone=True), nullable=False),
)

clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("auth_method", Text, nullable=False),
    Column("secret_hash", Text),
    # During a secret rotation the previous secret keeps working until this time.
    Column("previous_secret_hash", Text),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    Column("jwks", JSONB),  # public keys for private_key_jwt
    Column("redirect_uris", ARRAY(Text), nullable=False, server_default="{}"),
    Column("post_logout_redirect_uris", ARRAY(Text), nullable=False, server_default="{}"),
    Column("grant_types", ARRAY(Text), nullable=False),
    Column("allowed_scopes", ARRAY(Text), nullable=False, server_default="{}"),
    Column("agencies", ARRAY(Text), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("disabled_at", DateTime(timezone=True)),
)


def sign_in_columns() -> list[Column[Any]]:
    """Who signed in and how, carried from the browser session to the code to the refresh
    token family: every token issued later says the same ``acr``, ``amr`` and ``auth_time``."""
    return [
        Column("acr", Text, nullable=False),
        Column("amr", ARRAY(Text), nullable=False),
        Column("auth_time", DateTime(timezone=True), nullable=False),
        Column("agencies", ARRAY(Text), nullable=False, server_default="{}"),
    ]


browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("id_hash", Text, primary_key=True),
    Column("account_id", Text, nullable=False, index=True),
    *sign_in_columns(),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", Text, primary_key=True),
    Column("client_id", Text, ForeignKey("oauth_clients.client_id"), nullable=False),
    Column("account_id", Text, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", Text),
    Column("code_challenge", Text),
    *sign_in_columns(),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("consumed_at", DateTime(timezone=True)),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("family_id", UUID(as_uuid=False), nullable=False),
    Column("client_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("scope", Text, nullable=False),
    *sign_in_columns(),
    Column("code_hash", Text),  # the authorization code the family started from
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("refresh_tokens_family", "family_id"),
    Index("refresh_tokens_code", "code_hash"),
)

revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Access tokens issued, by jti, so that a replayed authorization code can revoke them.
issued_access_tokens = Table(
    "issued_access_tokens",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("code_hash", Text, index=True),
    Column("family_id", UUID(as_uuid=False), index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

client_assertion_jtis = Table(
    "client_assertion_jtis",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("jti", Text, primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


def digest(value: str) -> str:
    """The stored form of a secret value: hex SHA-256."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
