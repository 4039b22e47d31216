"""Inbound status pushes: agencies' status mappings, batches and per-record results, accepted
record ids, the latest accepted update of each dossier.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from services.sync.adapters.tables import INBOUND_TABLES, metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=INBOUND_TABLES)


def downgrade() -> None:
    # Made here before revision 0004 folded it into ``batches.results``; 0004's downgrade
    # makes it again.
    op.execute("DROP TABLE IF EXISTS batch_results")
    # Made here before revision 0005 replaced it with ``known_dossiers``; 0005's downgrade makes it again.
    op.execute("DROP TABLE IF EXISTS dossier_progress")
    metadata.drop_all(op.get_bind(), tables=INBOUND_TABLES)
