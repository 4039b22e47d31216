"""Accounts: citizens, enterprises, officials, admins; one-time codes; sign-in audit; sent messages.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from services.identity.adapters.accounts import ACCOUNT_TABLES

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ACCOUNT_TABLES:
        table.create(op.get_bind())


def downgrade() -> None:
    for table in reversed(ACCOUNT_TABLES):
        table.drop(op.get_bind())
