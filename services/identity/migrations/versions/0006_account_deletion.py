"""Deleted accounts: when their personal data was erased.

Migration 0002 creates the accounts table from the current model, which has the column already:
adding it only where it is missing keeps both paths (a new database, an existing one) right.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE accounts ADD COLUMN IF NOT EXISTS deleted_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE accounts DROP COLUMN IF EXISTS deleted_at")
