"""The push's answer is written straight from the entity (speed); it must be exactly what the
API document says (BatchPublic), and what a batch read back says (the same results)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.sync.api.schemas import BatchDetailPublic, BatchPublic, batch_json
from services.sync.domain.batches import Batch, RecordResult
from services.sync.domain.records import RecordError


def a_batch() -> Batch:
    batch = Batch(id="6f1c2b3a-0000-4000-8000-000000000001", client_id="c", format="DongBoHoSoMC")
    batch.answer(RecordResult(0, "accepted", "h:1", "000.00.01.H22-251203-0001"))
    batch.answer(RecordResult.rejected(1, [RecordError("data.1.MaHoSo", "required"),
                                           RecordError("data.1.TrangThai", "required")]))  # fmt: skip
    batch.answer(RecordResult(2, "duplicate", "h:1", "000.00.01.H22-251203-0001"))
    batch.answer(RecordResult(3, "stale", "h:0", "000.00.01.H22-251203-0001"))
    return batch


def test_the_answer_written_from_the_entity_is_the_documented_model() -> None:
    batch = a_batch()
    written = json.loads(batch_json(batch))
    assert written == BatchPublic.from_batch(batch).model_dump(mode="json")
    assert BatchPublic.model_validate(written).model_dump(mode="json") == written
    assert written["summary"] == {"accepted": 1, "duplicate": 1, "stale": 1, "rejected": 1}
    assert [sorted(r) for r in written["results"]] == [
        ["dossier_code", "index", "outcome", "record_id"],
        ["dossier_code", "errors", "index", "outcome", "record_id"],  # errors on a rejected record only
        ["dossier_code", "index", "outcome", "record_id"],
        ["dossier_code", "index", "outcome", "record_id"],
    ]
    assert written["results"][1] == {"index": 1, "outcome": "rejected", "record_id": None, "dossier_code": None,
                                     "errors": [{"field": "data.1.MaHoSo", "reason": "required"},
                                                {"field": "data.1.TrangThai", "reason": "required"}]}  # fmt: skip


def test_a_batch_read_back_answers_the_same_results() -> None:
    batch = a_batch()
    batch.received_at = datetime(2025, 12, 3, 2, 0, tzinfo=UTC)
    read = BatchDetailPublic.from_batch(batch).model_dump(mode="json")
    assert read["results"] == json.loads(batch_json(batch))["results"]
    assert (read["format"], read["received_at"]) == ("DongBoHoSoMC", "2025-12-03T02:00:00Z")
