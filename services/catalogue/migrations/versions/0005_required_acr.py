"""The level of assurance each version of an online service requires of its applicants.

Migration 0002 builds its tables from the live definitions in ``adapters/tables.py``, so a new
database already has the column when it gets here; the DDL below is a no-op then, and adds it
(every existing version at the lowest level, password) to a database migrated before.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LEVELS = "('urn:portal:acr:password', 'urn:portal:acr:mfa', 'urn:portal:acr:in-person')"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE online_service_versions ADD COLUMN IF NOT EXISTS required_acr text NOT NULL "
        "DEFAULT 'urn:portal:acr:password'"
    )
    op.execute("ALTER TABLE online_service_versions DROP CONSTRAINT IF EXISTS online_service_versions_required_acr")
    op.execute(
        "ALTER TABLE online_service_versions ADD CONSTRAINT online_service_versions_required_acr "
        f"CHECK (required_acr IN {_LEVELS})"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE online_service_versions DROP CONSTRAINT IF EXISTS online_service_versions_required_acr")
    op.execute("ALTER TABLE online_service_versions DROP COLUMN IF EXISTS required_acr")
