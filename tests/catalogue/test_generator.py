"""The national-scale generator: deterministic, additive, refused in production, searchable."""

from __future__ import annotations

import random
import unicodedata
from types import SimpleNamespace

import httpx
import pytest

from services.catalogue.service import generator
from services.kit.db import Database
from services.kit.errors import Forbidden
from services.kit.settings import Environment

SMALL = generator.Plan(procedures=50, services=300, seed=3, communes_per_province=5)


def plain(name: str) -> str:
    """A name as typed without diacritics (đ as d)."""
    folded = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in folded if not unicodedata.combining(c)).lower()


def rows(plan: generator.Plan) -> tuple[list, list]:
    rng = random.Random(plan.seed)
    _, communes = generator.province_agencies(plan, rng)
    procs = generator.procedure_rows(plan, rng)
    return procs, generator.offers(plan, rng, procs, communes)


def test_a_seed_makes_the_same_catalogue_and_another_seed_another() -> None:
    assert rows(SMALL) == rows(SMALL)
    other = generator.Plan(procedures=50, services=300, seed=4, communes_per_province=5)
    assert rows(other)[0] != rows(SMALL)[0]


def test_names_are_distinct_and_services_distinct_pairs_of_the_asked_number() -> None:
    procs, pairs = rows(SMALL)
    assert len({name for _, name, _, _ in procs}) == len(procs) == 50
    assert len(set(pairs)) == len(pairs) == 300
    assert {code for code, _ in pairs} <= {code for code, *_ in procs}


def test_the_34_provincial_units_each_have_departments_and_communes() -> None:
    agencies, communes = generator.province_agencies(SMALL, random.Random(1))
    assert len(generator.PROVINCES) == 34
    provinces = {row[4] for row in agencies if row[2] == "province"}
    assert provinces == set(generator.PROVINCES)
    assert all(len(codes) == 5 for codes in communes.values())
    assert len({row[0] for row in agencies}) == len(agencies)


async def test_it_is_refused_in_production(catalogue_db: Database) -> None:
    async with catalogue_db.unit_of_work() as uow:
        with pytest.raises(Forbidden):
            await generator.generate(uow, SimpleNamespace(environment=Environment.PRODUCTION), SMALL)  # type: ignore[arg-type]


@pytest.mark.integration
async def test_generated_services_are_found_without_diacritics(catalogue_db: Database, api: httpx.AsyncClient) -> None:
    async with catalogue_db.transaction() as uow:
        made = await generator.generate(uow, SimpleNamespace(environment=Environment.TEST), SMALL)  # type: ignore[arg-type]
    assert (made.procedures, made.services) == (50, 300)
    async with catalogue_db.transaction() as uow:
        again = await generator.generate(uow, SimpleNamespace(environment=Environment.TEST), SMALL)  # type: ignore[arg-type]
    assert again.service_ids == made.service_ids  # the same ids: nothing added twice

    procs, pairs = rows(SMALL)
    code, name = next((code, name) for code, name, *_ in procs if any(c == code for c, _ in pairs))
    answer = await api.get("/services", params={"q": plain(name), "limit": 100})
    found = [item for item in answer.json()["items"] if item["procedure_code"] == code]
    assert found and found[0]["procedure_name"] == name
    everything = (await api.get("/services", params={"limit": 100})).json()
    assert everything["next"] is not None  # fixtures + 300 generated
    # A generated procedure and service read as the editors' ones do (their fees and documents
    # hold what the contract's models require).
    detail = await api.get(f"/procedures/{code}")
    assert detail.status_code == 200, detail.text
    assert [d["code"] for d in detail.json()["documents"]] == ["TP01"]
    service = await api.get(f"/services/{found[0]['id']}")
    assert service.status_code == 200 and service.json()["procedure"]["name"] == name
