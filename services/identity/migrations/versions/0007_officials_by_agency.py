"""Who acts for an agency: active officials by their agencies (the notification service's digest).

Migration 0002 creates the accounts table from the current model, which has the index already:
creating it only where it is missing keeps both paths (a new database, an existing one) right.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS accounts_active_officials ON accounts USING gin (agencies) "
        "WHERE kind = 'official' AND status = 'active'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS accounts_active_officials")
