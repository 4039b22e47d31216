"""Dossier settings: limits that hold together, and the receipt's lookup link."""

from __future__ import annotations

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
