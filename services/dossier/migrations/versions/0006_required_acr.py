"""The level of assurance each stored version of an online service requires (from its event).

Versions stored before are at the lowest level, password, as their events said nothing else.
(A database made from scratch has the column already: 0002 creates the read model from the
current tables.)

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE catalogue_service_versions ADD COLUMN IF NOT EXISTS required_acr text NOT NULL "
        "DEFAULT 'urn:portal:acr:password'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE catalogue_service_versions DROP COLUMN IF EXISTS required_acr")
