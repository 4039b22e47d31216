"""The catalogue: agencies, sectors, procedures and FAQ, versioned online services, search documents.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from services.catalogue.adapters.tables import CATALOGUE_TABLES, metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both ship with PostgreSQL's contrib: diacritic folding (đ -> d too) and trigrams.
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    metadata.create_all(op.get_bind(), tables=CATALOGUE_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=CATALOGUE_TABLES)
