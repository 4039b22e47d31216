"""The officials' digest: every dossier's and feedback item's deadline, and the days made.

Revision ID: 0002
Revises: 0001

The tables are created from their first definitions in ``adapters/tables.py``; any later change
to them gets an explicit migration of its own.
"""

from alembic import op

from services.notification.adapters.tables import DEADLINE_TABLES, metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=DEADLINE_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(reversed(DEADLINE_TABLES)))
