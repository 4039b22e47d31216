"""RFC 9457 problem details: the one place where error classes become HTTP answers.

Use cases raise the plain errors of :mod:`services.kit.errors`; they never build HTTP responses.
:data:`KIT_PROBLEMS` maps the kit's error classes to their problems, and each service adds a table
of its own classes (``ServiceSpec.problems``). An error's problem is that of the first class of its
MRO found in the table, so a subclass with no entry answers as its parent does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PortalError,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
    Unauthorized,
    UpstreamTimeout,
    ValidationFailed,
)
from .idempotency import IdempotencyKeyReused
from .logging import get_logger, request_id_var

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"
# What a client is told to wait when the database is restarting, unreachable or overloaded.
DATABASE_RETRY_AFTER_SECONDS = 2

log = get_logger(__name__)


@dataclass(frozen=True)
class Problem:
    """What an error class answers: status, ``type`` slug (under :data:`PROBLEM_BASE`), title
    and fixed headers. An error's ``retry_after_seconds`` adds ``Retry-After``."""

    status: int
    type: str
    title: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def headers_for(self, error: PortalError) -> dict[str, str]:
        headers = dict(self.headers)
        if error.retry_after_seconds is not None:
            headers["Retry-After"] = str(error.retry_after_seconds)
        return headers


# A table entry is the problem itself, or a function of the error for the rare class whose
# status depends on what it says (an OAuth error's code).
ProblemOf = Problem | Callable[[Any], Problem]
ProblemTable = Mapping[type[PortalError], ProblemOf]

KIT_PROBLEMS: ProblemTable = {
    PortalError: Problem(400, "bad-request", "Bad request"),
    BadRequest: Problem(400, "bad-request", "Bad request"),
    Unauthorized: Problem(
        401, "unauthorized", "Authentication required", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    ),
    Forbidden: Problem(403, "forbidden", "Not allowed"),
    NotFound: Problem(404, "not-found", "Not found"),
    RequestTimeout: Problem(408, "request-timeout", "The request body stopped arriving", {"Connection": "close"}),
    Conflict: Problem(409, "conflict", "Conflict with the current state"),
    PayloadTooLarge: Problem(413, "payload-too-large", "Request body too large"),
    ValidationFailed: Problem(422, "validation-failed", "The request is not valid"),
    IdempotencyKeyReused: Problem(422, "idempotency-key-reused", "This Idempotency-Key was used for another request"),
    RateLimited: Problem(429, "rate-limited", "Too many requests"),
    ServiceUnavailable: Problem(503, "service-unavailable", "Service temporarily unavailable"),
    UpstreamTimeout: Problem(504, "upstream-timeout", "The service did not answer in time"),
}


def problem_for(error: PortalError, table: ProblemTable = KIT_PROBLEMS) -> Problem:
    """``error``'s problem: the entry of the first class of its MRO in ``table``, else in the
    kit's; its headers include those the error implies (``Retry-After``)."""
    for cls in type(error).__mro__:
        entry = table.get(cls) or KIT_PROBLEMS.get(cls)
        if entry is not None:
            problem = entry if isinstance(entry, Problem) else entry(error)
            return replace(problem, headers=problem.headers_for(error))
    raise TypeError(f"{type(error).__name__} is not a PortalError")


def problem_response(
    status: int,
    type_: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build one ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if (rid := request_id_var.get()) is not None:
        body["request_id"] = rid
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def error_response(
    error: PortalError, table: ProblemTable = KIT_PROBLEMS, *, instance: str | None = None
) -> JSONResponse:
    """``error`` as its problem+json answer."""
    problem = problem_for(error, table)
    return problem_response(
        problem.status,
        problem.type,
        problem.title,
        error.detail,
        instance=instance,
        headers=problem.headers,
        **error.extra,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        errors.append({"field": ".".join(loc), "location": loc[0] if loc else "", "message": err.get("msg", "invalid")})
    return errors


_STATUS_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    408: "request-timeout",
    415: "unsupported-media-type",
    422: "validation-failed",
    429: "rate-limited",
}


def install_problem_handlers(app: FastAPI, problems: ProblemTable | None = None) -> None:
    """Make every error of ``app`` a problem+json body; ``problems`` maps the app's own error
    classes (the kit's are known already)."""
    table: ProblemTable = {**KIT_PROBLEMS, **(problems or {})}

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> JSONResponse:
        return error_response(exc, table, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            422,
            "validation-failed",
            "The request is not valid",
            "One or more fields are not valid.",
            instance=request.url.path,
            errors=_field_errors(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, PortalError):
            # FastAPI turns any failure while reading the body into a 400; keep our own answer
            # (a body that grew past the limit while streaming is a 413).
            return await _portal_error(request, exc.__cause__)
        status = exc.status_code
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
        return problem_response(
            status,
            _STATUS_TYPES.get(status, f"http-{status}"),
            phrase,
            detail,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The caller hung up before its body was read (the gateway gave up waiting, say): no one is
        # left to answer, and nothing is wrong with the service. 499 is nginx's name for it.
        log.info("client went away before its request was read", path=request.url.path)
        return Response(status_code=499)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(ConnectionError)  # a refused or reset connection, before any driver wraps it
    @app.exception_handler(TimeoutError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        from .db import is_transient_database_error

        if not is_transient_database_error(exc):
            return await _unexpected(request, exc)
        # Almost always nothing was committed; a connection lost during COMMIT leaves it unknown,
        # which is what Idempotency-Key is for.
        log.warning("database unavailable", path=request.url.path, error=type(exc).__name__)
        error = ServiceUnavailable("The database cannot serve this request right now.", DATABASE_RETRY_AFTER_SECONDS)
        return await _portal_error(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem_response(500, "internal-error", "Internal error", instance=request.url.path)
