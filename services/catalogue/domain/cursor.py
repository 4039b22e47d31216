"""Keyset pagination cursors: an opaque token holding the (rank, id) of the last row seen
and a fingerprint of the query it belongs to, so a cursor cannot be edited or reused with
other filters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

# Not a secret: the checksum only detects edited or truncated cursors.
_KEY = b"catalogue-cursor-v1"


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Position:
    """The last row of a page: the next page starts strictly after it."""

    rank: float
    id: str


def fingerprint(query: dict[str, object]) -> str:
    canonical = json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(position: Position, query_fingerprint: str) -> str:
    payload = json.dumps([position.rank, position.id, query_fingerprint], separators=(",", ":")).encode()
    mac = hmac.new(_KEY, payload, hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def decode_cursor(token: str, query_fingerprint: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, payload = raw[:8], raw[8:]
        if not hmac.compare_digest(mac, hmac.new(_KEY, payload, hashlib.sha256).digest()[:8]):
            raise InvalidCursor("The cursor is not one this service issued.")
        rank, id_, fp = json.loads(payload)
    except InvalidCursor:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("The cursor is malformed.") from exc
    if fp != query_fingerprint:
        raise InvalidCursor("The cursor belongs to another query.")
    if not isinstance(rank, int | float) or not isinstance(id_, str):
        raise InvalidCursor("The cursor is malformed.")
    return Position(float(rank), id_)
