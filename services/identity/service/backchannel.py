"""OpenID Connect Back-Channel Logout 1.0: remembering which relying parties a browser session
gave tokens to, queuing a logout token for each when the session or the account ends, and the
worker's delivery of the queue.

Queuing happens in the transaction that ends the session (sign-out) or the account (lock,
deletion), so a logout is recorded exactly when the sign-out is; no HTTP call is made there, so an
unreachable relying party never delays or blocks it. The worker signs each token when it posts it
(a short ``exp`` counts from the attempt), follows no redirect, waits a bounded time, tries again
with growing delays, and gives up after a bounded number of attempts; each attempt's outcome is
kept on the row (the audit) and logged without the token.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from services.kit.logging import get_logger

from ..domain.logout import LogoutReason, PendingLogout, logout_token_claims, retry_delay
from ..domain.oauth import Client, SignInRecord
from ..settings import IdentitySettings
from .keys import Signer, signer
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)

FORGET_BATCH = 500


async def remember_client(
    uow: IdentityUnitOfWork, settings: IdentitySettings, client: Client, signed_in: SignInRecord, now: datetime
) -> None:
    """The client got tokens in the sign-in's browser session: it will be told when the session
    ends. Only clients that registered a logout URI are remembered (nothing else could be told)."""
    if client.backchannel_logout_uri is None or signed_in.sid is None:
        return
    until = now + timedelta(hours=settings.session_hours)
    await uow.backchannel.remember_client(signed_in.sid, client.client_id, signed_in.account_id, until)


async def session_ended(uow: IdentityUnitOfWork, sid: str | None, now: datetime) -> int:
    """The person signed out of the browser session ``sid``: queue its relying parties' logouts."""
    if sid is None:
        return 0
    return await uow.backchannel.queue_for_session(sid, LogoutReason.SIGNED_OUT.value, now)


async def account_ended(uow: IdentityUnitOfWork, account_id: str, reason: LogoutReason, now: datetime) -> int:
    """The account was locked or deleted: queue a logout for every session of it, at every
    relying party that had one."""
    queued = await uow.backchannel.queue_for_account(account_id, reason.value, now)
    if queued:
        log.info("back-channel logouts queued", account_id=account_id, reason=reason.value, logouts=queued)
    return queued


@dataclass(frozen=True, slots=True)
class Attempt:
    logout: PendingLogout
    error: str | None  # None: delivered
    final: bool = False  # the error will not go away: no point trying again


def _refused(settings: IdentitySettings, uri: str) -> str | None:
    if settings.environment == "production" and not uri.startswith("https://"):
        return "plain http is refused in production"
    return None


async def _post(http: httpx.AsyncClient, sign: Signer, settings: IdentitySettings, logout: PendingLogout,
                now: datetime) -> Attempt:  # fmt: skip
    if refused := _refused(settings, logout.uri):
        return Attempt(logout, refused, final=True)
    claims = logout_token_claims(
        issuer=settings.oidc_issuer, client_id=logout.client_id, subject=logout.account_id, sid=logout.sid, now=now
    )
    try:
        answer = await http.post(logout.uri, data={"logout_token": sign.logout_token(claims)})
    except httpx.HTTPError as exc:
        return Attempt(logout, f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__)
    if 200 <= answer.status_code < 300:
        return Attempt(logout, None)
    return Attempt(logout, f"HTTP {answer.status_code}")  # a 3xx too: redirects are never followed


async def deliver_logouts(
    uow: IdentityUnitOfWork, settings: IdentitySettings, http: httpx.AsyncClient, now: datetime
) -> dict[str, int]:
    """Post one batch of due logout tokens (concurrently, each bounded by the client's timeout)
    and record each outcome: delivered, tried again later, or abandoned after the last attempt."""
    counts = {"delivered": 0, "retry": 0, "abandoned": 0}
    due = await uow.backchannel.due(now, settings.backchannel_batch)
    if due:
        sign = await signer(uow, settings, now)
        attempts = await asyncio.gather(*(_post(http, sign, settings, logout, now) for logout in due))
        for attempt in attempts:
            counts[await _record(uow, settings, attempt, now)] += 1
    await uow.backchannel.forget_ended_sessions(now, FORGET_BATCH)
    await uow.backchannel.forget_finished(now - timedelta(days=settings.backchannel_audit_days), FORGET_BATCH)
    return counts


async def _record(uow: IdentityUnitOfWork, settings: IdentitySettings, attempt: Attempt, now: datetime) -> str:
    logout, tries = attempt.logout, attempt.logout.attempts + 1
    where = {"logout_id": logout.id, "client_id": logout.client_id, "reason": logout.reason, "attempts": tries}
    if attempt.error is None:
        await uow.backchannel.delivered(logout.id, tries, now)
        log.info("back-channel logout delivered", **where)
        return "delivered"
    if attempt.final or tries >= settings.backchannel_max_attempts:
        await uow.backchannel.abandon(logout.id, tries, now, attempt.error)
        log.warning("back-channel logout abandoned", error=attempt.error, **where)
        return "abandoned"
    delay = retry_delay(
        tries, base_seconds=settings.backchannel_retry_base_seconds, cap_seconds=settings.backchannel_retry_max_seconds
    )
    await uow.backchannel.retry_later(logout.id, tries, now, now + delay, attempt.error)
    log.info("back-channel logout failed; will retry", error=attempt.error, retry_in=delay.total_seconds(), **where)
    return "retry"
