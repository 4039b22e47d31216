"""The feedback database: the kit's outbox and inbox, feedback and its timeline, the published
answers and their search index, and what other services' events told (procedures, offers,
dossiers).

Revision ID: 0001
"""

from alembic import op

from services.feedback.adapters.tables import TABLES, feedback_codes, metadata
from services.kit.migrations import create_kit_tables_v1, drop_kit_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables_v1(op)
    feedback_codes.create(op.get_bind())
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=TABLES)
    feedback_codes.drop(op.get_bind())
    drop_kit_tables_v1(op)
