"""Payment orders: assessments received from the dossier service, orders and their
transitions, callbacks as received, idempotency keys, receipts and the keys that sign them.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from services.payment.adapters.tables import PAYMENT_TABLES, metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=PAYMENT_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=PAYMENT_TABLES)
