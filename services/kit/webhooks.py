"""Signed webhooks: the signature of a POSTed body and how it is checked. Pure Python.

Used both ways: a bank signs its transfer notifications to the portal, and the portal signs the
dossiers it delivers to agency systems. The sender signs in the header
``X-Signature: t=<unix seconds>,v1=<hex>``. The rules:

1. **The signature** is HMAC-SHA256, in hex, under a secret shared with the bank, over the
   timestamp, a dot and the raw body exactly as received (``f"{t}.".encode() + body``): the body
   is never parsed and re-serialised before it is checked, and the timestamp cannot be changed
   without breaking the signature.
2. **Secrets rotate.** The caller passes every secret in force (the current one and, while the bank
   switches, the previous one); a header may carry several ``v1=`` signatures. The notification
   is genuine when any of them matches any of the secrets, each compared in constant time. Empty
   secrets are ignored, so a missing setting never makes an unsigned body pass.
3. **Old and future notifications are refused** (``stale``): the timestamp must be within the
   tolerance (5 minutes) of the caller's clock in either direction, which bounds replays.
4. **Refusals name their reason**, checked in this order: ``malformed`` (no header, no ``t``, ``t``
   twice or not a whole number, no ``v1``), ``stale``, ``mismatch``. Other keys in the header
   (a future ``v2``) are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Literal

HEADER = "X-Signature"
DEFAULT_TOLERANCE_SECONDS = 300

Reason = Literal["malformed", "stale", "mismatch"]

_SECONDS = re.compile(r"[0-9]{1,12}")


class SignatureRefused(Exception):
    """A notification whose signature is not accepted; ``reason`` says why."""

    def __init__(self, reason: Reason, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason: Reason = reason


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``X-Signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError(f"The timestamp is whole unix seconds, not {timestamp!r}.")
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not isinstance(header, str) or not header.strip():
        raise SignatureRefused("malformed", "No signature header.")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureRefused("malformed", f"Signature header item without '=': {item.strip()!r}.")
        if key == "t":
            timestamps.append(value.strip())
        elif key == "v1":
            signatures.append(value.strip())
    if len(timestamps) != 1 or not _SECONDS.fullmatch(timestamps[0]):
        raise SignatureRefused("malformed", "The signature header needs exactly one whole-number timestamp t.")
    if not signatures:
        raise SignatureRefused("malformed", "The signature header carries no v1 signature.")
    return int(timestamps[0]), signatures


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """The timestamp of a genuine notification; :class:`SignatureRefused` otherwise (rules 2–4)."""
    timestamp, signatures = _parse(header)
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureRefused("stale", f"Signed at {timestamp}, {now - timestamp} s from now {now}.")
    expected = [_digest(secret, timestamp, body).encode() for secret in secrets if secret]
    matched = False
    for candidate in signatures:
        given = candidate.lower().encode("utf-8", "replace")
        for digest in expected:
            matched |= hmac.compare_digest(given, digest)
    if not matched:
        raise SignatureRefused("mismatch", "No signature matches a secret in force.")
    return timestamp
