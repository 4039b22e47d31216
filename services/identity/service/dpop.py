"""DPoP at the token and PAR endpoints (RFC 9449 §5, §10.1): the proof a client sends with its
request, checked, and its ``jti`` remembered in PostgreSQL so that a replay is refused on every
replica. The key's thumbprint is what the tokens are then bound to (``cnf.jkt``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.kit import dpop

from ..domain.oauth import Client, OAuthError
from .unit_of_work import IdentityUnitOfWork


def invalid(description: str) -> OAuthError:
    return OAuthError("invalid_dpop_proof", description)


async def proof_key(
    uow: IdentityUnitOfWork, client: Client, proofs: Sequence[str], url: str, now: datetime
) -> str | None:
    """The thumbprint of the key of the request's DPoP proof (one ``DPoP`` header, for ``POST``
    ``url``), or None without a proof from a client that does not need one."""
    if len(proofs) > 1:
        raise invalid("Send one DPoP header, not several.")
    if not proofs:
        if client.requires_dpop:
            raise invalid("This client must send a DPoP proof with its token requests.")
        return None
    try:
        proof = dpop.check(proofs[0], method="POST", url=url, now=now.timestamp())
    except dpop.DpopProofInvalid as exc:
        raise invalid(exc.detail or "The DPoP proof is not valid.") from None
    forget_at = datetime.fromtimestamp(proof.iat, tz=now.tzinfo) + timedelta(
        seconds=dpop.MAX_AGE_SECONDS + dpop.MAX_FUTURE_SECONDS
    )
    if not await uow.dpop_proofs.remember(proof.jkt, proof.jti, max(forget_at, now)):
        raise invalid("The DPoP proof was already used (jti replayed).")
    return proof.jkt
