"""The read model of identity's enterprise mandates (a token acting for an enterprise is accepted
while its mandate is active here).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from services.dossier.adapters.mandates import mandates_view
from services.dossier.adapters.tables import metadata

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=[mandates_view])


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[mandates_view])
