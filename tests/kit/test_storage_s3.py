"""The kit's S3 storage adapter against a real S3-compatible store (SeaweedFS, which verifies AWS
Signature V4), alone and behind the dossier API (its settings choosing it)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from services.kit.storage import S3Storage, StorageError
from tests.support.dossier import PDF, PNG, running_intake

pytestmark = pytest.mark.integration


def storage(store, secret: str | None = None) -> S3Storage:  # type: ignore[no-untyped-def]
    return S3Storage(store.endpoint, store.bucket, store.ACCESS_KEY, secret or store.secret_key)


async def test_an_object_is_stored_whole_and_read_back(s3_store) -> None:  # type: ignore[no-untyped-def]
    s3 = storage(s3_store)
    content = os.urandom(3 * 1024 * 1024 + 17)  # several chunks, not a multiple of one
    key = os.urandom(16).hex()
    try:
        assert not await s3.exists(key)
        await s3.put(key, io.BytesIO(content))
        assert await s3.exists(key)
        back = b"".join([chunk async for chunk in s3.read(key)])
        assert hashlib.sha256(back).digest() == hashlib.sha256(content).digest()
    finally:
        await s3.close()


async def test_a_request_signed_with_another_secret_is_refused(s3_store) -> None:  # type: ignore[no-untyped-def]
    forged = storage(s3_store, secret="not-the-secret")
    try:
        with pytest.raises(StorageError, match="refused"):
            await forged.put(os.urandom(16).hex(), io.BytesIO(b"%PDF-1.7 x"))
    finally:
        await forged.close()


async def test_keys_are_ours_never_a_path(s3_store) -> None:  # type: ignore[no-untyped-def]
    s3 = storage(s3_store)
    try:
        for bad in ("../x", "a" * 31, "A" * 32, "0" * 31 + "/"):
            with pytest.raises(ValueError):
                await s3.exists(bad)
    finally:
        await s3.close()


async def test_the_dossier_api_keeps_files_in_the_bucket(  # type: ignore[no-untyped-def]
    dossier_db_url, infra, dossier_keys, s3_store, tmp_path
) -> None:
    keys, jwks_url = dossier_keys
    settings = {"storage": "s3", "s3_endpoint": s3_store.endpoint, "s3_bucket": s3_store.bucket,
                "s3_access_key": s3_store.ACCESS_KEY, "s3_secret_key": s3_store.secret_key,
                "storage_dir": tmp_path / "unused"}  # fmt: skip
    async with running_intake(dossier_db_url, infra.bootstrap, keys, jwks_url, **settings) as intake:
        citizen = intake.citizen()
        async with intake.client() as api:
            answer = await intake.submit(api, citizen)
            assert answer.status_code == 201, answer.text
            receipt = answer.json()
            first = receipt["documents"][0]
            got = await api.get(f"/dossiers/{receipt['dossier_id']}/attachments/{first['id']}", headers=citizen)
            assert got.status_code == 200 and got.content == PDF
            by_official = await api.get(f"/dossiers/{receipt['dossier_id']}/attachments/{first['id']}",
                                        headers=intake.official("000.00.01.H22"))  # fmt: skip
            assert by_official.content == PDF
            png = await intake.upload(api, citizen, PNG, "a.png", "image/png")
            assert png.status_code == 201
    assert not (tmp_path / "unused").exists()  # nothing went to the local folder


async def test_an_unreachable_store_is_a_503_with_retry_after_and_nothing_written(  # type: ignore[no-untyped-def]
    dossier_db_url, infra, dossier_keys
) -> None:
    from sqlalchemy import select

    from deploy.local.components import free_port
    from services.dossier.adapters.tables import attachments
    from tests.dossier.test_submission import rows

    keys, jwks_url = dossier_keys
    nowhere = {"storage": "s3", "s3_endpoint": f"http://127.0.0.1:{free_port()}", "s3_access_key": "k",
               "s3_secret_key": "s"}  # fmt: skip
    async with running_intake(dossier_db_url, infra.bootstrap, keys, jwks_url, **nowhere) as intake:
        api = intake.client()
        try:
            answer = await intake.upload(api, intake.citizen())
        finally:
            await api.aclose()
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert answer.json()["type"] == "/problems/service-unavailable"
    assert await rows(dossier_db_url, select(attachments.c.id)) == []
