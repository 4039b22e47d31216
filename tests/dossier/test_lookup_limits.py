"""The public lookup cannot be guessed: new receipts carry a random lookup secret (the last 4
digits of the identifier still open receipts issued before), and wrong lookups are limited per
dossier code whatever the address and per address, counted in the database so that two API
instances share the count; refused lookups are counted in a metric."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from services.dossier.domain.receipt import (
    LOOKUP_SECRET_ALPHABET,
    new_lookup_secret,
    read_lookup_secret,
    shown_lookup_secret,
)
from services.dossier.service.lookup import address_key, purge_counts
from services.dossier.settings import DossierSettings
from tests.support.dossier import Intake, dossier_database, running_intake

pytestmark = pytest.mark.integration

PER_CODE = 3
PER_ADDRESS = 4
SHOWN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")


@pytest.fixture
async def two_instances(dossier_db_url, infra, dossier_keys, tmp_path) -> AsyncIterator[tuple[Intake, Intake]]:  # type: ignore[no-untyped-def]
    """Two separate dossier API instances (their own processes' state) over one database."""
    keys, jwks_url = dossier_keys
    limits = {"lookup_max_failures_per_code": PER_CODE, "lookup_max_failures_per_address": PER_ADDRESS,
              "storage_dir": tmp_path / "files"}  # fmt: skip
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            running_intake(dossier_db_url, infra.bootstrap, keys, jwks_url, **limits)
        )
        second = await stack.enter_async_context(
            running_intake(dossier_db_url, infra.bootstrap, keys, jwks_url, **limits)
        )
        yield first, second


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("dossier_lookup_failures_total", {"reason": reason}) or 0.0


def lookup(api: httpx.AsyncClient, code: str, verifier: str, address: str) -> object:
    return api.get("/lookup", params={"code": code, "verifier": verifier}, headers={"X-Forwarded-For": address})


async def filed(intake: Intake) -> dict:  # type: ignore[type-arg]
    async with intake.client() as api:
        answer = await intake.submit(api, intake.citizen())
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]


async def test_wrong_verifiers_are_limited_per_code_whatever_the_address_across_instances(
    two_instances: tuple[Intake, Intake],
) -> None:
    first, second = two_instances
    receipt = await filed(first)
    code, secret = receipt["code"], receipt["lookup_secret"]
    wrong_before, limited_before = refused("wrong-verifier"), refused("limited")
    async with first.client() as a, second.client() as b:
        # Each wrong try from another address, through one instance then the other.
        for n in range(PER_CODE):
            answer = await lookup((a, b)[n % 2], code, f"ABCDE-FG{n}HJ", f"203.0.113.{n + 1}")
            assert answer.status_code == 404, answer.text  # type: ignore[attr-defined]
        over = await lookup(b, code, "ZZZZZ-ZZZZZ", "198.51.100.7")
        assert over.status_code == 429, over.text  # type: ignore[attr-defined]
        assert over.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
        assert 0 < int(over.headers["retry-after"]) <= 3600  # type: ignore[attr-defined]
        # Now even the right secret waits, on either instance: guessing has nothing left to learn.
        for api in (a, b):
            assert (await lookup(api, code, secret, "192.0.2.1")).status_code == 429  # type: ignore[attr-defined]
        # Another dossier's code is not affected.
        other = await filed(second)
        found = await lookup(a, other["code"], other["lookup_secret"], "192.0.2.1")
        assert found.status_code == 200, found.text  # type: ignore[attr-defined]
    assert refused("wrong-verifier") - wrong_before == PER_CODE
    assert refused("limited") - limited_before == 3

    # When the window is over, the code may be looked up again (and the worker drops old counts).
    conn = await asyncpg.connect(database_url_of(first))
    try:
        await conn.execute("UPDATE dossier_lookup_failures SET window_started_at = now() - interval '2 hours'")
        settings = DossierSettings(environment="test", database_url=first.db_url)
        db = dossier_database(first.db_url)
        try:
            await purge_counts(db, settings)
        finally:
            await db.dispose()
        assert await conn.fetchval("SELECT count(*) FROM dossier_lookup_failures") == 0
    finally:
        await conn.close()
    async with second.client() as b:
        assert (await lookup(b, code, secret, "192.0.2.1")).status_code == 200  # type: ignore[attr-defined]


def database_url_of(intake: Intake) -> str:
    return intake.db_url.replace("postgresql+asyncpg://", "postgresql://")


async def test_wrong_lookups_are_limited_per_address(two_instances: tuple[Intake, Intake]) -> None:
    first, second = two_instances
    receipt = await filed(first)
    async with first.client() as a, second.client() as b:
        # One address guessing across codes (each code only once).
        prefix = receipt["code"][: receipt["code"].rindex("-")]
        for n in range(PER_ADDRESS):
            answer = await lookup((a, b)[n % 2], f"{prefix}-{9000 + n}", "1234", "203.0.113.50")
            assert answer.status_code == 404
        over = await lookup(a, f"{prefix}-9100", "1234", "203.0.113.50")
        assert over.status_code == 429 and int(over.headers["retry-after"]) > 0  # type: ignore[attr-defined]
        assert (await lookup(b, receipt["code"], receipt["lookup_secret"], "203.0.113.50")).status_code == 429  # type: ignore[attr-defined]
        # Another address is not.
        answer = await lookup(b, receipt["code"], receipt["lookup_secret"], "203.0.113.51")
        assert answer.status_code == 200  # type: ignore[attr-defined]
        # IPv6 addresses count by their /64.
        for n in range(PER_ADDRESS):
            assert (await lookup(a, f"{prefix}-{9200 + n}", "1234", f"2001:db8:1:2::{n + 1}")).status_code == 404  # type: ignore[attr-defined]
        assert (await lookup(a, f"{prefix}-9300", "1234", "2001:db8:1:2:ffff::9")).status_code == 429  # type: ignore[attr-defined]


async def test_right_lookups_are_not_counted(two_instances: tuple[Intake, Intake]) -> None:
    first, _ = two_instances
    receipt = await filed(first)
    async with first.client() as a:
        for _ in range(PER_CODE + PER_ADDRESS + 2):
            found = await lookup(a, receipt["code"], receipt["lookup_secret"], "203.0.113.9")
            assert found.status_code == 200, found.text  # type: ignore[attr-defined]


async def test_the_receipt_carries_its_secret_and_old_receipts_keep_the_last_digits(
    two_instances: tuple[Intake, Intake],
) -> None:
    first, _ = two_instances
    receipt, another = await filed(first), await filed(first)
    secret = receipt["lookup_secret"]
    assert SHOWN.match(secret) and secret != another["lookup_secret"]
    # The QR's lookup link carries it: scanning the receipt opens the dossier's status.
    link = json.loads(receipt["qr_text"])["tra_cuu"]
    assert link.endswith(f"?code={receipt['code']}&verifier={secret}")
    async with first.client() as api:
        again = await api.get(f"/dossiers/{receipt['dossier_id']}/receipt", headers=first.citizen())
        assert again.json()["lookup_secret"] == secret and again.json()["qr_text"] == receipt["qr_text"]
        # Typed in lower case and without its dash, it opens the dossier all the same.
        typed = secret.replace("-", "").lower()
        assert (await lookup(api, receipt["code"], typed, "192.0.2.9")).status_code == 200  # type: ignore[attr-defined]
        # The identifier's last digits do not open a dossier whose receipt has a secret ...
        assert (await lookup(api, receipt["code"], "2345", "192.0.2.9")).status_code == 404  # type: ignore[attr-defined]
        # ... and do open one whose receipt was issued before receipts carried one.
        conn = await asyncpg.connect(database_url_of(first))
        try:
            await conn.execute("UPDATE dossiers SET lookup_secret = NULL WHERE code = $1", another["code"])
        finally:
            await conn.close()
        old = await lookup(api, another["code"], "2345", "192.0.2.9")
        assert old.status_code == 200 and old.json()["code"] == another["code"]  # type: ignore[attr-defined]
        assert (await lookup(api, another["code"], another["lookup_secret"], "192.0.2.9")).status_code == 404  # type: ignore[attr-defined]
        # What the verifier may look like is in the document, and refused before anything is read.
        assert (await lookup(api, receipt["code"], "23a5", "192.0.2.9")).status_code == 422  # type: ignore[attr-defined]


def test_secrets_are_random_in_their_alphabet_and_read_back_forgivingly() -> None:
    made = {new_lookup_secret() for _ in range(1000)}
    assert len(made) == 1000
    assert all(len(s) == 10 and set(s) <= set(LOOKUP_SECRET_ALPHABET) for s in made)
    secret = "0123456789"
    assert shown_lookup_secret(secret) == "01234-56789"
    assert read_lookup_secret("o1234-56789") == secret
    assert read_lookup_secret("OI234 56789") == secret
    assert read_lookup_secret("L1234-56789") == "11234" + "56789"
    assert read_lookup_secret("U1234-56789") is None  # not in the alphabet
    assert read_lookup_secret("1234") is None


def test_addresses_are_counted_by_the_address_or_its_ipv6_64() -> None:
    assert address_key("203.0.113.5") == "addr:203.0.113.5"
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "addr:2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
