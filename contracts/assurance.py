"""The portal's levels of assurance: the ``acr`` values its OpenID provider issues, lowest first.

The catalogue states per online service the level a dossier needs, the events carry it, and every
service judges a token's ``acr`` against it; so the values and their order live here, beside the
event contracts, where all of them can read them.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: A level of assurance (``acr`` value). Password alone < a second factor (TOTP) < verified in
#: person (level 2 of the national e-ID, with a second factor).
AcrValue = Literal["urn:portal:acr:password", "urn:portal:acr:mfa", "urn:portal:acr:in-person"]

ACR_LEVELS: Final[tuple[AcrValue, ...]] = get_args(AcrValue)
PASSWORD: Final[AcrValue] = "urn:portal:acr:password"  # noqa: S105 - a level name, not a password
SECOND_FACTOR: Final[AcrValue] = "urn:portal:acr:mfa"
IN_PERSON: Final[AcrValue] = "urn:portal:acr:in-person"


def acr_rank(acr: object) -> int:
    """The position of ``acr`` among :data:`ACR_LEVELS`; -1 for anything else (no ``acr``, a value
    this portal does not issue), which is below every level."""
    return ACR_LEVELS.index(acr) if acr in ACR_LEVELS else -1


def meets(acr: object, required: AcrValue) -> bool:
    """Whether a sign-in at ``acr`` is as sure as ``required`` asks. The lowest level is the floor
    of every token (machine clients' included, which have no ``acr``): asking for it asks nothing."""
    return required == ACR_LEVELS[0] or acr_rank(acr) >= acr_rank(required)
