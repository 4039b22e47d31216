"""Every problem ``type`` the portal answers resolves, at the gateway, to a page describing it.

The stand-in services publish the problem types of the real services' tables (as the kit writes
them into each service's document); the gateway gathers them. The test names every type those
tables, the kit's and the gateway's own name, and fails on any whose page does not resolve.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from contracts.services import SERVICES
from gateway.app import create_app
from gateway.proxy import GATEWAY_PROBLEMS
from services.kit.problems import (
    HTTP_PROBLEMS,
    KIT_PROBLEMS,
    PROBLEM_BASE,
    PROBLEM_TYPES,
    Problem,
    ProblemTable,
    declared_problems,
    problem_types,
    undeclared,
)
from tests.gateway.gateway_harness import gateway_settings, make_upstream
from tests.support.servers import serve


def service_tables() -> dict[str, ProblemTable]:
    """Each registered service's own problem table (its ``ServiceSpec.problems``)."""
    return {service.name: importlib.import_module(service.spec_module).SERVICE.problems for service in SERVICES}


def named_problems() -> list[Problem]:
    """Every problem any table names: the kit's, the framework answers', the gateway's, the services'."""
    tables = [KIT_PROBLEMS, GATEWAY_PROBLEMS, *service_tables().values()]
    problems = [problem for table in tables for entry in table.values() for problem in declared_problems(entry) or ()]
    return [*problems, *HTTP_PROBLEMS]


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """A gateway in front of stand-ins whose documents list the real services' problem types."""
    tables = service_tables()
    with ExitStack() as servers:
        urls = {}
        for service in SERVICES:
            _, app = make_upstream(service.name)
            generate = app.openapi
            own = [problem_type.as_json() for problem_type in problem_types(tables[service.name])]

            def openapi(generate: Any = generate, own: list[dict[str, Any]] = own) -> dict[str, Any]:
                return {**generate(), PROBLEM_TYPES: own}

            app.openapi = openapi  # type: ignore[method-assign]  # as the kit replaces it
            urls[service.name] = servers.enter_context(serve(app))
        yield servers.enter_context(serve(create_app(gateway_settings(urls))))


def test_every_table_entry_names_the_problems_it_answers() -> None:
    """A bare function as a table entry answers, but nobody can list its problems: no page."""
    tables = {"kit": KIT_PROBLEMS, "gateway": GATEWAY_PROBLEMS, **service_tables()}
    assert {name: missing for name, table in tables.items() if (missing := undeclared(table))} == {}


@pytest.mark.parametrize("problem", named_problems(), ids=lambda problem: f"{problem.status}-{problem.type}")
def test_the_page_of_every_problem_type_resolves(gateway: str, problem: Problem) -> None:
    with httpx.Client(base_url=gateway, timeout=10) as client:
        page = client.get(PROBLEM_BASE + problem.type)
        as_json = client.get(PROBLEM_BASE + problem.type, headers={"Accept": "application/json"})
        as_markdown = client.get(PROBLEM_BASE + problem.type, headers={"Accept": "text/markdown"})

    assert page.status_code == 200, (problem, page.text)
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>" in page.text and "When it happens" in page.text and "What to do" in page.text
    entry = as_json.json()
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    assert entry["type"] == PROBLEM_BASE + problem.type and problem.status in entry["statuses"]
    assert entry["title"] and entry["description"] and entry["remedy"], entry
    assert as_markdown.status_code == 200 and as_markdown.headers["content-type"].startswith("text/markdown")
    assert as_markdown.text.startswith("# ")


def test_the_merged_document_lists_every_problem_type(gateway: str) -> None:
    document = httpx.get(f"{gateway}/openapi.json", timeout=10).json()
    listed = {entry["slug"] for entry in document[PROBLEM_TYPES]}
    assert {problem.type for problem in named_problems()} <= listed


def test_an_error_type_resolves_against_the_url_it_came_from(gateway: str) -> None:
    """The ``type`` is a relative reference: resolved against the answer's URL (RFC 9457 §3.1.1,
    RFC 3986 §5) it is the page."""
    with httpx.Client(timeout=10) as client:
        error = client.get(f"{gateway}/nowhere/at/all")
        page = client.get(urljoin(str(error.url), error.json()["type"]))
    assert error.status_code == 404 and error.json()["type"] == "/problems/not-found"
    assert page.status_code == 200 and "Not found" in page.text


def test_a_status_without_a_table_entry_has_its_status_page(gateway: str) -> None:
    page = httpx.get(f"{gateway}/problems/http-418", headers={"Accept": "application/json"}, timeout=10)
    success = httpx.get(f"{gateway}/problems/http-200", timeout=10)
    assert page.status_code == 200 and page.json()["statuses"] == [418]
    assert success.status_code == 404  # no problem answers with a success


def test_the_index_lists_every_page_and_an_unknown_type_is_a_problem(gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=10) as client:
        index = client.get("/problems", headers={"Accept": "application/json"})
        unknown = client.get("/problems/no-such-thing")
        odd = client.get("/problems/%3Cscript%3E")
    assert index.status_code == 200
    assert {entry["slug"] for entry in index.json()} >= {problem.type for problem in named_problems()}
    for answer in (unknown, odd):
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"
