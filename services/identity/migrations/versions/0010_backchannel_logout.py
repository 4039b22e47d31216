"""OpenID Connect Back-Channel Logout: clients' logout URIs, session ids carried from the browser
session to codes and refresh tokens, the clients each session gave tokens to, and the logout
tokens waiting for delivery.

Migration 0003 creates the OIDC tables from the current model, which has the new columns
already: adding them only where they are missing keeps both paths (a new database, an existing
one) right. The two new tables are created here from their definitions.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

from services.identity.adapters import logout
from services.identity.adapters.tables import metadata

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = [logout.session_clients, logout.backchannel_logouts]
COLUMNS = [
    ("oauth_clients", "backchannel_logout_uri", "text"),
    ("oauth_clients", "backchannel_logout_session_required", "boolean NOT NULL DEFAULT false"),
    ("browser_sessions", "sid", "text"),
    ("authorization_codes", "sid", "text"),
    ("refresh_tokens", "sid", "text"),
]


def upgrade() -> None:
    for table, column, kind in COLUMNS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(reversed(TABLES)))
    for table, column, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}")
