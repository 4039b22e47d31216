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
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet

from contracts.events.dossier import DossierSubmitted, DossierSupplemented, WithdrawalRequested
from services.kit import webhooks
from services.kit.consumer import event_data
from services.kit.crypto import fernet
from services.kit.db import Database
from services.kit.errors import NotFound, ValidationFailed
from services.kit.logging import get_logger

from ..domain.batches import AgencyClient
from ..domain.delivery import (
    AttemptOutcome,
    AttemptResult,
    Claim,
    DeliveryHistory,
    Endpoint,
    EndpointFormat,
    EndpointRefused,
    FailingAgency,
    FeedItem,
    Mode,
    NewDelivery,
    Payload,
    address_allowed,
    check_endpoint_url,
)
from ..domain.outgoing import render
from ..settings import SyncSettings
from .unit_of_work import SyncUnitOfWork, sync_unit

log = get_logger(__name__)

MAX_FEED_PAGE = 200


# --- what to deliver ------------------------------------------------------------------------
# ``data`` is the event's JSON as the dossier service published it: read by its contract model
# here, and kept as it is to be delivered (the portal format is that JSON, byte for byte).


async def record_submission(uow: SyncUnitOfWork, data: Payload) -> None:
    """A dossier was filed: one delivery to its agency (a repeated event adds nothing)."""
    event = event_data(DossierSubmitted, data)
    await uow.deliveries.add(NewDelivery("filing", event.dossier_id, event.dossier_id, event.code, event.agency_code,
                                         dict(data)))  # fmt: skip


async def record_supplement(uow: SyncUnitOfWork, data: Payload) -> None:
    """The citizen answered the agency's request for documents: one delivery per request."""
    event = event_data(DossierSupplemented, data)
    await uow.deliveries.add(NewDelivery("supplement", f"supplement:{event.supplement_id}", event.dossier_id,
                                         event.code, event.agency_code, dict(data)))  # fmt: skip


async def record_withdrawal(uow: SyncUnitOfWork, data: Payload) -> None:
    """The citizen asked to withdraw the dossier: one delivery per request."""
    event = event_data(WithdrawalRequested, data)
    key = f"withdrawal:{event.dossier_id}:{event.requested_at.isoformat()}"
    await uow.deliveries.add(NewDelivery("withdrawal", key, event.dossier_id, event.code, event.agency_code,
                                         dict(data)))  # fmt: skip


# --- the registry ---------------------------------------------------------------------------


def _cipher(settings: SyncSettings) -> Fernet:
    return fernet(settings.endpoint_secret_key.get_secret_value())


def _secrets(settings: SyncSettings, sealed: bytes | None) -> list[str]:
    if not sealed:
        return []
    opened: list[str] = json.loads(_cipher(settings).decrypt(sealed))
    return opened


def _refused(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "location": "body", "message": message}])


async def register_endpoint(
    uow: SyncUnitOfWork,
    settings: SyncSettings,
    agency_code: str,
    mode: Mode,
    url: str | None,
    secrets: Sequence[str],
    *,
    fmt: EndpointFormat = "portal",
) -> Endpoint:
    """Where the agency takes its dossiers from now on (its secrets sealed as kept)."""
    dev = settings.dev_allow_private_endpoints
    if mode == "push":
        if not url:
            raise _refused("body.url", "A push endpoint needs a URL.")
        if not secrets:
            raise _refused("body.secrets", "A push endpoint needs a signing secret.")
        try:
            check_endpoint_url(url, allow_http=dev, allow_private=dev)
        except EndpointRefused as exc:
            raise _refused("body.url", str(exc)) from exc
    sealed = _cipher(settings).encrypt(json.dumps(list(secrets)).encode()) if secrets else None
    endpoint = Endpoint(agency_code, mode, fmt, url if mode == "push" else None, sealed)
    await uow.endpoints.save(endpoint)
    return endpoint


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


def pinned(url: str, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The URL to ``address`` itself, the ``Host`` header and the request extensions that keep
    the original host name for TLS (SNI and the certificate's name check)."""
    original = httpx.URL(url)
    default_port = {"https": 443, "http": 80}.get(original.scheme)
    host_header = original.host if original.port in (None, default_port) else f"{original.host}:{original.port}"
    if ":" in original.host:  # an IPv6 literal keeps its brackets in Host
        host_header = host_header.replace(original.host, f"[{original.host}]", 1)
    extensions = {"sni_hostname": original.host} if original.scheme == "https" else {}
    return original.copy_with(host=address.split("%", 1)[0]), {"Host": host_header}, extensions


async def try_delivery(client: httpx.AsyncClient, settings: SyncSettings, claim: Claim) -> AttemptResult:
    """One delivery attempt: what it met (status code or None, error or None, duration)."""
    started = time.perf_counter()
    status, error = None, None
    delivery = claim.delivery
    address, blocked = await _checked_address(claim.url, settings.dev_allow_private_endpoints)
    if blocked or address is None:
        error = blocked
    else:
        content = render(delivery.kind, delivery.payload, claim.format)
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
        secrets = _secrets(settings, claim.secrets)
        target, host, extensions = pinned(claim.url, address)
        headers = {**host, "Content-Type": "application/json", "X-Delivery-Id": str(delivery.id),
                   "X-Delivery-Kind": delivery.kind, "X-Dossier-Id": delivery.dossier_id,
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
    return AttemptResult(status, error, int((time.perf_counter() - started) * 1000))


async def record_attempt(
    uow: SyncUnitOfWork, settings: SyncSettings, delivery_id: int, result: AttemptResult, now: datetime
) -> AttemptOutcome:
    """Record an attempt and what it makes of the delivery (delivered, retrying, dead)."""
    current = await uow.deliveries.get(delivery_id, lock=True)
    await uow.deliveries.add_attempt(delivery_id, result)
    if current is None:
        return "gone"
    was = current.state
    outcome = current.attempted(result, now, max_attempts=settings.delivery_max_attempts,
                                backoff_base=settings.delivery_backoff_base_seconds)  # fmt: skip
    if was == "pending":
        await uow.deliveries.update(current)
    if outcome == "dead" and was == "pending":
        log.warning("delivery dead", agency_code=current.agency_code, delivery_id=delivery_id,
                    attempts=current.attempts)  # fmt: skip
    return outcome


async def deliver_due(db: Database, settings: SyncSettings, now: datetime | None = None) -> dict[str, int]:
    """One round: lease what is due, deliver it concurrently (bounded), record every attempt;
    how many deliveries came to each outcome."""
    now = now or datetime.now(UTC)
    async with db.transaction() as unit:
        claims = await sync_unit(unit).deliveries.claim_due(
            now, now + timedelta(seconds=settings.delivery_lease_seconds), settings.delivery_batch_size
        )
    if not claims:
        return {}
    gate = asyncio.Semaphore(settings.delivery_concurrency)
    counts: dict[str, int] = {}
    # No connection is kept for another delivery: each one is made to the address checked for it.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=settings.delivery_timeout_seconds, follow_redirects=False,
                                 trust_env=False, limits=no_reuse) as client:  # fmt: skip

        async def one(claim: Claim) -> None:
            async with gate:
                result = await try_delivery(client, settings, claim)
            async with db.transaction() as unit:
                outcome = await record_attempt(sync_unit(unit), settings, claim.delivery.id, result, datetime.now(UTC))
            counts[outcome] = counts.get(outcome, 0) + 1

        await asyncio.gather(*(one(c) for c in claims))
    return counts


# --- pulling --------------------------------------------------------------------------------


async def pull(uow: SyncUnitOfWork, client: AgencyClient, after: int, limit: int) -> list[FeedItem]:
    """The client's agencies' pending deliveries after the delivery id ``after``, in id order;
    ``content`` in each agency's format."""
    entries = await uow.deliveries.feed(client.agencies, after, min(limit, MAX_FEED_PAGE))
    return [
        FeedItem(e.delivery.id, e.delivery.kind, e.delivery.dossier_id, e.delivery.dossier_code,
                 e.delivery.agency_code, render(e.delivery.kind, e.delivery.payload, e.format))
        for e in entries
    ]  # fmt: skip


async def acknowledge(uow: SyncUnitOfWork, client: AgencyClient, ids: Sequence[int]) -> list[int]:
    """The client's agencies' pending deliveries among ``ids`` delivered now; their ids."""
    return await uow.deliveries.acknowledge(client.agencies, ids, datetime.now(UTC))


# --- operators ------------------------------------------------------------------------------


async def failing(uow: SyncUnitOfWork) -> list[FailingAgency]:
    return await uow.deliveries.failing()


async def delivery_detail(uow: SyncUnitOfWork, delivery_id: int) -> DeliveryHistory:
    found = await uow.deliveries.get(delivery_id)
    if found is None:
        raise NotFound("No such delivery.")
    return DeliveryHistory(found, await uow.deliveries.attempts_of(delivery_id))


async def redeliver(uow: SyncUnitOfWork, *, delivery_id: int | None = None, agency_code: str | None = None) -> int:
    """Dead deliveries (one, or an agency's) pending again at once; how many."""
    return await uow.deliveries.revive(datetime.now(UTC), delivery_id=delivery_id, agency_code=agency_code)
