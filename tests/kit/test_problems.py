"""Errors are plain exceptions; one table per app says what each class answers (RFC 9457)."""

from __future__ import annotations

import importlib
import json

import pytest

from contracts.services import service_names
from gateway.proxy import GATEWAY_PROBLEMS
from services.kit.errors import (
    Conflict,
    DomainError,
    NotFound,
    PortalError,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from services.kit.problems import KIT_PROBLEMS, Problem, ProblemTable, error_response, problem_for

SERVICES = service_names()


class Withdrawn(NotFound):
    """A subclass with no entry of its own."""


class Overbooked(DomainError):
    """A service's own refusal, with its own entry."""


def test_a_kind_answers_its_problem() -> None:
    assert problem_for(Conflict("taken")) == Problem(409, "conflict", "Conflict with the current state", {})
    assert problem_for(Unauthorized("no token")).headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    assert problem_for(RequestTimeout(2)) == Problem(
        408, "request-timeout", "The request body stopped arriving", {"Connection": "close"}
    )


def test_a_subclass_without_an_entry_answers_as_its_parent() -> None:
    assert problem_for(Withdrawn("gone")) == problem_for(NotFound())


def test_an_app_table_names_its_own_classes_and_falls_back_to_the_kit() -> None:
    table: ProblemTable = {Overbooked: Problem(409, "overbooked", "No room left")}
    assert problem_for(Overbooked("full"), table).type == "overbooked"
    assert problem_for(NotFound("no such"), table).type == "not-found"
    assert problem_for(Overbooked("full")).type == "bad-request"  # unknown to the kit alone


def test_an_error_that_says_when_to_retry_gets_retry_after() -> None:
    assert problem_for(RateLimited(7)).headers == {"Retry-After": "7"}
    assert problem_for(ServiceUnavailable("down", retry_after_seconds=3)) == Problem(
        503, "service-unavailable", "Service temporarily unavailable", {"Retry-After": "3"}
    )
    assert KIT_PROBLEMS[RateLimited] == Problem(429, "rate-limited", "Too many requests")  # the table is not changed


def test_a_plain_error_carries_its_detail_and_extras_but_no_http() -> None:
    error = ValidationFailed([{"field": "name", "location": "body", "message": "required"}])
    assert (str(error), error.detail) == ("One or more fields are not valid.", "One or more fields are not valid.")
    assert error.extra == {"errors": [{"field": "name", "location": "body", "message": "required"}]}
    assert not {"status", "type", "title", "headers"} & set(vars(error))


def test_the_answer_has_the_problem_the_detail_and_the_extras() -> None:
    answer = error_response(ValidationFailed([{"field": "name"}], "Fix it."), instance="/things")
    assert answer.status_code == 422 and answer.media_type == "application/problem+json"
    assert json.loads(bytes(answer.body)) == {
        "type": "/problems/validation-failed",
        "title": "The request is not valid",
        "status": 422,
        "detail": "Fix it.",
        "instance": "/things",
        "errors": [{"field": "name"}],
    }


def _subclasses(cls: type[PortalError]) -> set[type[PortalError]]:
    found: set[type[PortalError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_error_that_is_no_kind_has_its_own_problem(service: str) -> None:
    """A class extending the bare base (not a kind such as NotFound) would answer a vague 400
    unless its service's table names it."""
    spec = importlib.import_module(f"services.{service}.app").SERVICE
    own = [
        cls
        for cls in _subclasses(PortalError)
        if cls.__module__.startswith(f"services.{service}.") and {DomainError, PortalError} & set(cls.__bases__)
    ]
    assert [cls.__name__ for cls in own if cls not in spec.problems] == []


def test_the_gateway_names_its_own_errors() -> None:
    importlib.import_module("gateway.app")
    own = [cls for cls in _subclasses(PortalError) if cls.__module__.startswith("gateway.")]
    assert own and all(cls in GATEWAY_PROBLEMS for cls in own)
