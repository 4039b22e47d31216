"""Enterprise mandates: the mandates table, and the mandate a code or a refresh token was issued
under (``mandate_id``), so that revoking a mandate revokes what was issued with it.

Migration 0003 creates the OIDC tables from the current model, which has the new columns
already: they are added only where missing, as in 0010.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from services.identity.adapters import mandates
from services.identity.adapters.tables import metadata

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = [mandates.mandates]
COLUMNS = [("authorization_codes", "mandate_id", "text"), ("refresh_tokens", "mandate_id", "text")]


def upgrade() -> None:
    for table, column, kind in COLUMNS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
    op.execute(
        "CREATE INDEX IF NOT EXISTS refresh_tokens_mandate ON refresh_tokens (mandate_id) WHERE mandate_id IS NOT NULL"
    )
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=TABLES)
    op.execute("DROP INDEX IF EXISTS refresh_tokens_mandate")
    for table, column, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}")
