"""The level of assurance a dossier's online service requires, kept with its assessed fees:
paying them asks the same of the payer's sign-in.

Assessments kept before are at the lowest level, password, as their events said nothing else.
(A database made from scratch has the column already: revision 0002 creates ``assessments``
from the current tables.)

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE assessments ADD COLUMN IF NOT EXISTS required_acr text NOT NULL DEFAULT 'urn:portal:acr:password'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE assessments DROP COLUMN IF EXISTS required_acr")
