"""Dispatchers in every worker: a message's lease, so a claim counts the SMS others are sending.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: no rewrite of a large table. (A database made from scratch has it
    # already: revision 0001 creates ``messages`` from the current tables.)
    op.execute("ALTER TABLE messages ADD COLUMN IF NOT EXISTS leased_until timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS leased_until")
