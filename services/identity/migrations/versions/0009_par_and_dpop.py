"""Pushed authorization requests (RFC 9126), DPoP (RFC 9449) and the FAPI 2.0 profile: the
clients' settings for them, the DPoP key a code or a refresh token is bound to, the pushed
requests and the DPoP proofs the token endpoint has seen.

Migration 0003 creates the OAuth tables from the current model, which has the columns already:
adding them only where they are missing keeps both paths (a new database, an existing one) right.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

from services.identity.adapters import pushed
from services.identity.adapters.tables import metadata

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = [pushed.pushed_authorization_requests, pushed.dpop_proof_jtis]
CLIENT_FLAGS = ("require_pushed_authorization_requests", "dpop_bound_access_tokens", "fapi2")


def upgrade() -> None:
    for flag in CLIENT_FLAGS:
        op.execute(f"ALTER TABLE oauth_clients ADD COLUMN IF NOT EXISTS {flag} boolean NOT NULL DEFAULT false")
    op.execute("ALTER TABLE authorization_codes ADD COLUMN IF NOT EXISTS dpop_jkt text")
    op.execute("ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS dpop_jkt text")
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(reversed(TABLES)))
    op.execute("ALTER TABLE refresh_tokens DROP COLUMN IF EXISTS dpop_jkt")
    op.execute("ALTER TABLE authorization_codes DROP COLUMN IF EXISTS dpop_jkt")
    for flag in CLIENT_FLAGS:
        op.execute(f"ALTER TABLE oauth_clients DROP COLUMN IF EXISTS {flag}")
