"""Step-up at the authorization endpoint: the level of assurance a request asks for, and whether
a browser session (or the sign-in just made) reaches it.

A client asks for a level in two ways (OpenID Connect Core):

- ``acr_values`` (§3.1.2.1): voluntary. The portal's levels are ordered (password < mfa <
  in-person), so the request is met by a sign-in at the lowest level listed or above. A session
  below it signs in again at that level; a person who cannot reach it (no second factor set up)
  still gets a code, whose tokens say the level truly reached (``acr``), except for in-person,
  which is never stood in for by a lower level.
- the ``claims`` parameter (§5.5.1.1) with ``acr`` essential (``value`` or ``values``): the
  same, but a sign-in below it is a failed authentication — the client gets
  ``unmet_authentication_requirements`` and no code.

Values the portal does not issue are ignored; an essential request naming none it issues cannot
be met and is refused at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from contracts.assurance import ACR_LEVELS, IN_PERSON, AcrValue, acr_rank

from ..domain.oauth import OAuthError

MAX_ACR_VALUES = 512  # characters of acr_values (carried through the sign-in form: bounded)
MAX_CLAIMS = 2048  # characters of the claims parameter
UNMET = "unmet_authentication_requirements"


@dataclass(frozen=True)
class AcrRequest:
    """The levels a request names (known ones, in its order) and whether they are essential."""

    values: tuple[AcrValue, ...] = ()
    essential: bool = False

    @property
    def required(self) -> AcrValue | None:
        """The lowest level that meets the request; None when it asks for none."""
        return min(self.values, key=acr_rank) if self.values else None

    def met_by(self, acr: str) -> bool:
        required = self.required
        return required is None or acr_rank(acr) >= acr_rank(required)

    def refuses(self, acr: str) -> bool:
        """Whether no code may be issued for a sign-in at ``acr``: an essential level it is below,
        or in-person (the national e-ID level 2) asked for and not reached."""
        return not self.met_by(acr) and (self.essential or self.required == IN_PERSON)


def _known(values: object) -> tuple[AcrValue, ...]:
    if not isinstance(values, list | tuple):
        return ()
    return tuple(dict.fromkeys(v for v in ACR_LEVELS if v in values))


def _claimed_acr(claims: str) -> tuple[tuple[AcrValue, ...], bool, bool]:
    """The acr request of a ``claims`` parameter: (known values, essential, named any value)."""
    try:
        parsed = json.loads(claims)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise OAuthError("invalid_request", "The claims parameter is not JSON.") from None
    if not isinstance(parsed, dict):
        raise OAuthError("invalid_request", "The claims parameter is not a JSON object.")
    values: list[object] = []
    essential = False
    for member in ("id_token", "userinfo"):
        asked = parsed.get(member)
        acr = asked.get("acr") if isinstance(asked, dict) else None
        if not isinstance(acr, dict):
            continue
        essential = essential or acr.get("essential") is True
        listed = acr.get("values")
        values += [acr["value"]] if "value" in acr else listed if isinstance(listed, list) else []
    return _known(values), essential, bool(values)


def parse_acr_request(acr_values: str | None, claims: str | None) -> AcrRequest:
    """The acr request of an authorization request's ``acr_values`` and ``claims``."""
    if len(acr_values or "") > MAX_ACR_VALUES:
        raise OAuthError("invalid_request", f"acr_values is longer than {MAX_ACR_VALUES} characters.")
    if len(claims or "") > MAX_CLAIMS:
        raise OAuthError("invalid_request", f"claims is longer than {MAX_CLAIMS} characters.")
    voluntary = _known((acr_values or "").split())
    claimed, essential, named = _claimed_acr(claims) if claims else ((), False, False)
    if essential and named and not claimed:
        raise OAuthError(UNMET, "None of the essential acr values is one this provider issues.")
    if essential and claimed:
        return AcrRequest(claimed, essential=True)
    return AcrRequest(tuple(dict.fromkeys(voluntary + claimed)))
