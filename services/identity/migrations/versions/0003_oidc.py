"""The OpenID Connect provider: signing keys, clients, sessions, codes, refresh tokens.

Revision ID: 0003
Revises: 0002

The tables are created from their first definitions in ``adapters/oauth.py``; any later
change to them gets an explicit migration of its own.
"""

from alembic import op

from services.identity.adapters import oauth
from services.identity.adapters.tables import metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = [
    oauth.signing_keys,
    oauth.clients,
    oauth.browser_sessions,
    oauth.authorization_codes,
    oauth.refresh_tokens,
    oauth.revoked_access_tokens,
    oauth.issued_access_tokens,
    oauth.client_assertion_jtis,
]


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(reversed(TABLES)))
