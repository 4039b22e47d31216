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
   or query, and no IP literal of a private, loopback, link-local or reserved range; at every
   attempt the host's addresses are resolved once and all must be public, and the connection
   goes to a checked address (the name is not resolved again: no DNS-rebinding window).
   Redirects are never followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import ipaddress
import socket
from datetime import timedelta
from urllib.parse import urlsplit

BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 2 * 3600
MAX_URL_LENGTH = 2000


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
    return url
