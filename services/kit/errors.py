"""RFC 9457 problem details: the one place where error classes become HTTP answers.

Use cases raise :class:`PortalError` subclasses; they never build HTTP responses.
"""

from __future__ import annotations

from collections.abc import Sequence
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

from .logging import get_logger, request_id_var

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"
# What a client is told to wait when the database is restarting, unreachable or overloaded.
DATABASE_RETRY_AFTER_SECONDS = 2

log = get_logger(__name__)


class PortalError(Exception):
    """Base of every error a use case may raise. Subclasses fix status, type and title."""

    status: int = 400
    type: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class BadRequest(PortalError):
    pass


class Unauthorized(PortalError):
    status, type, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **extra: Any):
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, **extra)


class Forbidden(PortalError):
    status, type, title = 403, "forbidden", "Not allowed"


class NotFound(PortalError):
    status, type, title = 404, "not-found", "Not found"


class Conflict(PortalError):
    status, type, title = 409, "conflict", "Conflict with the current state"


class PayloadTooLarge(PortalError):
    status, type, title = 413, "payload-too-large", "Request body too large"


class RequestTimeout(PortalError):
    status, type, title = 408, "request-timeout", "The request body stopped arriving"

    def __init__(self, idle_seconds: float):
        # The rest of the body may still come: the connection is not good for another request.
        super().__init__(f"No part of the body arrived for {idle_seconds:g} seconds.", headers={"Connection": "close"})


class ValidationFailed(PortalError):
    status, type, title = 422, "validation-failed", "The request is not valid"

    def __init__(self, errors: Sequence[dict[str, Any]], detail: str | None = None):
        super().__init__(detail or "One or more fields are not valid.", errors=list(errors))


class RateLimited(PortalError):
    status, type, title = 429, "rate-limited", "Too many requests"

    def __init__(self, retry_after_seconds: int, detail: str | None = None):
        super().__init__(
            detail or f"Retry after {retry_after_seconds} seconds.", headers={"Retry-After": str(retry_after_seconds)}
        )


class ServiceUnavailable(PortalError):
    status, type, title = 503, "service-unavailable", "Service temporarily unavailable"

    def __init__(self, detail: str | None = None, retry_after_seconds: int = 5):
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


class UpstreamTimeout(PortalError):
    status, type, title = 504, "upstream-timeout", "The service did not answer in time"

    def __init__(self, detail: str | None = None, retry_after_seconds: int = 5):
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


class PermanentFailure(Exception):
    """Raised by an event handler for a message that can never be applied (its data breaks
    the contract, say): the consumer dead-letters it at once instead of retrying it."""


def problem_response(
    status: int,
    type_: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
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


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json body."""

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> JSONResponse:
        return problem_response(
            exc.status, exc.type, exc.title, exc.detail, instance=request.url.path, headers=exc.headers, **exc.extra
        )

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
