"""OWASP API1:2023 Broken Object Level Authorization, through the gateway.

Every route of the merged OpenAPI document whose path names an object is tried with an id that
belongs to someone else: citizen A's dossier, file, draft and payment order; a province's status
batch; agency H22's online service. The other caller (citizen B, an official of another agency,
another province) holds a valid token for the service, so the refusal comes from the service's own
check of *whose* object it is: 404 (as for an id that does not exist) or 403, never the object,
and nothing changes. The routes are read from the live document, so a route added later is tried
too, and fails here until this module knows an object of its kind (``OBJECTS``) and, for a write,
a valid body (``BODIES``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.catalogue.service.fixtures import service_id as catalogue_service_id
from services.identity.service.accounts import SEED_CITIZEN_ID
from tests.security.conftest import Owned
from tests.security.routes import operations, path_parameters, rule
from tests.support.dossier import PDF
from tests.support.stack import PRINCIPALS, Stack
from tests.support.sync import H22

pytestmark = pytest.mark.integration

H22_SERVICE = catalogue_service_id("1.002804", H22)


def objects(owned: Owned) -> dict[str, str]:
    """An existing object of someone else for each kind of path parameter."""
    return {
        "dossier_id": owned.dossier["dossier_id"],
        "attachment_id": owned.attachment_id,
        "draft_id": owned.draft_id,
        "order_id": owned.order["id"],
        "batch_id": owned.batch_id,
        "service_id": H22_SERVICE,
        "version": "1",
        "code": "1.002804",
        "agency_code": H22,
        "account_id": SEED_CITIZEN_ID,
        "client_id": "demo-web",
        "delivery_id": "1",
        "feedback_id": owned.feedback_id,
        "item_id": owned.inbox_item_id,
        "kind": "result-returned",
        "language": "vi",
        "tax_code": "0101234565",  # the seeded enterprise, represented by the seeded citizen
        "mandate_id": "00000000-0000-4000-8000-000000000001",
    }


# Who tries someone else's object, by the kind of caller a route is for (see routes.py); each only
# where its token is meant for the route's service (elsewhere the gateway refuses it first).
INTRUDERS = {
    "citizen": ["citizen_b_everywhere"],
    "reader": ["citizen_b_everywhere", "official_other"],
    "account": ["citizen_b_everywhere"],
    "editor": ["official_other"],
    "province": ["province_other"],
    "admin": ["citizen_b_everywhere", "official_other", "province_other"],
    "sender": ["citizen_b_everywhere"],
    "handler": ["official_other", "citizen_b_everywhere"],
    "person": ["citizen_b_everywhere"],
    "notifier": ["citizen_b_everywhere", "admin"],
}


def bodies(stack: Stack, intruder_file: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Valid bodies for the writes, so that only the question of whose object it is remains."""
    d, y, s, c, f = "/api/v1/dossier", "/api/v1/payment", "/api/v1/sync", "/api/v1/catalogue", "/api/v1/feedback"
    n = "/api/v1/notification"
    return {
        ("PUT", f"{d}/drafts/{{draft_id}}"): {"service_id": stack.service_id, "content": {"ho_ten": "Kẻ lạ"}},
        ("POST", f"{d}/dossiers/{{dossier_id}}/withdrawal"): {"reason": "không phải của tôi"},
        ("POST", f"{d}/dossiers/{{dossier_id}}/supplements"): {
            "attachments": [{"id": intruder_file, "component_code": "TP01"}]},
        ("POST", f"{d}/dossiers/{{dossier_id}}/rating"): {"score": 1},
        ("POST", f"{y}/orders/{{order_id}}/refund"): {"reason": "give me the money"},
        ("POST", "/api/v1/identity/enterprises/{tax_code}/mandates"): {
            "representative_personal_id": "001099012345", "roles": ["manage"]},
        ("PUT", f"{s}/agencies/{{agency_code}}/status-mappings"): {"mapping": {"X": 10}},
        ("PUT", f"{s}/agencies/{{agency_code}}/endpoint"): {"mode": "pull"},
        ("PATCH", f"{c}/services/{{service_id}}/draft"): {"processing_days": 1},
        ("POST", f"{f}/feedback/{{feedback_id}}/information"): {"note": "không phải của tôi"},
        ("POST", f"{f}/feedback/{{feedback_id}}/rating"): {"score": 1},
        ("POST", f"{f}/queue/{{feedback_id}}/classification"): {"category": "within_remit"},
        ("POST", f"{f}/queue/{{feedback_id}}/transfer"): {"agency_code": H22, "reason": "chuyển đi"},
        ("POST", f"{f}/queue/{{feedback_id}}/information-request"): {"note": "hỏi thêm"},
        ("POST", f"{f}/queue/{{feedback_id}}/answer"): {"answer": "Câu trả lời của người lạ."},
        ("PUT", f"{n}/templates/{{kind}}/{{language}}"): {
            "texts": {"subject": "x", "email_text": "x", "sms": "x", "push_title": "x", "push_body": "x",
                      "inbox_title": "x", "inbox_body": "x"}, "variables": {"type": "object", "properties": {}}},
        ("POST", f"{n}/templates/{{kind}}/{{language}}/preview"): {"values": {}},
        ("PUT", f"{c}/procedures/{{code}}"): {"name": "Thủ tục bị sửa", "sector_code": "DB", "level": "province",
                                              "processing_days": 1},
    }  # fmt: skip


def id_bearing(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in operations(document) if path_parameters(p)]


@pytest.fixture(scope="module")
def document(stack: Stack) -> dict[str, Any]:
    return httpx.get(f"{stack.url}/openapi.json", timeout=30).json()  # type: ignore[no-any-return]


def test_someone_elses_object_is_refused_on_every_id_bearing_route(
    stack: Stack, owned: Owned, document: dict[str, Any]
) -> None:
    routes = id_bearing(document)
    assert len(routes) >= 25, routes  # the document was read whole
    ids = objects(owned)
    with stack.client() as api:
        up = api.post("/api/v1/dossier/attachments", headers=stack.headers("citizen_b"), files={"file": ("b.pdf", PDF)})
        writes = bodies(stack, up.json()["id"])
        tried, public = [], []
        for method, path in routes:
            who = rule(method, path).who
            if who == "public":
                public.append(path)
                continue
            unknown = [name for name in path_parameters(path) if name not in ids]
            assert not unknown, f"{method} {path}: no object known for {unknown}; add one to objects()"
            url = path.format(**ids)
            body = writes.get((method, path))
            if method in ("PUT", "PATCH") or (method == "POST" and (method, path) in writes):
                assert body is not None, f"{method} {path}: add a valid body to bodies()"
            service = path.split("/")[3] if path.startswith("/api/v1/") else "identity"
            for intruder in (i for i in INTRUDERS[who] if service in PRINCIPALS[i].aud):
                answer = api.request(method, url, headers=stack.headers(intruder), json=body)
                assert answer.status_code in (403, 404), (
                    f"{intruder} {method} {url} -> {answer.status_code}: {answer.text[:300]}"
                )
                assert answer.headers["content-type"] == "application/problem+json"
                assert owned.dossier["code"] not in answer.text and "Nguyễn" not in answer.text
                tried.append((intruder, method, path))
    # Every object kind was tried by someone who does not own it; only catalogue reads are public.
    assert {p for _, _, p in tried} >= {
        "/api/v1/dossier/dossiers/{dossier_id}",
        "/api/v1/payment/orders/{order_id}",
        "/api/v1/dossier/drafts/{draft_id}",
        "/api/v1/sync/batches/{batch_id}",
        "/api/v1/dossier/dossiers/{dossier_id}/attachments/{attachment_id}",
        "/api/v1/feedback/feedback/{feedback_id}",
        "/api/v1/feedback/queue/{feedback_id}",
        "/api/v1/notification/inbox/{item_id}/read",
    }
    # Public: catalogue reads, published feedback answers (the owned feedback is unpublished: that
    # route answers 404 to everyone, checked in the owner's test below), and the SMS providers'
    # receipts, believed only when signed (tests/notification).
    assert all(p.startswith(("/api/v1/catalogue/", "/api/v1/feedback/answers/", "/api/v1/notification/receipts/"))
               and "{" in p for p in public), public  # fmt: skip


def test_the_owner_still_has_everything_and_nothing_changed(stack: Stack, owned: Owned) -> None:
    """After the intruders (the test above, or any order of the two): the ids are real and A's
    objects are as A left them."""
    a = stack.headers("citizen_a")
    dossier_id = owned.dossier["dossier_id"]
    with stack.client() as api:
        dossier = api.get(f"/api/v1/dossier/dossiers/{dossier_id}", headers=a)
        draft = api.get(f"/api/v1/dossier/drafts/{owned.draft_id}", headers=a)
        order = api.get(f"/api/v1/payment/orders/{owned.order['id']}", headers=a)
        file = api.get(f"/api/v1/dossier/dossiers/{dossier_id}/attachments/{owned.attachment_id}", headers=a)
        batch = api.get(f"/api/v1/sync/batches/{owned.batch_id}", headers=stack.headers("province"))
        official = api.get(f"/api/v1/dossier/dossiers/{dossier_id}", headers=stack.headers("official"))
        feedback = api.get(f"/api/v1/feedback/feedback/{owned.feedback_id}", headers=a)
        unpublished = api.get(f"/api/v1/feedback/answers/{owned.feedback_id}")
    assert dossier.status_code == 200 and dossier.json()["rating"] is None
    assert dossier.json()["status"] in (1, 2) and len(dossier.json()["documents"]) == 2
    assert draft.status_code == 200 and draft.json()["content"] == {"ho_ten": "Nguyễn Văn An"}
    assert order.status_code == 200 and order.json()["state"] == "pending"
    assert file.status_code == 200 and file.content == PDF
    assert batch.status_code == 200
    assert official.status_code == 200  # H22's official reads H22's dossier: the refusals were about ownership
    assert feedback.status_code == 200 and feedback.json()["status"] == "received", feedback.text
    assert [step["kind"] for step in feedback.json()["timeline"]] == ["received"]
    assert unpublished.status_code == 404


def test_an_id_is_not_a_capability_even_spelt_differently(stack: Stack, owned: Owned) -> None:
    """Upper-case ids and a trailing slash reach the same object: still refused to B."""
    dossier_id = owned.dossier["dossier_id"]
    b = stack.headers("citizen_b")
    with stack.client() as api:
        for path in (f"/api/v1/dossier/dossiers/{dossier_id.upper()}",
                     f"/api/v1/payment/orders/{owned.order['id'].upper()}",
                     f"/api/v1/dossier/dossiers/{dossier_id}/receipt.png"):  # fmt: skip
            assert api.get(path, headers=b).status_code == 404, path
        listed = api.get("/api/v1/dossier/dossiers", headers=b).json()["items"]
    assert dossier_id not in {d["id"] for d in listed}
