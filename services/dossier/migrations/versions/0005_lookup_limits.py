"""The public lookup: the receipt's lookup secret, and wrong lookups counted per code and address.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from services.dossier.adapters.tables import LOOKUP_TABLES, metadata

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: a new column of a large table without rewriting it. (A database made
    # from scratch has it already: revision 0003 creates ``dossiers`` from the current tables.)
    op.execute("ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS lookup_secret text")
    metadata.create_all(op.get_bind(), tables=LOOKUP_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=LOOKUP_TABLES)
    op.execute("ALTER TABLE dossiers DROP COLUMN IF EXISTS lookup_secret")
