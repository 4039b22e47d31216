"""Each online service declares the level of assurance its applicants sign in at: password unless
an editor says otherwise, edited like its other fields, per version, and carried by its events."""

from __future__ import annotations

import json

import httpx
import pytest

from contracts.registry import EVENT_TYPES
from services.catalogue.domain.definitions import service_id
from tests.catalogue.test_editor import NEW_SERVICE, RENEWAL_H22, events, new_service
from tests.support.catalogue import Editing

pytestmark = pytest.mark.integration

PUBLISHED = "catalogue.online_service.published.v1"


async def test_a_service_requires_password_unless_its_editor_raises_it_per_version(editing: Editing) -> None:
    async with httpx.AsyncClient(base_url=editing.url, timeout=30) as api:
        assert (await api.get(f"/services/{RENEWAL_H22}")).json()["required_acr"] == "urn:portal:acr:password"

        draft = await api.patch(
            f"/services/{RENEWAL_H22}/draft", json={"required_acr": "urn:portal:acr:mfa"}, headers=editing.headers()
        )
        assert draft.status_code == 200, draft.text
        assert draft.json()["required_acr"] == "urn:portal:acr:mfa"
        assert (await api.post(f"/services/{RENEWAL_H22}/publish", headers=editing.headers())).status_code == 200
        assert (await api.get(f"/services/{RENEWAL_H22}")).json()["required_acr"] == "urn:portal:acr:mfa"
        assert (await api.get(f"/services/{RENEWAL_H22}/versions/1")).json()["required_acr"].endswith(":password")

        created = await api.post(
            "/services", json=new_service(required_acr="urn:portal:acr:in-person"), headers=editing.headers()
        )
        assert created.status_code == 201, created.text
        await api.post(f"/services/{NEW_SERVICE}/publish", headers=editing.headers())
        assert (await api.get(f"/services/{NEW_SERVICE}")).json()["required_acr"] == "urn:portal:acr:in-person"

        for wrong in ("urn:portal:acr:gold", "mfa", "", 2):
            refused = await api.patch(
                f"/services/{RENEWAL_H22}/draft", json={"required_acr": wrong}, headers=editing.headers()
            )
            assert (refused.status_code, refused.json()["errors"][0]["field"]) == (422, "body.required_acr"), wrong

    announced = {
        (e["_key"], e["version"]): EVENT_TYPES[PUBLISHED].model_validate({k: v for k, v in e.items() if k != "_key"})
        for e in await events(editing.db_url, PUBLISHED)
    }
    assert announced[(RENEWAL_H22, 2)].required_acr == "urn:portal:acr:mfa"  # type: ignore[attr-defined]
    assert announced[(NEW_SERVICE, 1)].required_acr == "urn:portal:acr:in-person"  # type: ignore[attr-defined]


def test_an_event_from_before_levels_were_declared_reads_as_the_lowest() -> None:
    model = EVENT_TYPES[PUBLISHED]
    example = model.model_json_schema()["properties"]["required_acr"]
    assert example["default"] == "urn:portal:acr:password"
    assert "required_acr" not in model.model_json_schema().get("required", [])


async def test_an_import_sets_the_level_when_it_names_it_and_never_lowers_it_by_leaving_it_out(
    editing: Editing,
) -> None:
    from tests.catalogue.test_import import DATASET, service

    sid = service_id("1.900002", "000.01.01.H22")
    async with httpx.AsyncClient(base_url=editing.url, timeout=30) as api:
        await api.post("/imports", json=DATASET, headers=editing.headers())
        raised = {"services": [service("1.900002", "000.01.01.H22", required_acr="urn:portal:acr:mfa")]}
        report = (await api.post("/imports", json=raised, headers=editing.headers())).json()
        assert report["summary"]["updated"] == 1, report
        assert (await api.get(f"/services/{sid}")).json()["required_acr"] == "urn:portal:acr:mfa"

        silent = {"services": [service("1.900002", "000.01.01.H22")]}
        report = (await api.post("/imports", json=silent, headers=editing.headers())).json()
        assert report["summary"]["unchanged"] == 1, report
        assert (await api.get(f"/services/{sid}")).json()["required_acr"] == "urn:portal:acr:mfa"

        row = service("1.900002", "000.01.01.H22", required_acr="urn:portal:acr:password")
        header = ",".join(row)
        cells = ",".join('"' + json.dumps(v).replace('"', '""') + '"' if not isinstance(v, str) else v
                         for v in row.values())  # fmt: skip
        lowered = await api.post(
            "/imports", params={"kind": "services"}, content=f"{header}\n{cells}\n".encode(),
            headers={**editing.headers(), "Content-Type": "text/csv"},
        )  # fmt: skip
        assert lowered.json()["summary"]["updated"] == 1, lowered.text
        assert (await api.get(f"/services/{sid}")).json()["required_acr"] == "urn:portal:acr:password"
