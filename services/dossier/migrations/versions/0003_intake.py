"""Dossier intake and tracking: dossiers, the agencies' daily sequences, the status history and
refused updates, attachments, idempotency keys, drafts, supplement requests, ratings.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from services.dossier.adapters.tables import INTAKE_TABLES, metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=INTAKE_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=INTAKE_TABLES)
