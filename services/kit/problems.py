"""RFC 9457 problem details: the one place where error classes become HTTP answers.

Use cases raise the plain errors of :mod:`services.kit.errors`; they never build HTTP responses.
:data:`KIT_PROBLEMS` maps the kit's error classes to their problems, and each service adds a table
of its own classes (``ServiceSpec.problems``). An error's problem is that of the first class of its
MRO found in the table, so a subclass with no entry answers as its parent does.

A problem's ``type`` is the relative URI reference ``/problems/<slug>``: resolved against the
portal's public origin (the gateway, the only one clients reach) it is a page describing the
problem (``gateway.problem_pages``). The pages are generated from these same tables
(:func:`problem_types`): what a problem means is its error classes' docstrings (or the entry's
``description``), what to do is the entry's ``remedy`` or the usual advice for its status.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, Generic, TypedDict, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from contracts.json import ProblemJson

from .assurance import InsufficientAuthentication
from .dpop import ALGORITHMS as DPOP_ALGORITHMS
from .dpop import DpopProofInvalid, DpopTokenMisused
from .errors import (
    BadRequest,
    Conflict,
    FieldError,
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
from .files import UnsupportedFile
from .idempotency import IdempotencyKeyReused
from .logging import get_logger, request_id_var

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"
# The OpenAPI extension listing the problem types a document's operations may answer.
PROBLEM_TYPES = "x-problem-types"
# What a client is told to wait when the database is restarting, unreachable or overloaded.
DATABASE_RETRY_AFTER_SECONDS = 2

log = get_logger(__name__)


@dataclass(frozen=True)
class Problem:
    """What an error class answers: status, ``type`` slug (under :data:`PROBLEM_BASE`), title
    and fixed headers. An error's ``retry_after_seconds`` adds ``Retry-After``.

    ``description`` (when it happens) and ``remedy`` (what the caller can do) are for the
    problem's page; left empty, the page says what the error classes' docstrings say, and the
    usual advice for the status."""

    status: int
    type: str
    title: str
    headers: Mapping[str, str] = field(default_factory=dict)
    description: str = field(default="", compare=False)
    remedy: str = field(default="", compare=False)

    def headers_for(self, error: PortalError) -> dict[str, str]:
        headers = {**self.headers, **error.response_headers()}
        if error.retry_after_seconds is not None:
            headers["Retry-After"] = str(error.retry_after_seconds)
        return headers


E = TypeVar("E", bound=PortalError)


@dataclass(frozen=True)
class ProblemChoice(Generic[E]):
    """A table entry for the rare class whose problem depends on what the error says (an OAuth
    error's code): ``choose`` picks one of ``problems``, which name every problem it may pick
    (so that each has its page). Made with :func:`one_of`."""

    problems: tuple[Problem, ...]
    choose: Callable[[E], Problem]

    def __call__(self, error: E) -> Problem:
        problem = self.choose(error)
        if problem not in self.problems:
            raise ValueError(f"{problem.type} ({problem.status}) is not one of the problems this entry declares")
        return problem


def one_of(*problems: Problem) -> Callable[[Callable[[E], Problem]], ProblemChoice[E]]:
    """Decorates the function choosing an error's problem among ``problems``::

    @one_of(Problem(400, "oauth-error", "OAuth request refused"), Problem(401, ...))
    def _oauth(error: OAuthError) -> Problem: ...
    """

    def declare(choose: Callable[[E], Problem]) -> ProblemChoice[E]:
        return ProblemChoice(tuple(problems), choose)

    return declare


# A table entry is the problem itself, or (for the rare class whose status depends on what it
# says) a :class:`ProblemChoice`. A bare function is still answered, but names no problem ahead of
# time, so its problems have no page: :func:`problem_types` refuses it.
ProblemOf = Problem | ProblemChoice[Any] | Callable[[Any], Problem]
ProblemTable = Mapping[type[PortalError], ProblemOf]

KIT_PROBLEMS: ProblemTable = {
    PortalError: Problem(400, "bad-request", "Bad request"),
    BadRequest: Problem(400, "bad-request", "Bad request"),
    Unauthorized: Problem(
        401, "unauthorized", "Authentication required", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    ),
    # RFC 9449 §7.1: the DPoP challenge, with the algorithms proofs may use.
    DpopProofInvalid: Problem(
        401,
        "invalid-dpop-proof",
        "The DPoP proof is not valid",
        {"WWW-Authenticate": f'DPoP error="invalid_dpop_proof", algs="{" ".join(DPOP_ALGORITHMS)}"'},
        remedy="Sign a new proof for this very request (htm, htu, ath, a fresh iat and jti) with the token's key.",
    ),
    DpopTokenMisused: Problem(
        401,
        "dpop-token-misused",
        "The token is sent with the wrong scheme",
        {"WWW-Authenticate": f'DPoP error="invalid_token", algs="{" ".join(DPOP_ALGORITHMS)}"'},
        remedy="Send a token bound to a key (cnf.jkt) as `Authorization: DPoP` with a `DPoP` proof; "
        "any other token as `Authorization: Bearer`.",
    ),
    InsufficientAuthentication: Problem(
        401,
        "insufficient-user-authentication",
        "A stronger or more recent sign-in is required",
        {"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
        remedy="Ask the portal's OpenID provider for a new token with the `acr_values` (and `max_age`) the "
        "`WWW-Authenticate` challenge names (RFC 9470): the person signs in again, with a second factor or "
        "the national e-ID as the level asks, and the request is sent again with the new token.",
    ),
    Forbidden: Problem(403, "forbidden", "Not allowed"),
    NotFound: Problem(404, "not-found", "Not found"),
    RequestTimeout: Problem(408, "request-timeout", "The request body stopped arriving", {"Connection": "close"}),
    Conflict: Problem(409, "conflict", "Conflict with the current state"),
    PayloadTooLarge: Problem(413, "payload-too-large", "Request body too large"),
    UnsupportedFile: Problem(415, "unsupported-file-type", "Only PDF, JPEG and PNG files are accepted"),
    ValidationFailed: Problem(422, "validation-failed", "The request is not valid"),
    IdempotencyKeyReused: Problem(
        422,
        "idempotency-key-reused",
        "This Idempotency-Key was used for another request",
        remedy="Send a new request with a new `Idempotency-Key`; reuse a key only to retry the very same request.",
    ),
    RateLimited: Problem(
        429,
        "rate-limited",
        "Too many requests",
        description="The caller sent more requests than the portal takes from one caller in this time.",
    ),
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
    body: ProblemJson = {"type": PROBLEM_BASE + type_, "title": title, "status": status}
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


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        errors.append({"field": ".".join(loc), "location": loc[0] if loc else "", "message": err.get("msg", "invalid")})
    return errors


# The answers no error class of ours raises: the framework's own refusals, and the last resort.
HTTP_PROBLEMS: tuple[Problem, ...] = (
    Problem(405, "method-not-allowed", "Method Not Allowed",
            description="The resource exists but does not support this HTTP method.",
            remedy="Use one of the methods the `Allow` header names."),
    Problem(406, "not-acceptable", "Not Acceptable",
            description="The resource cannot be answered in any media type the `Accept` header allows.",
            remedy="Accept one of the media types the operation documents (usually `application/json`)."),
    Problem(415, "unsupported-media-type", "Unsupported Media Type",
            description="The request body is in a media type the operation does not take.",
            remedy="Send the body with one of the media types the operation documents, and say so in "
                   "`Content-Type`."),
    Problem(500, "internal-error", "Internal error",
            description="Something failed inside the portal. Nothing about the request is known to be wrong.",
            remedy="Try again later. If it keeps failing, tell support the `request_id` of the answer."),
)  # fmt: skip
_STATUS_TYPES = {
    **{problem.status: problem.type for problem in KIT_PROBLEMS.values() if isinstance(problem, Problem)},
    400: "bad-request",
    422: "validation-failed",
    **{problem.status: problem.type for problem in HTTP_PROBLEMS},
}


def status_type(status: int) -> str:
    """The ``type`` slug of an HTTP error of ``status`` that no error class of ours raised (a
    framework's refusal): a known problem's, else ``http-<status>``, whose page
    (:func:`status_problem`) is that status's."""
    return _STATUS_TYPES.get(status, f"http-{status}")


def status_problem(slug: str) -> Problem | None:
    """The problem of an ``http-<status>`` slug (any status a framework may answer with)."""
    number = slug.removeprefix("http-")
    if not slug.startswith("http-") or not number.isdigit() or int(number) not in HTTPStatus._value2member_map_:
        return None
    if int(number) < 400:  # not an error: no problem answers with it
        return None
    status = HTTPStatus(int(number))
    return Problem(status.value, slug, status.phrase, description=status.description + ".")


# What a caller can usually do about an answer of each status, for problems that say nothing more.
REMEDIES = {
    400: "Correct the request as `detail` says; sent again unchanged it will be refused again.",
    401: "Get an access token (a new one if yours has expired) from the portal's OpenID provider and "
         "send it as `Authorization: Bearer <token>`.",
    403: "The caller may not do this. Sign in as someone who may, or ask for a token with the scope "
         "the operation's `security` lists.",
    404: "Check the identifier. The resource does not exist, or is not one the caller may see.",
    405: "Use one of the methods the `Allow` header names.",
    408: "Send the whole body without pausing; the connection is closed.",
    409: "Read the resource's current state, then decide whether the request still makes sense.",
    410: "Start again from the step that issued what you sent (ask for a new code, say).",
    413: "Send less: a smaller file, or fewer items in one request.",
    415: "Send the body in a media type the operation documents.",
    422: "Correct the fields `errors` names and send the request again.",
    429: "Wait as many seconds as `Retry-After` says, then try again.",
    500: "Try again later. If it keeps failing, tell support the `request_id` of the answer.",
    502: "Try again shortly. A write may or may not have been carried out: retry it with the same "
         "`Idempotency-Key`.",
    503: "Wait as many seconds as `Retry-After` says, then try again (with the same `Idempotency-Key` "
         "for a write).",
    504: "Try again shortly. A write may or may not have been carried out: retry it with the same "
         "`Idempotency-Key`.",
}  # fmt: skip


def remedy_for(status: int) -> str:
    if status in REMEDIES:
        return REMEDIES[status]
    return REMEDIES[500] if status >= 500 else REMEDIES[400]


class ProblemTypeJson(TypedDict):
    """A problem type as the document lists it (``x-problem-types``) and its page describes it."""

    type: str
    slug: str
    title: str
    statuses: list[int]
    description: str
    remedy: str
    headers: list[str]


@dataclass(frozen=True)
class ProblemType:
    """One problem type as its page describes it: every status it is answered with (an OAuth
    error's depends on its code), what it means, what to do, and the headers that come with it."""

    type: str
    title: str
    statuses: tuple[int, ...]
    description: str
    remedy: str
    headers: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.type

    def as_json(self) -> ProblemTypeJson:
        return {"type": self.uri, "slug": self.type, "title": self.title, "statuses": list(self.statuses),
                "description": self.description, "remedy": self.remedy, "headers": list(self.headers)}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProblemType:
        statuses = tuple(int(status) for status in data["statuses"])
        headers = tuple(str(name) for name in data.get("headers", ()))
        return cls(
            str(data["slug"]), str(data["title"]), statuses, str(data["description"]), str(data["remedy"]), headers
        )


def declared_problems(entry: ProblemOf) -> tuple[Problem, ...] | None:
    """The problems a table entry may answer; None for a bare function, which does not say."""
    if isinstance(entry, Problem):
        return (entry,)
    if isinstance(entry, ProblemChoice):
        return entry.problems
    return None


def undeclared(table: ProblemTable) -> list[str]:
    """The classes of ``table`` whose entry is a bare function: their problems have no page until
    the function is declared with :func:`one_of`."""
    return [f"{cls.__module__}.{cls.__qualname__}" for cls, entry in table.items() if declared_problems(entry) is None]


def _doc(cls: type) -> str:
    """A class's docstring as one paragraph of prose (Sphinx roles reduced to their text)."""
    text = " ".join((inspect.getdoc(cls) or "").split())
    return text.replace(":class:", "").replace(":data:", "").replace(":func:", "").replace("``", "`")


def problem_types(table: ProblemTable = KIT_PROBLEMS) -> list[ProblemType]:
    """Every problem type answered by an app whose own table is ``table`` (the kit's, its own,
    and the framework's), one per slug, sorted by slug."""
    found: dict[str, list[tuple[Problem, str]]] = {}
    for cls, entry in {**KIT_PROBLEMS, **table}.items():
        for problem in declared_problems(entry) or ():  # a bare function names none (see undeclared)
            found.setdefault(problem.type, []).append((problem, _doc(cls) if cls is not PortalError else ""))
    for problem in HTTP_PROBLEMS:
        found.setdefault(problem.type, []).append((problem, ""))
    types = []
    for slug, uses in sorted(found.items()):
        first = uses[0][0]
        statuses = tuple(sorted({problem.status for problem, _ in uses}))
        description = next((p.description for p, _ in uses if p.description), "") or " ".join(
            dict.fromkeys(doc for _, doc in uses if doc)
        )
        remedy = next((p.remedy for p, _ in uses if p.remedy), "") or " ".join(
            dict.fromkeys(remedy_for(status) for status in statuses)
        )
        headers = sorted({name for problem, _ in uses for name in problem.headers})
        if any(status in (429, 503) for status in statuses):
            headers = sorted({*headers, "Retry-After"})
        types.append(ProblemType(slug, first.title, statuses, description, remedy, tuple(headers)))
    return types


def merge_problem_types(*catalogues: list[ProblemType]) -> dict[str, ProblemType]:
    """The problem types of several apps by slug; a slug two apps describe is the first's."""
    merged: dict[str, ProblemType] = {}
    for catalogue in catalogues:
        for problem_type in catalogue:
            merged.setdefault(problem_type.type, problem_type)
    return merged


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
            status_type(status),
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
