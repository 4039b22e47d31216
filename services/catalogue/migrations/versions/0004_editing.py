"""Editing: revisions on procedures and online services (carried by their events), and the
audit trail of who changed what.

Migration 0002 builds its tables from the live definitions in ``adapters/tables.py``, so a
new database already has the ``revision`` columns when it gets here; the DDL below is written
to be a no-op then, and to add them to a database migrated before they existed.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from services.catalogue.adapters.tables import catalogue_audit

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("procedures", "online_services"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS revision integer NOT NULL DEFAULT 1")
    catalogue_audit.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    catalogue_audit.drop(op.get_bind(), checkfirst=True)
    for table in ("procedures", "online_services"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS revision")
