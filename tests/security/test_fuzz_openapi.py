"""Every operation of the gateway's merged OpenAPI document, fuzzed through the real gateway in
front of the real services (``tests.support.stack``), once without a token and once with the
token of the caller each operation is for (``tests.security.routes``).

What must hold for every generated request, valid or not: no 5xx; the status code is one the
document declares for the operation; the content type is one it declares for that status; the
body and headers match the declared schemas; and every error is an RFC 9457 problem (the OAuth
endpoints answer in their own RFC 6749 format, the sign-in page in HTML).

Bounded for CI: a fixed number of examples per operation, derandomized (the same requests every
run), no example database, no shrinking; the whole module runs in well under three minutes.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.conftest import problem_details
from tests.security.routes import CALL_IDS, CALLS, FUZZ_CALLER, RULES, documented, fuzz_settings
from tests.support.dossier import PDF
from tests.support.stack import Stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("fuzz_account"),
    # schemathesis' own strategies draw from `random` in places; Hypothesis warns about it on every test.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

MAX_EXAMPLES = 40


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, problem_details]  # fmt: skip


HYPOTHESIS = fuzz_settings(MAX_EXAMPLES)


@pytest.mark.parametrize(("method", "path", "caller"), CALLS, ids=CALL_IDS)
def test_no_server_error_and_every_answer_as_documented(
    merged_api: Any, stack: Stack, method: str, path: str, caller: str | None
) -> None:
    operation = merged_api[path][method]
    headers = stack.headers(caller) if caller else {}
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @HYPOTHESIS
    @given(case=cases)
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


def test_characters_no_column_can_hold_are_refused_in_every_parameter(
    merged_document: dict[str, Any], stack: Stack
) -> None:
    """Hypothesis draws from valid UTF-8 text; a hostile client sends anything. Every string
    parameter of every operation that has path or query parameters gets NUL and a lone surrogate
    (percent-encoded as UTF-8 would never spell them): a refusal, never a 500."""
    failures, tried = [], 0
    with stack.client() as api:
        for method, path in sorted(RULES):
            operation = merged_document["paths"][path][method.lower()]
            params = [p for p in operation.get("parameters", []) if p.get("in") in ("path", "query")]
            if not params:
                continue  # nothing to put the characters in (bodies are fuzzed above)
            url, query = path, []
            for param in params:
                if param["in"] == "path":
                    url = url.replace("{" + param["name"] + "}", "x%00y%ED%A0%80")
                else:
                    query.append(f"{param['name']}=x%00y%ED%A0%80")
            who = RULES[(method, path)].who
            headers = stack.headers(FUZZ_CALLER[who]) if who != "public" else {}
            answer = api.request(method, url + ("?" + "&".join(query) if query else ""), headers=headers)
            tried += 1
            if answer.status_code >= 500:
                failures.append(f"{method} {url}: {answer.status_code} {answer.text[:300]}")
    assert tried > 20, tried  # the operations with parameters were found
    assert not failures, failures


def _assert_documented(document: dict[str, Any], method: str, path: str, answer: httpx.Response) -> None:
    declared = documented(document, method, path, answer.status_code)
    assert declared is not None, f"{method} {path} answered {answer.status_code}, which its document does not declare"


def test_a_revalidated_catalogue_read_answers_a_documented_304(stack: Stack, merged_document: dict[str, Any]) -> None:
    with stack.client() as api:
        first = api.get("/api/v1/catalogue/sectors")
        again = api.get("/api/v1/catalogue/sectors", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    _assert_documented(merged_document, "GET", "/api/v1/catalogue/sectors", again)


def test_revalidated_statistics_answer_a_documented_304(stack: Stack, merged_document: dict[str, Any]) -> None:
    params = {"from": "2026-01-01", "days": 31}
    with stack.client() as api:
        first = api.get("/api/v1/dossier/statistics", params=params)
        again = api.get("/api/v1/dossier/statistics", params=params, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    _assert_documented(merged_document, "GET", "/api/v1/dossier/statistics", again)


def test_a_replayed_payment_order_answers_a_documented_200(stack: Stack, merged_document: dict[str, Any]) -> None:
    from tests.security.conftest import file_dossier, order_for

    b = stack.headers("citizen_b")
    with stack.client() as api:
        receipt, _ = file_dossier(api, b, stack.service_id)
        headers = {**b, "Idempotency-Key": "replay-" + receipt["dossier_id"]}
        first = order_for(api, headers, receipt["dossier_id"])  # once the fees have arrived by event
        again = api.post("/api/v1/payment/orders", headers=headers,
                         json={"dossier_id": receipt["dossier_id"], "provider": "vnpay"})  # fmt: skip
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first["id"]
    _assert_documented(merged_document, "POST", "/api/v1/payment/orders", again)


def test_a_replayed_submission_answers_a_documented_200(stack: Stack, merged_document: dict[str, Any]) -> None:
    b = stack.headers("citizen_b")
    with stack.client() as api:
        refs = []
        for component in ("TP01", "TP02"):
            up = api.post("/api/v1/dossier/attachments", headers=b, files={"file": ("a.pdf", PDF)})
            refs.append({"id": up.json()["id"], "component_code": component})
        body = {"service_id": stack.service_id, "attachments": refs,
                "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
                "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"}}  # fmt: skip
        headers = {**b, "Idempotency-Key": "replay-submission"}
        first = api.post("/api/v1/dossier/dossiers", headers=headers, json=body)
        again = api.post("/api/v1/dossier/dossiers", headers=headers, json=body)
    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    _assert_documented(merged_document, "POST", "/api/v1/dossier/dossiers", again)
