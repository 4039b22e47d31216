"""The public lookup of a dossier by its code and a verifier, bounded against guessing.

- **The verifier** is the receipt's lookup secret (``domain.receipt``: random, 50 bits) for a
  dossier filed since receipts carry one; for one filed before, or mirrored from an agency's
  system, the last 4 digits of the applicant's identifier (what its receipt asked for). Either
  is compared in constant time; a wrong one answers like an unknown code (404).
- **Wrong lookups are limited** per dossier code, whatever the address (a code's verifier can
  be guessed by many addresses at once), and per client address (one address guessing across
  many codes): every lookup is counted against both keys first, in the database, so that every
  API process and replica shares the count and concurrent guesses cannot slip past it; a right
  one takes its count back. Over either limit the answer is 429 with ``Retry-After`` (the
  window's remaining seconds), even for the right verifier: the limit is what makes guessing
  useless, and the owner still sees the dossier signed in.
- **Every refused lookup is counted** in ``dossier_lookup_failures_total{reason}``
  (``wrong-verifier``, ``unknown-code``, ``limited``) for operators.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from services.kit.db import Database
from services.kit.errors import NotFound, RateLimited

from ..adapters import lookups
from ..domain.dossier import Dossier
from ..domain.receipt import read_lookup_secret
from . import tracking
from .unit_of_work import DossierUnitOfWork

LOOKUP_FAILURES = Counter("dossier_lookup_failures_total", "Public dossier lookups refused, by reason", ["reason"])
for _reason in ("wrong-verifier", "unknown-code", "limited"):
    LOOKUP_FAILURES.labels(_reason)  # exported at 0 from the start: a rate needs a first sample


@dataclass(frozen=True)
class LookupLimits:
    per_code: int
    per_address: int
    window_seconds: float


def address_key(address: str) -> str:
    """The key an address is counted under: an IPv4 address, or an IPv6 address's /64 (one
    subscriber's block: counting single addresses there would count nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"addr:{address[:64]}"
    if ip.version == 6:
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


def verifier_matches(dossier: Dossier, verifier: str) -> bool:
    secret = dossier.lookup_secret
    if secret:
        typed = read_lookup_secret(verifier) or ""
        return hmac.compare_digest(secret.encode(), typed.encode())
    expected = tracking.verifier_of(dossier.applicant.identifier)
    return hmac.compare_digest(expected.encode(), verifier.encode())


async def lookup(uow: DossierUnitOfWork, code: str, verifier: str, address: str, limits: LookupLimits) -> Dossier:
    """Dossier ``code`` when ``verifier`` opens it and neither the code nor ``address`` is over
    its limit of wrong lookups (the caller shows its public view: status and dates only)."""
    keys = {f"code:{code}": limits.per_code, address_key(address): limits.per_address}
    counts = await uow.lookups.count(list(keys), limits.window_seconds)
    over = [counts[key][1] for key, limit in keys.items() if counts[key][0] > limit]
    if over:
        LOOKUP_FAILURES.labels("limited").inc()
        wait = max(1, math.ceil(max(over)))
        raise RateLimited(wait, f"Too many wrong lookups; retry after {wait} seconds.")
    dossier = await uow.dossiers.by_code(code)
    if dossier is None or not verifier_matches(dossier, verifier):
        LOOKUP_FAILURES.labels("unknown-code" if dossier is None else "wrong-verifier").inc()
        raise NotFound("No dossier with this code and verifier.")
    await uow.lookups.uncount(list(keys))
    return dossier


async def purge_counts(db: Database, settings: Any) -> None:
    """The worker's periodic job: drop the counts whose window is over."""
    async with db.transaction() as uow:
        await lookups.purge(uow.connection, settings.lookup_window_seconds)
