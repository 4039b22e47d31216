"""Dossier settings: limits that hold together, the receipt's lookup link, the working days."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.dossier.settings import DossierSettings


def test_the_lookup_link_is_the_gateways_unless_set() -> None:
    assert DossierSettings(oidc_issuer="https://dichvucong.example/").public_lookup_url == (
        "https://dichvucong.example/api/v1/dossier/lookup"
    )
    chosen = DossierSettings(lookup_url="https://tra-cuu.example/ho-so")
    assert chosen.public_lookup_url == "https://tra-cuu.example/ho-so"


def test_the_body_limit_must_hold_one_whole_attachment() -> None:
    with pytest.raises(ValidationError, match="max_body_bytes"):
        DossierSettings(max_attachment_bytes=30 * 1024 * 1024)
    assert DossierSettings(max_attachment_bytes=4096, max_body_bytes=8192).max_attachment_bytes == 4096


def test_s3_storage_needs_its_endpoint_and_credentials_and_local_needs_none() -> None:
    with pytest.raises(ValidationError, match="storage 's3' needs"):
        DossierSettings(storage="s3", s3_endpoint="https://s3.example", s3_access_key="k")
    assert DossierSettings(storage="s3", s3_endpoint="https://s3.example", s3_access_key="k",
                           s3_secret_key="s").storage == "s3"  # fmt: skip
    assert DossierSettings().s3_secret_key is None


async def test_the_kits_storage_settings_keep_dossiers_names_folder_and_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.dossier.api.routes import Runtime
    from services.kit.storage import LocalFileStorage, S3Storage

    default = DossierSettings()
    assert (default.storage_dir, default.s3_bucket) == (Path(".data/dossier-files"), "dossier-files")
    assert isinstance(Runtime(default).storage, LocalFileStorage)
    for name, value in [("STORAGE", "s3"), ("S3_ENDPOINT", "https://s3.example"), ("S3_ACCESS_KEY", "k"),
                        ("S3_SECRET_KEY", "s")]:  # fmt: skip
        monkeypatch.setenv(f"DOSSIER_{name}", value)
    with pytest.raises(ValidationError, match="s3_bucket"):
        DossierSettings(s3_bucket="Not_A_Bucket")
    store = Runtime(DossierSettings()).storage
    assert isinstance(store, S3Storage) and store.base == "https://s3.example/dossier-files"
    await store.close()


def test_the_working_days_are_read_as_dossier_settings_and_counted_by_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.dossier.api.routes import Runtime

    monkeypatch.setenv("DOSSIER_HOLIDAYS", '["2029-01-05"]')
    monkeypatch.setenv("DOSSIER_WORKING_DAYS", '["2029-01-13"]')
    calendar = Runtime(DossierSettings(environment="test")).calendar
    assert calendar.add_working_days(date(2028, 1, 21), 1) == date(2028, 1, 31)  # over Tết 2028
    assert not calendar.is_working_day(date(2029, 1, 5))
    assert calendar.is_working_day(date(2029, 1, 13))
    monkeypatch.setenv("DOSSIER_HOLIDAYS_REPLACE", "true")
    replaced = Runtime(DossierSettings(environment="test")).calendar
    assert replaced.is_working_day(date(2028, 1, 26))
    assert not replaced.is_working_day(date(2029, 1, 5))
