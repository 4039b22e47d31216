"""When the payer of an order was told it expires soon (``payment.order.expiring.v1``, once).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: no rewrite of the table. (A database made from scratch has it already:
    # revision 0002 creates ``orders`` from the current tables.)
    op.execute("ALTER TABLE orders ADD COLUMN IF NOT EXISTS expiry_warned_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE orders DROP COLUMN IF EXISTS expiry_warned_at")
