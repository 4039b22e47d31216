"""The published answers' search words without positions and kept in the row; each filter's
index in the cursor's order.

The column is dropped and made again (its expression changed), so this works whatever shape
0001 created. ``STORAGE MAIN`` has no SQLAlchemy spelling: it is set here only.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from services.feedback.adapters.tables import published_answers

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_REBUILT = ("published_answers_search", "published_answers_agency", "published_answers_procedure",
            "published_answers_sector")  # fmt: skip


def upgrade() -> None:
    for name in _REBUILT:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("ALTER TABLE published_answers DROP COLUMN search")
    op.execute(
        "ALTER TABLE published_answers ADD COLUMN search tsvector STORAGE MAIN "
        "GENERATED ALWAYS AS (strip(to_tsvector('simple', words))) STORED NOT NULL"
    )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # the package's alias of its default dialect
    for index in published_answers.indexes:
        if index.name in _REBUILT:
            op.execute(str(CreateIndex(index).compile(dialect=dialect)))


def downgrade() -> None:
    for name in _REBUILT:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("ALTER TABLE published_answers DROP COLUMN search")
    op.execute(
        "ALTER TABLE published_answers ADD COLUMN search tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple', words)) STORED NOT NULL"
    )
    a = published_answers.c
    op.execute("CREATE INDEX published_answers_search ON published_answers USING gin (search)")
    for name, column in (("agency", a.agency_code), ("procedure", a.procedure_code), ("sector", a.sector_code)):
        op.execute(f"CREATE INDEX published_answers_{name} ON published_answers ({column.name}, published_at DESC)")
