"""Outbound delivery of dossiers to agency systems: the endpoint registry, deliveries (also the
pull feed) and every attempt.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from services.sync.adapters.tables import OUTBOUND_TABLES, metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=OUTBOUND_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=OUTBOUND_TABLES)
