"""The notification database: the kit's outbox and inbox, templates, preferences, notices,
inbox items, messages, devices and the dossiers' owners.

Revision ID: 0001
"""

from alembic import op

from services.kit.migrations import create_kit_tables_v1, drop_kit_tables_v1
from services.notification.adapters.tables import TABLES, metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables_v1(op)
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=TABLES)
    drop_kit_tables_v1(op)
