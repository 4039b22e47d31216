"""Delivering to agency systems: when to try again, which endpoints and addresses may
be called at all. Pure Python.

1. **At least once, in effect once.** A delivery is retried until the agency answers 2xx; every
   attempt carries the same ``X-Delivery-Id`` (and the dossier id), so the agency drops a
   repeat. Nothing is lost: a delivery that keeps failing goes to ``dead`` and waits for an
   operator's redelivery.
2. **Backoff over hours**: the n-th failure waits ``base × 2^(n-1)`` (30 s, 1 min, 2 min, … capped
   at 2 h); with the default 12 attempts the last comes about 10 hours after the first.
3. **No request decides where we connect** (SSRF): endpoints come from the registry only; a
   registered URL is ``https`` (``http`` only in development), carries no credentials, fragment
   or query, and no IP literal of a private, loopback, link-local or reserved range nor a
   ``localhost`` name; outside development it names its host by a DNS name
   (:data:`ENDPOINT_URL_PATTERN`: the API document states it, and the server holds it); at every
   attempt the host's addresses are resolved once and all must be public, and the connection
   goes to a checked address (the name is not resolved again: no DNS-rebinding window).
   Redirects are never followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from contracts.json import EventData

from .outgoing import CompatEnvelope

BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 2 * 3600
MAX_URL_LENGTH = 2000
# An agency endpoint outside development: ``https://``, a host named by its DNS name (labels of
# letters, digits and hyphens, the last one starting with a letter, so never an address in any
# spelling), an optional port, and a path of URL characters; no credentials, query or fragment.
# The API document states it as the URL's pattern (an ECMA 262 and Python regex alike).
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_TOP_LABEL = "[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?"
ENDPOINT_URL_PATTERN = rf"^https://({_LABEL}\.)+{_TOP_LABEL}\.?(:[0-9]{{1,5}})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
_ENDPOINT_URL = re.compile(ENDPOINT_URL_PATTERN)


class EndpointRefused(ValueError):
    """A URL that may not be an agency endpoint; the message says why."""


def backoff(failures: int, *, base: int = BASE_BACKOFF_SECONDS, cap: int = MAX_BACKOFF_SECONDS) -> timedelta:
    """How long to wait after the ``failures``-th failed attempt (1 for the first)."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    return timedelta(seconds=min(cap, base * 2 ** min(failures - 1, 30)))


def address_allowed(address: str, *, allow_private: bool = False) -> bool:
    """A resolved address we may connect to: public only (``allow_private`` in development).
    An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo) is judged by that too."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if allow_private:
        return True
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        return all(address_allowed(str(v4)) for v4 in embedded if v4 is not None)
    return True


def _numeric_host(host: str) -> str | None:
    """The IPv4 address a host written as a number stands for (``2130706433``, ``0x7f000001``,
    ``0177.1``: forms the system's resolver reads as addresses), or None."""
    if not host or not all(c in "0123456789abcdefABCDEFxX." for c in host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def check_endpoint_url(url: str, *, allow_http: bool = False, allow_private: bool = False) -> str:
    """The URL, if it may be registered as an agency endpoint; else :class:`EndpointRefused`."""
    if len(url) > MAX_URL_LENGTH:
        raise EndpointRefused("The URL is too long.")
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        raise EndpointRefused("An agency endpoint is an https URL.")
    if parts.username or parts.password:
        raise EndpointRefused("An agency endpoint carries no credentials in its URL.")
    if parts.fragment or parts.query:
        raise EndpointRefused("An agency endpoint has no query or fragment.")
    host = parts.hostname
    if not host:
        raise EndpointRefused("An agency endpoint names a host.")
    try:
        literal: str | None = str(ipaddress.ip_address(host))
    except ValueError:
        literal = _numeric_host(host)
    if literal is not None and not address_allowed(literal, allow_private=allow_private):
        raise EndpointRefused("An agency endpoint may not be a private, loopback or reserved address.")
    name = host.rstrip(".").lower()
    if (name == "localhost" or name.endswith(".localhost")) and not allow_private:  # RFC 6761: always loopback
        raise EndpointRefused("An agency endpoint may not be this machine.")
    if not (allow_http or allow_private) and not _ENDPOINT_URL.fullmatch(url):
        raise EndpointRefused("An agency endpoint names its host by a DNS name, not an address: "
                              "https://name.example.vn[:port][/path], the path in URL characters.")  # fmt: skip
    return url


# --- the deliveries and the registry ------------------------------------------------------------

Kind = Literal["filing", "supplement", "withdrawal"]
State = Literal["pending", "delivered", "dead"]
Mode = Literal["push", "pull"]
EndpointFormat = Literal["portal", "compat"]
AttemptOutcome = Literal["delivered", "retrying", "dead", "gone"]

# The event's data as the portal published it (its model is the event's contract: DossierSubmitted,
# DossierSupplemented, WithdrawalRequested): delivered as it is (the portal format) or rendered into
# the provinces' (domain.outgoing), so it is kept as the event's JSON, not re-typed on its way.
Payload = EventData


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an agency takes its dossiers: pushed to ``url`` (signed with ``secrets``, sealed as
    the registry keeps them) or pulled from the feed; in the portal's JSON or the provinces'."""

    agency_code: str
    mode: Mode
    format: EndpointFormat = "portal"
    url: str | None = None
    secrets: bytes | None = None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A fact to deliver to the dossier's agency, once (``delivery_key`` names the fact)."""

    kind: Kind
    delivery_key: str
    dossier_id: str
    dossier_code: str
    agency_code: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt met: the agency's HTTP status (None when none came) and the error."""

    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """One recorded attempt."""

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(slots=True)
class Delivery:
    """One delivery to an agency and where it stands."""

    id: int
    kind: Kind
    dossier_id: str
    dossier_code: str
    agency_code: str
    payload: Payload
    state: State
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    delivered_at: datetime | None = None

    def attempted(
        self, result: AttemptResult, now: datetime, *, max_attempts: int, backoff_base: int
    ) -> AttemptOutcome:
        """Take an attempt's result (rule 1, 2): delivered on success; else tried again after
        its backoff, or dead after the last attempt. Nothing changes unless it is pending."""
        if self.state == "delivered":
            return "delivered"
        if self.state == "dead":
            return "dead"
        self.attempts += 1
        if result.error is None:
            self.state, self.delivered_at, self.last_error = "delivered", now, None
            return "delivered"
        self.last_error = result.error
        if self.attempts >= max_attempts:
            self.state = "dead"
            return "dead"
        self.next_attempt_at = now + backoff(self.attempts, base=backoff_base)
        return "retrying"


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery leased by a worker, with its agency's endpoint."""

    delivery: Delivery
    url: str
    secrets: bytes | None
    format: EndpointFormat = "portal"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A pending delivery as the feed reads it, with its agency's format."""

    delivery: Delivery
    format: EndpointFormat


@dataclass(frozen=True, slots=True)
class FailingAgency:
    """An agency whose deliveries fail: how many are dead, how many retrying, since when."""

    agency_code: str
    dead: int
    retrying: int
    oldest: datetime
    an_error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryHistory:
    """A delivery and its attempts, oldest first (what an operator reads)."""

    delivery: Delivery
    attempts: list[Attempt]


@dataclass(frozen=True, slots=True)
class FeedItem:
    """A delivery as the feed lists it: ``content`` is what the agency reads, in its format."""

    delivery_id: int
    kind: Kind
    dossier_id: str
    dossier_code: str
    agency_code: str
    content: EventData | CompatEnvelope
