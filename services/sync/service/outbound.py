"""Use cases of outbound delivery: what the responsible agency's system must act on reaches it
— the dossier citizens file, the documents they send when the agency asks for more (status 5),
their requests to withdraw (7) — pushed to its registered endpoint (signed, retried with
backoff over hours, then ``dead`` until an operator redelivers) or pulled from the feed and
acknowledged; in the portal's JSON or the provinces' ``DongBoHoSoMC`` (``domain.outgoing``).

Claiming and delivering are separate: a worker leases due deliveries in one short transaction
(``SKIP LOCKED``, so several workers share the work), calls the agencies outside any
transaction, then records each attempt. A worker that dies mid-way leaves leases that expire,
and the deliveries are tried again: at least once; the agency drops repeats by ``X-Delivery-Id``.

Each attempt resolves the agency's host once, checks every address, and connects to the first
checked address itself (the host name kept for TLS — SNI and the certificate check — and for
``Host``): the name is never resolved again between the check and the connection (DNS
rebinding), and connections are not kept for another delivery.

The feed lists an agency's pending deliveries in delivery-id order: the order the portal
recorded them (for one dossier, the order things happened: its filing, then each supplement
or withdrawal), which is close to but not exactly filing order across dossiers (they reach
sync through different partitions). Ids are committed in order, so a cursor never skips one.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet

from contracts.events.dossier import DossierSubmitted, DossierSupplemented, WithdrawalRequested
from services.kit import webhooks
from services.kit.consumer import event_data
from services.kit.crypto import fernet
from services.kit.db import Database, UnitOfWork
from services.kit.errors import NotFound, ValidationFailed
from services.kit.logging import get_logger

from ..adapters import repository as repo
from ..domain.delivery import EndpointRefused, address_allowed, backoff, check_endpoint_url
from ..domain.outgoing import render
from ..settings import SyncSettings
from .inbound import Pusher

log = get_logger(__name__)

SUBMITTED = DossierSubmitted.TYPE
SUPPLEMENTED = DossierSupplemented.TYPE
WITHDRAWAL_REQUESTED = WithdrawalRequested.TYPE
MAX_FEED_PAGE = 200


# --- what to deliver ------------------------------------------------------------------------


async def record_submission(uow: UnitOfWork, data: Mapping[str, Any]) -> None:
    """A dossier was filed: one delivery to its agency (a repeated event adds nothing)."""
    event = event_data(DossierSubmitted, data)
    await repo.add_delivery(uow.connection, {"kind": "filing", "delivery_key": event.dossier_id,
                                          "dossier_id": event.dossier_id, "dossier_code": event.code,
                                          "agency_code": event.agency_code, "payload": dict(data),
                                          "state": "pending"})  # fmt: skip


async def record_supplement(uow: UnitOfWork, data: Mapping[str, Any]) -> None:
    """The citizen answered the agency's request for documents: one delivery per request."""
    event = event_data(DossierSupplemented, data)
    await repo.add_delivery(uow.connection, {"kind": "supplement", "delivery_key": f"supplement:{event.supplement_id}",
                                          "dossier_id": event.dossier_id, "dossier_code": event.code,
                                          "agency_code": event.agency_code, "payload": dict(data),
                                          "state": "pending"})  # fmt: skip


async def record_withdrawal(uow: UnitOfWork, data: Mapping[str, Any]) -> None:
    """The citizen asked to withdraw the dossier: one delivery per request."""
    event = event_data(WithdrawalRequested, data)
    key = f"withdrawal:{event.dossier_id}:{event.requested_at.isoformat()}"
    await repo.add_delivery(uow.connection, {"kind": "withdrawal", "delivery_key": key,
                                          "dossier_id": event.dossier_id, "dossier_code": event.code,
                                          "agency_code": event.agency_code, "payload": dict(data),
                                          "state": "pending"})  # fmt: skip


# --- the registry ---------------------------------------------------------------------------


def _cipher(settings: SyncSettings) -> Fernet:
    return fernet(settings.endpoint_secret_key.get_secret_value())


def _secrets(settings: SyncSettings, sealed: bytes | None) -> list[str]:
    return json.loads(_cipher(settings).decrypt(sealed)) if sealed else []


async def register_endpoint(
    uow: UnitOfWork,
    settings: SyncSettings,
    agency_code: str,
    mode: str,
    url: str | None,
    secrets: Sequence[str],
    *,
    fmt: str = "portal",
) -> dict[str, Any]:
    dev = settings.dev_allow_private_endpoints
    if mode == "push":
        if not url:
            raise ValidationFailed(
                [{"field": "body.url", "location": "body", "message": "A push endpoint needs a URL."}]
            )
        if not secrets:
            message = "A push endpoint needs a signing secret."
            raise ValidationFailed([{"field": "body.secrets", "location": "body", "message": message}])
        try:
            check_endpoint_url(url, allow_http=dev, allow_private=dev)
        except EndpointRefused as exc:
            raise ValidationFailed([{"field": "body.url", "location": "body", "message": str(exc)}]) from exc
    sealed = _cipher(settings).encrypt(json.dumps(list(secrets)).encode()) if secrets else None
    await repo.save_endpoint(uow.connection, {"agency_code": agency_code, "mode": mode, "format": fmt,
                                           "url": url if mode == "push" else None, "secrets": sealed})  # fmt: skip
    return {"agency_code": agency_code, "mode": mode, "format": fmt, "url": url if mode == "push" else None,
            "secrets": len(secrets)}  # fmt: skip


# --- pushing --------------------------------------------------------------------------------


async def _resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (the system's resolver, once)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _checked_address(url: str, allow_private: bool) -> tuple[str | None, str | None]:
    """(the address to connect to, None) when every address of the URL's host is one we may
    call; else (None, why not)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await _resolve(host, port)
    except OSError as exc:
        return None, f"cannot resolve {host}: {exc.strerror or exc}"
    refused = sorted(a for a in addresses if not address_allowed(a, allow_private=allow_private))
    if refused:
        return None, f"{host} resolves to a non-public address {refused[0]}"
    if not addresses:
        return None, f"cannot resolve {host}: no address"
    return addresses[0], None


def pinned(url: str, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL to ``address`` itself, the ``Host`` header and the request extensions that keep
    the original host name for TLS (SNI and the certificate's name check)."""
    original = httpx.URL(url)
    default_port = {"https": 443, "http": 80}.get(original.scheme)
    host_header = original.host if original.port in (None, default_port) else f"{original.host}:{original.port}"
    if ":" in original.host:  # an IPv6 literal keeps its brackets in Host
        host_header = host_header.replace(original.host, f"[{original.host}]", 1)
    extensions = {"sni_hostname": original.host} if original.scheme == "https" else {}
    return original.copy_with(host=address.split("%", 1)[0]), {"Host": host_header}, extensions


async def attempt(client: httpx.AsyncClient, settings: SyncSettings, claim: Mapping[str, Any]) -> dict[str, Any]:
    """One delivery attempt: (status code or None, error or None, duration)."""
    started = time.perf_counter()
    status, error = None, None
    address, blocked = await _checked_address(claim["url"], settings.dev_allow_private_endpoints)
    if blocked or address is None:
        error = blocked
    else:
        content = render(claim.get("kind") or "filing", claim["payload"], claim.get("format") or "portal")
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
        secrets = _secrets(settings, claim["secrets"])
        target, host, extensions = pinned(claim["url"], address)
        headers = {**host, "Content-Type": "application/json", "X-Delivery-Id": str(claim["id"]),
                   "X-Delivery-Kind": claim.get("kind") or "filing", "X-Dossier-Id": claim["dossier_id"],
                   "X-Signature": webhooks.sign(body, secrets[0], int(time.time()))}  # fmt: skip
        try:
            answer = await client.post(target, content=body, headers=headers, extensions=extensions)
            status = answer.status_code
            if 300 <= status < 400:
                error = f"redirect to {answer.headers.get('location', '?')!r} not followed"
            elif not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
    return {"status_code": status, "error": error, "duration_ms": int((time.perf_counter() - started) * 1000)}


async def record_attempt(uow: UnitOfWork, settings: SyncSettings, claim: Mapping[str, Any],
                         result: Mapping[str, Any], now: datetime) -> str:  # fmt: skip
    current = await repo.delivery(uow.connection, claim["id"], lock=True)
    await repo.add_attempt(uow.connection, {"delivery_id": claim["id"], **result})
    if current is None or current["state"] != "pending":
        return current["state"] if current else "gone"
    failures = current["attempts"] + 1
    if result["error"] is None:
        await repo.update_delivery(uow.connection, claim["id"], {"state": "delivered", "attempts": failures,
                                                               "delivered_at": now, "last_error": None})  # fmt: skip
        return "delivered"
    if failures >= settings.delivery_max_attempts:
        await repo.update_delivery(uow.connection, claim["id"], {"state": "dead", "attempts": failures,
                                                               "last_error": result["error"]})  # fmt: skip
        log.warning("delivery dead", agency_code=current["agency_code"], delivery_id=claim["id"], attempts=failures)
        return "dead"
    wait = backoff(failures, base=settings.delivery_backoff_base_seconds)
    await repo.update_delivery(uow.connection, claim["id"], {"attempts": failures, "next_attempt_at": now + wait,
                                                           "last_error": result["error"]})  # fmt: skip
    return "retrying"


async def deliver_due(db: Database, settings: SyncSettings, now: datetime | None = None) -> dict[str, int]:
    """One round: lease what is due, deliver it concurrently (bounded), record every attempt."""
    now = now or datetime.now(UTC)
    async with db.transaction() as uow:
        claims = await repo.claim_due(uow.connection, now, now + timedelta(seconds=settings.delivery_lease_seconds),
                                      settings.delivery_batch_size)  # fmt: skip
    if not claims:
        return {}
    gate = asyncio.Semaphore(settings.delivery_concurrency)
    counts: dict[str, int] = {}
    # No connection is kept for another delivery: each one is made to the address checked for it.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=settings.delivery_timeout_seconds, follow_redirects=False,
                                 trust_env=False, limits=no_reuse) as client:  # fmt: skip

        async def one(claim: Mapping[str, Any]) -> None:
            async with gate:
                result = await attempt(client, settings, claim)
            async with db.transaction() as uow:
                outcome = await record_attempt(uow, settings, claim, result, datetime.now(UTC))
            counts[outcome] = counts.get(outcome, 0) + 1

        await asyncio.gather(*(one(c) for c in claims))
    return counts


# --- pulling --------------------------------------------------------------------------------


def _feed_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """One delivery as the feed lists it: ``content`` is what the agency reads (its format);
    ``dossier`` is the same for a filing (the field the feed had before other kinds)."""
    content = render(row["kind"], row["payload"], row.get("format") or "portal")
    item = {"delivery_id": row["id"], "kind": row["kind"], "dossier_id": row["dossier_id"],
            "dossier_code": row["dossier_code"], "agency_code": row["agency_code"], "content": content}  # fmt: skip
    if row["kind"] == "filing":
        item["dossier"] = content
    return item


async def pull(uow: UnitOfWork, pusher: Pusher, after: int, limit: int) -> dict[str, Any]:
    rows = await repo.feed(uow.connection, sorted(pusher.agencies), after, min(limit, MAX_FEED_PAGE))
    return {"items": [_feed_item(r) for r in rows], "next_after": rows[-1]["id"] if rows else after}


async def acknowledge(uow: UnitOfWork, pusher: Pusher, ids: Sequence[int]) -> dict[str, Any]:
    done = await repo.acknowledge(uow.connection, sorted(pusher.agencies), ids, datetime.now(UTC))
    return {"acknowledged": done}


# --- operators ------------------------------------------------------------------------------


async def failing(uow: UnitOfWork) -> dict[str, Any]:
    return {"agencies": [{**r, "oldest": r["oldest"].isoformat()} for r in await repo.failing(uow.connection)]}


async def delivery_detail(uow: UnitOfWork, delivery_id: int) -> dict[str, Any]:
    row = await repo.delivery(uow.connection, delivery_id)
    if row is None:
        raise NotFound("No such delivery.")
    attempts = await repo.attempts_of(uow.connection, delivery_id)
    return {"delivery_id": row["id"], "dossier_code": row["dossier_code"], "agency_code": row["agency_code"],
            "state": row["state"], "attempts": row["attempts"], "last_error": row["last_error"],
            "next_attempt_at": row["next_attempt_at"].isoformat(),
            "history": [{"at": a["at"].isoformat(), "status_code": a["status_code"], "error": a["error"],
                         "duration_ms": a["duration_ms"]} for a in attempts]}  # fmt: skip


async def redeliver(
    uow: UnitOfWork, *, delivery_id: int | None = None, agency_code: str | None = None
) -> dict[str, int]:
    return {"redelivering": await repo.revive(uow.connection, datetime.now(UTC), delivery_id=delivery_id,
                                              agency_code=agency_code)}  # fmt: skip
