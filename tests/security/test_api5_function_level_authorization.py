"""OWASP API5:2023 Broken Function Level Authorization, through the gateway.

Every operator and administrator route of the merged document (and every editor and agency-system
route) refuses a citizen whose token is valid for that service (403 from the service itself), an
official refuses operator routes, an agency system refuses operator routes; the administrator is
let through (the positive control). The routes come from the live document and its classification
(``tests.security.routes``), so a new administrative route is checked as soon as it is classified,
and an unclassified one fails the inventory test (API9). And asking the identity service for an
administrator's scope as a citizen gets a token without it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD
from tests.security.conftest import Owned, sign_in
from tests.security.routes import operations, rule
from tests.security.test_api1_object_level_authorization import bodies, objects
from tests.support.stack import PRINCIPALS, Stack

pytestmark = pytest.mark.integration

# Who must be refused, by the kind of caller a route is for.
REFUSED = {
    "admin": ["citizen_b_everywhere", "official", "province"],
    "editor": ["citizen_b_everywhere", "province"],
    "province": ["citizen_b_everywhere", "official"],
    "handler": ["citizen_b_everywhere", "province"],
    "notifier": ["citizen_b_everywhere", "official", "admin"],
}


# Ids of nothing, for the administrator's positive control.
DEAD = "00000000-0000-4000-8000-00000000dead"
NOWHERE = {"dossier_id": DEAD, "attachment_id": DEAD, "draft_id": DEAD, "order_id": DEAD, "batch_id": DEAD,
           "service_id": DEAD, "version": "1", "code": "9.999999", "agency_code": "000.00.00.Z99",
           "account_id": "no-such-account", "client_id": "no-such-client", "delivery_id": "999999999",
           "feedback_id": DEAD, "item_id": DEAD, "kind": "no-such-kind", "language": "xx"}  # fmt: skip


def _service(path: str) -> str:
    return path.split("/")[3] if path.startswith("/api/v1/") else "identity"


def test_privileged_routes_refuse_callers_without_the_function(stack: Stack, owned: Owned) -> None:
    document = httpx.get(f"{stack.url}/openapi.json", timeout=30).json()
    ids = objects(owned)
    writes = bodies(stack, owned.attachment_id)
    checked: dict[str, int] = {}
    with stack.client() as api:
        for method, path in operations(document):
            who = rule(method, path).who
            if who not in REFUSED:
                continue
            url = path.format(**ids)
            body: Any = writes.get((method, path))
            if body is None and method in ("POST", "PUT", "PATCH"):
                body = {}
            for caller in REFUSED[who]:
                if _service(path) not in PRINCIPALS[caller].aud:
                    continue  # the gateway refuses that token before the service sees it (API2)
                answer = api.request(method, url, headers=stack.headers(caller), json=body)
                assert answer.status_code == 403, f"{caller} {method} {url}: {answer.status_code} {answer.text[:200]}"
                assert answer.headers["content-type"] == "application/problem+json"
                checked[who] = checked.get(who, 0) + 1
            if who == "admin":  # on objects that do not exist: the shared fixtures stay as they are
                allowed = api.request(method, path.format(**NOWHERE), headers=stack.headers("admin"), json=body)
                assert allowed.status_code not in (401, 403), f"admin {method} {url}: {allowed.text[:200]}"
    assert checked.get("admin", 0) >= 15 and checked.get("editor", 0) >= 6 and checked.get("province", 0) >= 5, checked


def test_a_citizen_asking_for_an_administrators_scope_is_not_given_it(stack: Stack) -> None:
    tokens = sign_in(stack, CITIZEN_LOGIN, CITIZEN_PASSWORD, ip="192.0.2.71",
                     scope="openid identity:admin payment:admin sync:admin catalogue:admin dossier:submit")  # fmt: skip
    granted = set(tokens["scope"].split())
    assert granted.isdisjoint({"identity:admin", "payment:admin", "sync:admin", "catalogue:admin"}), granted
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    with stack.client() as api:
        assert api.get("/api/v1/identity/clients", headers=bearer).status_code == 403
        assert api.post("/api/v1/identity/accounts/x/lock", headers=bearer).status_code == 403
        # Its audience does not even name the operator services: the gateway refuses it there.
        assert api.get("/api/v1/sync/deliveries/failing", headers=bearer).status_code == 401
