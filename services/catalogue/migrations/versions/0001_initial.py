"""The catalogue database: the kit's outbox and inbox.

Revision ID: 0001
"""

from alembic import op

from services.kit.migrations import create_kit_tables_v1, drop_kit_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables_v1(op)


def downgrade() -> None:
    drop_kit_tables_v1(op)
