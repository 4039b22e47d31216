"""Search at national scale: procedure-name and agency-name tsvectors, (procedure, id) indexes
for walking ranked procedures, trigrams on procedure names instead of on every service.

Migration 0002 creates the catalogue tables from the live definitions in
``adapters/tables.py``, so a database created after this change already has the new shape
when it reaches this revision, while one migrated before has the old one. Every statement
here is therefore idempotent (``IF NOT EXISTS`` / ``IF EXISTS``) and brings either to the same
end state. The search tables hold derived data only: new columns are filled from what is
already in them (names already normalised), so no rebuild from the catalogue is needed.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE procedure_search ADD COLUMN IF NOT EXISTS title_tsv tsvector")
    op.execute("UPDATE procedure_search SET title_tsv = to_tsvector('simple', title) WHERE title_tsv IS NULL")
    op.execute("ALTER TABLE procedure_search ALTER COLUMN title_tsv SET NOT NULL")
    op.execute("ALTER TABLE service_search ADD COLUMN IF NOT EXISTS agency_tsv tsvector")
    # The agency's part of the document is what follows the (normalised) procedure name.
    op.execute(
        "UPDATE service_search SET agency_tsv = to_tsvector('simple', substr(document, length(title) + 2)) "
        "WHERE agency_tsv IS NULL"
    )
    op.execute("ALTER TABLE service_search ALTER COLUMN agency_tsv SET NOT NULL")

    # Trigram-matching every service was the cost at scale; names of procedures are enough.
    op.execute("DROP INDEX IF EXISTS service_search_document_trgm")
    op.execute("DROP INDEX IF EXISTS procedure_search_document_trgm")
    op.execute("DROP INDEX IF EXISTS service_search_agency")
    op.execute("DROP INDEX IF EXISTS service_search_province")
    for statement in (
        "procedure_search_title_tsv ON procedure_search USING gin (title_tsv)",
        "procedure_search_title_trgm ON procedure_search USING gin (title gin_trgm_ops)",
        "service_search_agency_tsv ON service_search USING gin (agency_tsv)",
        "service_search_procedure ON service_search (procedure_code, service_id)",
        "service_search_agency_procedure ON service_search (agency_code, procedure_code, service_id)",
        "service_search_province_procedure ON service_search (province_code, procedure_code, service_id)",
    ):
        op.execute(f"CREATE INDEX IF NOT EXISTS {statement}")


def downgrade() -> None:
    for index in (
        "procedure_search_title_tsv",
        "procedure_search_title_trgm",
        "service_search_agency_tsv",
        "service_search_procedure",
        "service_search_agency_procedure",
        "service_search_province_procedure",
    ):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    op.execute("ALTER TABLE procedure_search DROP COLUMN IF EXISTS title_tsv")
    op.execute("ALTER TABLE service_search DROP COLUMN IF EXISTS agency_tsv")
    op.execute("CREATE INDEX IF NOT EXISTS service_search_agency ON service_search (agency_code)")
    op.execute("CREATE INDEX IF NOT EXISTS service_search_province ON service_search (province_code)")
    op.execute(
        "CREATE INDEX IF NOT EXISTS service_search_document_trgm ON service_search USING gin (document gin_trgm_ops)"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS procedure_search_document_trgm "
        "ON procedure_search USING gin (document gin_trgm_ops)"
    )
