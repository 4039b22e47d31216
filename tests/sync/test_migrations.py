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
