"""How many published answers hold each word, counted from those already published.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from services.feedback.adapters.tables import WORD_TABLES, metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=WORD_TABLES)
    op.execute(
        "INSERT INTO answer_words (word, answers) "
        "SELECT word, ndoc FROM ts_stat('SELECT search FROM published_answers')"
    )


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=WORD_TABLES)
