"""The sync database's schema changes keep what is stored: a batch's per-record answers move
into the batch row (revision 0004) and back out on a downgrade, unchanged."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from deploy.local.stack import create_database, database_url, load_spec
from services.kit.migrations import downgrade, upgrade

pytestmark = pytest.mark.integration

ANSWERS = [
    {"index": 0, "outcome": "accepted", "record_id": "r1", "dossier_code": "H22-251203-0001"},
    {"index": 1, "outcome": "rejected", "record_id": None, "dossier_code": None,
     "errors": [{"field": "records.1.status", "reason": "required"}]},
    {"index": 2, "outcome": "duplicate", "record_id": "r1", "dossier_code": "H22-251203-0001"},
]  # fmt: skip


async def test_batch_answers_survive_the_move_into_the_batch_row_and_back(infra) -> None:
    spec = load_spec("sync")
    await create_database(infra.server_url, "mig_sync_0004")
    url = database_url(infra.server_url, "mig_sync_0004")
    await asyncio.to_thread(upgrade, spec.migrations, url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO batches (id, client_id, format, records, summary, results) VALUES "
            "('6f1c0d6e-8a43-4a39-9d1b-1f0a2b3c4d5e', 'province', 'portal', 3, '{}', $1::jsonb)",
            json.dumps(ANSWERS),
        )
        await asyncio.to_thread(downgrade, spec.migrations, url, "0003")
        rows = await conn.fetch("SELECT position, outcome, record_id, errors FROM batch_results ORDER BY position")
        assert [(r["position"], r["outcome"], r["record_id"]) for r in rows] == [
            (0, "accepted", "r1"), (1, "rejected", None), (2, "duplicate", "r1")
        ]  # fmt: skip
        assert json.loads(rows[1]["errors"]) == ANSWERS[1]["errors"] and rows[0]["errors"] is None
        await asyncio.to_thread(upgrade, spec.migrations, url)
        kept = await conn.fetchval("SELECT results FROM batches")
        assert json.loads(kept) == ANSWERS
        assert await conn.fetchval("SELECT to_regclass('batch_results')") is None
    finally:
        await conn.close()


async def test_deliveries_keep_their_filing_across_revision_0005_and_back(infra) -> None:
    """0005: a delivery made before it is the dossier's filing (its key the dossier id), the old
    progress rows go (they could hold another agency's record), and the way back restores the
    one-filing-per-dossier shape."""
    spec = load_spec("sync")
    await create_database(infra.server_url, "mig_sync_0005")
    url = database_url(infra.server_url, "mig_sync_0005")
    await asyncio.to_thread(upgrade, spec.migrations, url)
    await asyncio.to_thread(downgrade, spec.migrations, url, "0004")
    conn = await asyncpg.connect(url)
    try:
        filing = {"applicant": {"identifier": "001099012345"}, "received_at": "2025-12-03T02:00:00+00:00"}
        await conn.execute(
            "INSERT INTO deliveries (dossier_id, dossier_code, agency_code, payload, state) VALUES "
            "('d-1', 'H22-251203-0001', 'H22', '{}', 'pending'), ('d-2', 'H22-251203-0002', 'H22', $1::jsonb, "
            "'delivered')",
            json.dumps(filing),
        )
        await conn.execute(
            "INSERT INTO dossier_progress (dossier_code, agency_code, status, occurred_at, record_id) VALUES "
            "('H22-251203-0001', 'H79', 10, '2099-12-31T00:00:00Z', 'h:x'), "  # another agency's, from 2099
            "('H22-251203-0002', 'H22', 4, '2025-12-04T02:00:00Z', 'h:y'), "  # its own agency's latest
            "('H79-251203-0009', 'H79', 2, '2025-12-04T02:00:00Z', 'h:z'), "  # a mirror of H79's
            "('H79-251203-0010', 'H22', 2, '2025-12-04T02:00:00Z', 'h:w')"  # H22 on H79's code: not kept
        )
        await asyncio.to_thread(upgrade, spec.migrations, url)
        rows = await conn.fetch("SELECT kind, delivery_key, dossier_id FROM deliveries ORDER BY id")
        assert [dict(r) for r in rows] == [
            {"kind": "filing", "delivery_key": d, "dossier_id": d} for d in ("d-1", "d-2")
        ]
        assert await conn.fetchval("SELECT to_regclass('dossier_progress')") is None
        known = await conn.fetch(
            "SELECT dossier_code, agency_code, status, last_update_at, applicant_digest IS NOT NULL AS has_applicant "
            "FROM known_dossiers ORDER BY dossier_code"
        )
        assert [(k["dossier_code"], k["agency_code"], k["status"], k["has_applicant"]) for k in known] == [
            ("H22-251203-0001", "H22", 1, False),
            ("H22-251203-0002", "H22", 4, True),
            ("H79-251203-0009", "H79", 2, False),
        ]
        assert known[1]["last_update_at"].isoformat() == "2025-12-04T02:00:00+00:00"
        await conn.execute(
            "INSERT INTO deliveries (kind, delivery_key, dossier_id, dossier_code, agency_code, payload, state) "
            "VALUES ('supplement', 'supplement:7', 'd-1', 'H22-251203-0001', 'H22', '{}', 'pending')"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO deliveries (kind, delivery_key, dossier_id, dossier_code, agency_code, payload, state) "
                "VALUES ('supplement', 'supplement:7', 'd-1', 'H22-251203-0001', 'H22', '{}', 'pending')"
            )
        await asyncio.to_thread(downgrade, spec.migrations, url, "0004")
        kept = await conn.fetch("SELECT dossier_id FROM deliveries ORDER BY id")
        assert [r["dossier_id"] for r in kept] == ["d-1", "d-2"]
        assert await conn.fetchval("SELECT to_regclass('known_dossiers')") is None
    finally:
        await conn.close()
