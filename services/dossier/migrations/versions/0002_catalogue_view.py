"""The dossier service's read model of the catalogue: online services, every published
version of each, procedures.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from services.dossier.adapters.tables import CATALOGUE_VIEW_TABLES, metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=CATALOGUE_VIEW_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=CATALOGUE_VIEW_TABLES)
