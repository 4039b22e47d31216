"""Public statistics: what is known of each dossier and the daily counters per agency.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from services.dossier.adapters.tables import STATISTICS_TABLES, metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=STATISTICS_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=STATISTICS_TABLES)
