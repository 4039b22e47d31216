"""What the sync service knows of each dossier (``known_dossiers``, replacing
``dossier_progress``), filled at once from what sync already holds: every dossier it delivered
(its filing: agency, applicant, receipt), at the latest status its own agency pushed for it, and
the mirrors whose code names the agency that pushed them; a progress row of another agency
(issue 17) or dated beyond the next hour is not carried over;
deliveries of every kind (filing, supplement, withdrawal) keyed by the fact they deliver; the
format an agency's system reads.

Written to run both on a database at revision 0004 and on a fresh one (whose 0002 and 0003 made
the tables as they now stand).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from services.sync.adapters.tables import VIEW_TABLES, metadata

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=VIEW_TABLES)
    op.execute(
        """
        DO $$
        BEGIN
            IF to_regclass('dossier_progress') IS NOT NULL THEN
                INSERT INTO known_dossiers (dossier_code, agency_code, applicant_digest, status, last_update_at)
                SELECT DISTINCT ON (d.dossier_code) d.dossier_code, d.agency_code,
                       encode(sha256(convert_to(d.payload->'applicant'->>'identifier', 'UTF8')), 'hex'),
                       coalesce(p.status, 1),
                       coalesce(greatest((d.payload->>'received_at')::timestamptz, p.occurred_at), d.created_at)
                FROM deliveries d
                LEFT JOIN dossier_progress p
                       ON p.dossier_code = d.dossier_code AND p.agency_code = d.agency_code
                      AND p.occurred_at <= now() + interval '1 hour'
                ORDER BY d.dossier_code, d.id
                ON CONFLICT DO NOTHING;
                INSERT INTO known_dossiers (dossier_code, agency_code, status, last_update_at)
                SELECT p.dossier_code, p.agency_code, p.status, p.occurred_at
                FROM dossier_progress p
                WHERE p.dossier_code LIKE p.agency_code || '-%' AND p.occurred_at <= now() + interval '1 hour'
                ON CONFLICT DO NOTHING;
            END IF;
        END $$
        """
    )
    op.execute("DROP TABLE IF EXISTS dossier_progress")
    op.execute("ALTER TABLE agency_endpoints ADD COLUMN IF NOT EXISTS format TEXT NOT NULL DEFAULT 'portal'")
    op.execute("ALTER TABLE agency_endpoints DROP CONSTRAINT IF EXISTS agency_endpoints_format")
    op.execute(
        "ALTER TABLE agency_endpoints ADD CONSTRAINT agency_endpoints_format CHECK (format IN ('portal', 'compat'))"
    )
    op.execute("ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL DEFAULT 'filing'")
    op.execute("ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_kind")
    op.execute(
        "ALTER TABLE deliveries ADD CONSTRAINT deliveries_kind CHECK (kind IN ('filing', 'supplement', 'withdrawal'))"
    )
    op.execute("ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS delivery_key TEXT")
    op.execute("UPDATE deliveries SET delivery_key = dossier_id WHERE delivery_key IS NULL")
    op.execute("ALTER TABLE deliveries ALTER COLUMN delivery_key SET NOT NULL")
    op.execute("ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_dossier_id_key")
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS deliveries_delivery_key_key ON deliveries (delivery_key)")


def downgrade() -> None:
    op.execute("DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE kind <> 'filing')")
    op.execute("DELETE FROM deliveries WHERE kind <> 'filing'")
    op.execute("ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_delivery_key_key")
    op.execute("DROP INDEX IF EXISTS deliveries_delivery_key_key")
    op.execute("ALTER TABLE deliveries DROP COLUMN delivery_key")
    op.execute("ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_kind")
    op.execute("ALTER TABLE deliveries DROP COLUMN kind")
    op.execute("ALTER TABLE deliveries ADD CONSTRAINT deliveries_dossier_id_key UNIQUE (dossier_id)")
    op.execute("ALTER TABLE agency_endpoints DROP CONSTRAINT IF EXISTS agency_endpoints_format")
    op.execute("ALTER TABLE agency_endpoints DROP COLUMN format")
    op.execute(
        """
        CREATE TABLE dossier_progress (
            dossier_code TEXT PRIMARY KEY,
            agency_code TEXT NOT NULL,
            status SMALLINT NOT NULL,
            occurred_at TIMESTAMPTZ NOT NULL,
            record_id TEXT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    metadata.drop_all(op.get_bind(), tables=VIEW_TABLES)
