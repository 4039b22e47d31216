"""The kit's file storage: a folder keeps each object whole under its key, and a service's
StorageSettings choose the folder or an S3 bucket (the S3 adapter: test_storage_s3.py)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from services.kit.settings import StorageSettings
from services.kit.storage import LocalFileStorage, S3Storage, storage_of


async def test_a_folder_keeps_an_object_whole_under_its_key_and_never_a_path(tmp_path: Path) -> None:
    local = LocalFileStorage(tmp_path)
    content = os.urandom(600 * 1024 + 5)
    key = os.urandom(16).hex()
    assert not await local.exists(key)
    source = io.BytesIO(content)
    source.seek(7)  # put() reads from the start
    await local.put(key, source)
    assert await local.exists(key)
    assert (tmp_path / key[:2] / key).read_bytes() == content
    assert b"".join([chunk async for chunk in local.read(key)]) == content
    assert not list(tmp_path.rglob("*.part"))
    for bad in ("../x", "a" * 31, "A" * 32, "0" * 31 + "/"):
        with pytest.raises(ValueError):
            await local.exists(bad)


class Settings(StorageSettings):
    model_config = SettingsConfigDict(env_prefix="TEST_")


async def test_the_settings_choose_a_folder_or_a_bucket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    local = storage_of(Settings(storage_dir=tmp_path))
    assert isinstance(local, LocalFileStorage) and local.root == tmp_path
    assert Settings().storage_dir == Path(".data/files") and Settings().s3_bucket == "portal-files"
    monkeypatch.setenv("TEST_STORAGE", "s3")
    monkeypatch.setenv("TEST_S3_ENDPOINT", "https://s3.example/")
    monkeypatch.setenv("TEST_S3_BUCKET", "feedback-files")
    monkeypatch.setenv("TEST_S3_ACCESS_KEY", "k")
    monkeypatch.setenv("TEST_S3_SECRET_KEY", "s")
    s3 = storage_of(Settings())
    try:
        assert isinstance(s3, S3Storage)
        assert (s3.base, s3.access_key, s3.secret_key, s3.region) == ("https://s3.example/feedback-files", "k", "s",
                                                                        "us-east-1")  # fmt: skip
    finally:
        await s3.close()


def test_s3_needs_its_endpoint_and_keys_and_a_bucket_name_it_takes() -> None:
    with pytest.raises(ValidationError, match="storage 's3' needs s3_endpoint, s3_access_key and s3_secret_key"):
        Settings(storage="s3", s3_endpoint="https://s3.example", s3_access_key="k")
    with pytest.raises(ValidationError, match="s3_bucket"):
        Settings(s3_bucket="Not_A_Bucket")
