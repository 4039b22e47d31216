"""A batch's per-record answers move into the batch row (``batches.results``), one JSON array
instead of a row per record; the answers already kept in ``batch_results`` are carried over
before that table goes.

Written to run both on a database at revision 0003 and on a fresh one (whose 0002 already made
``batches`` with the column and no ``batch_results``).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE batches ADD COLUMN IF NOT EXISTS results JSONB NOT NULL DEFAULT '[]'::jsonb")
    op.execute(
        """
        DO $$
        BEGIN
            IF to_regclass('batch_results') IS NOT NULL THEN
                UPDATE batches b SET results = r.answers
                FROM (
                    SELECT batch_id, jsonb_agg(
                        jsonb_build_object('index', position, 'outcome', outcome, 'record_id', record_id,
                                           'dossier_code', dossier_code)
                        || CASE WHEN errors IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('errors', errors) END
                        ORDER BY position
                    ) AS answers
                    FROM batch_results GROUP BY batch_id
                ) r
                WHERE r.batch_id = b.id;
                DROP TABLE batch_results;
            END IF;
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE TABLE batch_results (
            batch_id UUID NOT NULL REFERENCES batches (id),
            position INTEGER NOT NULL,
            record_id TEXT,
            dossier_code TEXT,
            agency_code TEXT,
            outcome TEXT NOT NULL CONSTRAINT batch_results_outcome
                CHECK (outcome IN ('accepted', 'duplicate', 'stale', 'rejected')),
            errors JSONB,
            PRIMARY KEY (batch_id, position)
        )
        """
    )
    op.execute(
        """
        INSERT INTO batch_results (batch_id, position, record_id, dossier_code, outcome, errors)
        SELECT b.id, (a->>'index')::int, a->>'record_id', a->>'dossier_code', a->>'outcome', a->'errors'
        FROM batches b, jsonb_array_elements(b.results) a
        """
    )
    op.execute("ALTER TABLE batches DROP COLUMN results")
