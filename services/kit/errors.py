"""The errors use cases raise: plain exceptions, with no HTTP in them.

Domain and service code raise a :class:`DomainError` kind (or a class of their own, named in the
domain's words, that extends one); :mod:`services.kit.problems` maps each class to its RFC 9457
problem (status, type, title, headers) in one table. An error carries its ``detail``, any
structured extras (the offending fields, the two states of a refused transition) and, when trying
again later may succeed, ``retry_after_seconds``.

Nothing here may import a web framework, a database driver or a broker client: domain modules
import this module (an import-linter contract holds it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: One refused field of a request: ``field`` (its dotted path), ``location`` (``body``, ``query``,
#: ``header``) and ``message``, all text.
FieldError = Mapping[str, str]


#: The members of every RFC 9457 problem the kit writes: an error's extras may not reuse them.
RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "request_id"})


class PortalError(Exception):
    """Base of every error answered as a problem: a refusal (:class:`DomainError`) or a
    dependency that cannot serve the request now."""

    def __init__(self, detail: str | None = None, *, retry_after_seconds: int | None = None, **extra: Any) -> None:
        if clash := RESERVED_MEMBERS & extra.keys():
            raise TypeError(f"{sorted(clash)} are members every problem has; name the extra otherwise")
        super().__init__(*(() if detail is None else (detail,)))
        self.detail = detail
        self.retry_after_seconds = retry_after_seconds
        self.extra = extra

    def response_headers(self) -> Mapping[str, str]:
        """Headers this error adds to (or sets over) its problem's fixed ones: a challenge that
        names what this refusal asks for, say. None by default."""
        return {}


class DomainError(PortalError):
    """A rule of the domain refused the request; the kinds below, and each service's own."""


class BadRequest(DomainError):
    """The request cannot be understood (a cursor this service never issued, a body that is not
    the format it says)."""


class ValidationFailed(DomainError):
    """One or more fields break a rule; ``errors`` names each (field, location, message)."""

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        super().__init__(detail or "One or more fields are not valid.", errors=list(errors))


class Unauthorized(DomainError):
    """No credentials, or credentials that do not hold."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class NotFound(DomainError):
    """No such thing (or none the caller may see)."""


class Conflict(DomainError):
    """The request conflicts with the current state."""


class PayloadTooLarge(DomainError):
    """More than the service takes in one request."""


class RateLimited(DomainError):
    """Too many requests; the caller may try again after ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        super().__init__(
            detail or f"Retry after {retry_after_seconds} seconds.", retry_after_seconds=retry_after_seconds
        )


class RequestTimeout(PortalError):
    """The request body stopped arriving."""

    def __init__(self, idle_seconds: float) -> None:
        super().__init__(f"No part of the body arrived for {idle_seconds:g} seconds.")


class ServiceUnavailable(PortalError):
    """A dependency (the database, a document store, the token issuer) cannot serve now."""

    def __init__(self, detail: str | None = None, retry_after_seconds: int = 5) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds)


class UpstreamTimeout(PortalError):
    """A service the request was passed on to did not answer in time."""

    def __init__(self, detail: str | None = None, retry_after_seconds: int = 5) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds)


class RecordedRefusal(Exception):
    """Mixin of refusals whose record was written before raising (a failure counted, an attempt
    audited, a lock event emitted): the request fails, but its unit of work is committed anyway
    (``kit.app.request_unit_of_work``), so that the record stays."""


class PermanentFailure(Exception):
    """Raised by an event handler for a message that can never be applied (its data breaks
    the contract, say): the consumer dead-letters it at once instead of retrying it."""
