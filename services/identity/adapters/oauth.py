"""Tables of the OpenID Connect provider and the key material they hold.

Secrets are never stored as given: client secrets, codes, refresh tokens and session ids are
stored as SHA-256 hashes (they are long random values, so a fast hash is enough); private
signing keys are encrypted with the key-encryption key from the settings.
"""

from __future__ import annotations

import hashlib
import secrets
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Row,
    Table,
    Text,
    and_,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from services.kit.batching import GroupInsert, Recent
from services.kit.db import SqlParams

from ..domain.oauth import AuthorizationCode, BrowserSession, Client, ClientKind, RefreshToken, SigningKey
from .accounts import accounts
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
    # OpenID Connect Back-Channel Logout (migration 0010).
    Column("backchannel_logout_uri", Text),
    Column("backchannel_logout_session_required", Boolean, nullable=False, server_default="false"),
    # PAR, DPoP and the FAPI 2.0 profile per client (migration 0009).
    Column("require_pushed_authorization_requests", Boolean, nullable=False, server_default=false()),
    Column("dpop_bound_access_tokens", Boolean, nullable=False, server_default=false()),
    Column("fapi2", Boolean, nullable=False, server_default=false()),
)


def sign_in_columns() -> list[Column[Any]]:
    """Who signed in and how, carried from the browser session to the code to the refresh
    token family: every token issued later says the same ``acr``, ``amr`` and ``auth_time``."""
    return [
        Column("acr", Text, nullable=False),
        Column("amr", ARRAY(Text), nullable=False),
        Column("auth_time", DateTime(timezone=True), nullable=False),
        Column("agencies", ARRAY(Text), nullable=False, server_default="{}"),
        Column("sid", Text),  # the session id relying parties see (migration 0010)
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
    Column("dpop_jkt", Text),  # migration 0009
    Column("mandate_id", Text),  # acting for an enterprise (migration 0011)
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
    Column("dpop_jkt", Text),  # migration 0009
    Column("mandate_id", Text),  # acting for an enterprise (migration 0011)
    Index("refresh_tokens_family", "family_id"),
    Index("refresh_tokens_mandate", "mandate_id", postgresql_where=text("mandate_id IS NOT NULL")),
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


# --- repositories ---------------------------------------------------------------------------


def _to_client(row: Row[Any]) -> Client:
    return Client(
        client_id=row.client_id, name=row.name, kind=ClientKind(row.kind), auth_method=row.auth_method,
        redirect_uris=tuple(row.redirect_uris), post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
        grant_types=tuple(row.grant_types), allowed_scopes=frozenset(row.allowed_scopes),
        agencies=tuple(row.agencies), secret_hash=row.secret_hash, previous_secret_hash=row.previous_secret_hash,
        previous_secret_expires_at=row.previous_secret_expires_at, jwks=row.jwks, disabled_at=row.disabled_at,
        backchannel_logout_uri=row.backchannel_logout_uri,
        backchannel_logout_session_required=row.backchannel_logout_session_required,
        require_pushed_authorization_requests=row.require_pushed_authorization_requests,
        dpop_bound_access_tokens=row.dpop_bound_access_tokens, fapi2=row.fapi2,
    )  # fmt: skip


#: How stale the token endpoint's view of a client and of the signing keys may be in one process.
#: A client disabled elsewhere stops getting tokens within CLIENT_SECONDS; a secret rotated
#: elsewhere works at once (a secret that does not match is checked again against the table).
#: Keys are published ``key_publish_ahead_seconds`` before they sign, far longer than KEYS_SECONDS.
CLIENT_SECONDS = 5.0
KEYS_SECONDS = 30.0


@dataclass(frozen=True)
class _Shared:
    """What every unit of work on one database shares within a process: the token endpoint's
    recent reads, and the group commit of issued access tokens' records."""

    clients: Recent[str, Client | None]
    keys: Recent[str, list[SigningKey]]
    issued: GroupInsert


_SHARED: weakref.WeakKeyDictionary[Engine, _Shared] = weakref.WeakKeyDictionary()


def _shared(connection: AsyncConnection) -> _Shared:
    found = _SHARED.get(connection.sync_engine)
    if found is None:
        issued = GroupInsert(connection.engine, issued_access_tokens)
        found = _SHARED[connection.sync_engine] = _Shared(Recent(CLIENT_SECONDS), Recent(KEYS_SECONDS, 1), issued)
    return found


def forget_recent_keys() -> None:
    """This process reads the signing keys again at the next token (a key made active at once,
    in an emergency, is used by the other processes within KEYS_SECONDS)."""
    for shared in _SHARED.values():
        shared.keys.clear()


class SqlClients:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection
        self._recent = _shared(connection).clients

    async def recent(self, client_id: str) -> Client | None:
        fresh, client = self._recent.get(client_id)
        if not fresh:
            client = await self.get(client_id)
            self._recent.put(client_id, client)
        return client

    def forget(self, client_id: str) -> None:
        self._recent.drop(client_id)

    async def get(self, client_id: str, *, include_disabled: bool = False, for_update: bool = False) -> Client | None:
        query = select(clients).where(clients.c.client_id == client_id)
        if not include_disabled:
            query = query.where(clients.c.disabled_at.is_(None))
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).first()
        return _to_client(row) if row else None

    async def all(self) -> list[Client]:
        return [_to_client(r) for r in await self._connection.execute(select(clients).order_by(clients.c.client_id))]

    async def add(self, client: Client) -> None:
        self._recent.drop(client.client_id)
        await self._connection.execute(
            insert(clients).values(
                client_id=client.client_id, name=client.name, kind=client.kind.value, auth_method=client.auth_method,
                secret_hash=client.secret_hash, jwks=client.jwks, redirect_uris=list(client.redirect_uris),
                post_logout_redirect_uris=list(client.post_logout_redirect_uris),
                grant_types=list(client.grant_types), allowed_scopes=sorted(client.allowed_scopes),
                agencies=list(client.agencies), backchannel_logout_uri=client.backchannel_logout_uri,
                backchannel_logout_session_required=client.backchannel_logout_session_required,
                require_pushed_authorization_requests=client.require_pushed_authorization_requests,
                dpop_bound_access_tokens=client.dpop_bound_access_tokens, fapi2=client.fapi2,
            )
        )  # fmt: skip

    async def rotate_secret(self, client_id: str, secret_hash: str, previous_expires_at: datetime) -> None:
        self._recent.drop(client_id)
        await self._connection.execute(
            update(clients)
            .where(clients.c.client_id == client_id)
            .values(
                secret_hash=secret_hash,
                previous_secret_hash=clients.c.secret_hash,
                previous_secret_expires_at=previous_expires_at,
            )
        )

    async def disable(self, client_id: str, now: datetime) -> bool:
        self._recent.drop(client_id)
        result = await self._connection.execute(
            update(clients)
            .where(clients.c.client_id == client_id, clients.c.disabled_at.is_(None))
            .values(disabled_at=now)
        )
        return bool(result.rowcount)

    async def set_backchannel_logout(self, client_id: str, uri: str | None, session_required: bool) -> None:
        self._recent.drop(client_id)
        await self._connection.execute(
            update(clients)
            .where(clients.c.client_id == client_id)
            .values(backchannel_logout_uri=uri, backchannel_logout_session_required=session_required)
        )

    async def remember_assertion(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        stored = await self._connection.execute(
            pg_insert(client_assertion_jtis)
            .values(client_id=client_id, jti=jti, expires_at=expires_at)
            .on_conflict_do_nothing()
            .returning(client_assertion_jtis.c.jti)
        )
        return stored.first() is not None


class SqlSigningKeys:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection
        self._recent = _shared(connection).keys

    async def recent(self) -> list[SigningKey]:
        fresh, keys = self._recent.get("all")
        if not fresh or keys is None:
            keys = await self.all()
            self._recent.put("all", keys)
        return keys

    async def all(self) -> list[SigningKey]:
        return [
            SigningKey(r.kid, r.private_key, r.public_jwk, r.activates_at)
            for r in await self._connection.execute(select(signing_keys))
        ]

    async def add(self, key: SigningKey) -> None:
        self._recent.clear()
        await self._connection.execute(
            insert(signing_keys).values(
                kid=key.kid, private_key=key.private_key, public_jwk=key.public_jwk, activates_at=key.activates_at
            )
        )


class SqlBrowserSessions:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def add(self, session: BrowserSession) -> None:
        await self._connection.execute(
            insert(browser_sessions).values(
                id_hash=session.id_hash, account_id=session.account_id, acr=session.acr, amr=list(session.amr),
                auth_time=session.auth_time, agencies=list(session.agencies), expires_at=session.expires_at,
                sid=session.sid,
            )
        )  # fmt: skip

    async def get(self, id_hash: str) -> BrowserSession | None:
        row = (
            await self._connection.execute(select(browser_sessions).where(browser_sessions.c.id_hash == id_hash))
        ).first()
        if row is None:
            return None
        return BrowserSession(
            id_hash=row.id_hash, account_id=row.account_id, acr=row.acr, amr=tuple(row.amr), auth_time=row.auth_time,
            agencies=tuple(row.agencies), expires_at=row.expires_at, revoked_at=row.revoked_at, sid=row.sid,
        )  # fmt: skip

    async def revoke(self, id_hash: str, now: datetime) -> None:
        await self._connection.execute(
            update(browser_sessions).where(browser_sessions.c.id_hash == id_hash).values(revoked_at=now)
        )

    async def revoke_all(self, account_id: str, now: datetime) -> int:
        revoked = await self._connection.execute(
            update(browser_sessions)
            .where(browser_sessions.c.account_id == account_id, browser_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(revoked.rowcount)


class SqlAuthorizationCodes:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def add(self, code: AuthorizationCode) -> None:
        await self._connection.execute(
            insert(authorization_codes).values(
                code_hash=code.code_hash, client_id=code.client_id, account_id=code.account_id,
                redirect_uri=code.redirect_uri, scope=code.scope, nonce=code.nonce,
                code_challenge=code.code_challenge, acr=code.acr, amr=list(code.amr), auth_time=code.auth_time,
                agencies=list(code.agencies), expires_at=code.expires_at, sid=code.sid, dpop_jkt=code.dpop_jkt,
                mandate_id=code.mandate_id,
            )
        )  # fmt: skip

    async def consume(self, code_hash: str, now: datetime) -> AuthorizationCode | None:
        row = (
            await self._connection.execute(
                update(authorization_codes)
                .where(authorization_codes.c.code_hash == code_hash, authorization_codes.c.consumed_at.is_(None))
                .values(consumed_at=now)
                .returning(authorization_codes)
            )
        ).first()
        if row is None:
            return None
        return AuthorizationCode(
            code_hash=row.code_hash, client_id=row.client_id, account_id=row.account_id,
            redirect_uri=row.redirect_uri, scope=row.scope, nonce=row.nonce, code_challenge=row.code_challenge,
            acr=row.acr, amr=tuple(row.amr), auth_time=row.auth_time, agencies=tuple(row.agencies),
            expires_at=row.expires_at, sid=row.sid, dpop_jkt=row.dpop_jkt, mandate_id=row.mandate_id,
        )  # fmt: skip

    async def void_all(self, account_id: str, now: datetime) -> int:
        voided = await self._connection.execute(
            update(authorization_codes)
            .where(authorization_codes.c.account_id == account_id, authorization_codes.c.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        return int(voided.rowcount)

    async def exists(self, code_hash: str) -> bool:
        query = select(authorization_codes.c.code_hash).where(authorization_codes.c.code_hash == code_hash)
        return bool(await self._connection.scalar(query))


class SqlIssuedTokens:
    def __init__(self, connection: AsyncConnection, execute_alone: Callable[[Any, SqlParams], Awaitable[Any]]):
        self._connection = connection
        self._execute_alone = execute_alone  # the unit of work's
        self._issued = _shared(connection).issued

    async def add_refresh(self, token: RefreshToken) -> None:
        await self._connection.execute(
            insert(refresh_tokens).values(
                token_hash=token.token_hash, family_id=token.family_id, client_id=token.client_id,
                account_id=token.account_id, scope=token.scope, acr=token.acr, amr=list(token.amr),
                auth_time=token.auth_time, agencies=list(token.agencies), code_hash=token.code_hash,
                expires_at=token.expires_at, sid=token.sid, dpop_jkt=token.dpop_jkt, mandate_id=token.mandate_id,
            )
        )  # fmt: skip

    async def refresh(self, token_hash: str, *, for_update: bool = False) -> RefreshToken | None:
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).first()
        return _to_refresh(row) if row is not None else None

    async def mark_used(self, token_hash: str, now: datetime) -> None:
        await self._connection.execute(
            update(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).values(used_at=now)
        )

    async def add_access(self, jti: str, code_hash: str | None, family_id: str | None, expires_at: datetime) -> None:
        # Committed with the access records of the requests issuing at the same moment, before
        # this returns; not in this unit's transaction (which a client-credentials grant skips).
        await self._issued.add({"jti": jti, "code_hash": code_hash, "family_id": family_id, "expires_at": expires_at})

    async def rotate_refresh(
        self, token_hash: str, successor_hash: str, client_id: str, jkt: str | None, now: datetime,
        expires_at: datetime,
    ) -> tuple[RefreshToken, str | None] | None:  # fmt: skip
        spent = (
            update(refresh_tokens)
            .where(
                refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.client_id == client_id,
                refresh_tokens.c.used_at.is_(None), refresh_tokens.c.revoked_at.is_(None),
                refresh_tokens.c.expires_at > now,
                or_(refresh_tokens.c.dpop_jkt.is_(None), refresh_tokens.c.dpop_jkt == jkt),
                select(accounts.c.id)
                .where(accounts.c.id == refresh_tokens.c.account_id, accounts.c.status == "active")
                .exists(),
            )
            .values(used_at=now)
            .returning(*refresh_tokens.c)
            .cte("spent")
        )  # fmt: skip
        kept = ("family_id", "client_id", "account_id", "scope", "acr", "amr", "auth_time", "agencies", "code_hash",
                "sid", "dpop_jkt", "mandate_id")  # fmt: skip
        successor = select(
            literal(successor_hash, Text), *(spent.c[name] for name in kept),
            literal(expires_at, DateTime(timezone=True)),
        )  # fmt: skip
        stored = (
            insert(refresh_tokens)
            .from_select(["token_hash", *kept, "expires_at"], successor)
            .returning(*refresh_tokens.c)
            .cte("stored")
        )
        identifier = func.coalesce(accounts.c.personal_id, accounts.c.tax_code).label("identifier")
        statement = select(stored, identifier).join_from(stored, accounts, accounts.c.id == stored.c.account_id)
        # One statement, committed on its own when it is the unit's first (no BEGIN, no COMMIT).
        row = (await self._execute_alone(statement, {})).first()
        return (_to_refresh(row), row.identifier) if row is not None else None

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        await self._revoke_issued(
            refresh_tokens.c.family_id == family_id, issued_access_tokens.c.family_id == family_id, now
        )

    async def revoke_from_code(self, code_hash: str, now: datetime) -> None:
        await self._revoke_issued(
            refresh_tokens.c.code_hash == code_hash, issued_access_tokens.c.code_hash == code_hash, now
        )

    async def _revoke_issued(
        self, refresh_condition: ColumnElement[bool], access_condition: ColumnElement[bool], now: datetime
    ) -> None:
        await self._connection.execute(
            update(refresh_tokens)
            .where(refresh_condition, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        issued = select(issued_access_tokens.c.jti, issued_access_tokens.c.expires_at).where(access_condition)
        await self._connection.execute(
            pg_insert(revoked_access_tokens).from_select(["jti", "expires_at"], issued).on_conflict_do_nothing()
        )

    async def revoke_account(self, account_id: str, now: datetime) -> None:
        families = select(refresh_tokens.c.family_id).where(refresh_tokens.c.account_id == account_id)
        codes = select(authorization_codes.c.code_hash).where(authorization_codes.c.account_id == account_id)
        await self._revoke_issued(
            refresh_tokens.c.account_id == account_id,
            and_(
                issued_access_tokens.c.expires_at > now,
                or_(issued_access_tokens.c.family_id.in_(families), issued_access_tokens.c.code_hash.in_(codes)),
            ),
            now,
        )

    async def revoke_access(self, jti: str, expires_at: datetime) -> None:
        await self._connection.execute(
            pg_insert(revoked_access_tokens).values(jti=jti, expires_at=expires_at).on_conflict_do_nothing()
        )

    async def access_revoked(self, jti: str) -> bool:
        query = select(revoked_access_tokens.c.jti).where(revoked_access_tokens.c.jti == jti)
        return bool(await self._connection.scalar(query))


def _to_refresh(row: Row[Any]) -> RefreshToken:
    return RefreshToken(
        token_hash=row.token_hash, family_id=row.family_id, client_id=row.client_id, account_id=row.account_id,
        scope=row.scope, acr=row.acr, amr=tuple(row.amr), auth_time=row.auth_time, agencies=tuple(row.agencies),
        code_hash=row.code_hash, expires_at=row.expires_at, used_at=row.used_at, revoked_at=row.revoked_at,
        sid=row.sid, dpop_jkt=row.dpop_jkt, mandate_id=row.mandate_id,
    )  # fmt: skip
