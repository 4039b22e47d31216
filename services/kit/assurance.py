"""Step-up authentication (RFC 9470): refusing a token whose sign-in is not sure enough, or not
recent enough, for what it is used for, with the challenge that tells the client how to get one
that is.

Framework-free, so that use cases can judge a caller against a level only they know (the level
the dossier's online service requires); routes whose level is fixed use
``kit.auth.require_acr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from contracts.assurance import AcrValue, acr_rank, meets

from .errors import Unauthorized

# The challenge's description: fixed ASCII, so that it never needs escaping in a quoted-string.
_TOO_WEAK = "A stronger sign-in is required"
_TOO_OLD = "A more recent sign-in is required"


class InsufficientAuthentication(Unauthorized):
    """The access token is valid, but the sign-in behind it is not strong enough for this operation
    (its `acr` is below the level the operation requires) or not recent enough (its `auth_time` is
    older than `max_age` seconds). The `WWW-Authenticate` challenge (RFC 9470) and the body name
    the level required (`acr_values`) and, when age matters, `max_age`."""

    def __init__(self, required: AcrValue, *, max_age: int | None = None, too_old: bool = False) -> None:
        described = _TOO_OLD if too_old else _TOO_WEAK
        age = {} if max_age is None else {"max_age": max_age}
        super().__init__(f"{described}: sign in again at level {required}.", acr_values=required, **age)
        self.required, self.max_age, self.description = required, max_age, described

    def response_headers(self) -> Mapping[str, str]:
        params = [
            'error="insufficient_user_authentication"',
            f'error_description="{self.description}"',
            f'acr_values="{self.required}"',
        ]
        if self.max_age is not None:
            params.append(f'max_age="{self.max_age}"')
        return {"WWW-Authenticate": "Bearer " + ", ".join(params)}


def check_assurance(
    acr: object, auth_time: object, *, required: AcrValue, max_age: int | None = None, now: datetime
) -> None:
    """Raise :class:`InsufficientAuthentication` unless a sign-in at ``acr`` (a token's claim) meets
    ``required`` and, with ``max_age``, happened (``auth_time``, seconds since the epoch) at most
    ``max_age`` seconds before ``now``. A token without ``auth_time`` is too old for any ``max_age``."""
    if not meets(acr, required):
        raise InsufficientAuthentication(required, max_age=max_age)
    if max_age is None:
        return
    if isinstance(auth_time, bool) or not isinstance(auth_time, int | float) or now.timestamp() - auth_time > max_age:
        raise InsufficientAuthentication(required, max_age=max_age, too_old=True)


__all__ = ["InsufficientAuthentication", "acr_rank", "check_assurance", "meets"]
