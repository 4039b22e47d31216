"""One-time codes sent by SMS (registration, password reset): limits on sending, issuing,
checking."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.kit.errors import RateLimited
from services.kit.ids import new_id

from ..adapters.accounts import code_key
from ..domain.accounts import CodeNoLongerValid, InvalidCode, WindowLimit
from ..domain.messages import Channel, code_text
from ..domain.one_time_codes import CodePurpose, OneTimeCode, check_code, code_hash, new_code
from ..settings import IdentitySettings
from . import messages
from .unit_of_work import IdentityUnitOfWork


async def enforce_send_limits(
    uow: IdentityUnitOfWork, settings: IdentitySettings, phone: str, client_ip: str, now: datetime
) -> None:
    """At most so many codes per phone and per client IP in their windows (429 + Retry-After).
    Locks make concurrent requests on several replicas count one after the other."""
    by_phone = WindowLimit(settings.code_sends_per_phone, settings.code_phone_window_seconds)
    await uow.locks.hold(f"otp:destination:{phone}")
    count, oldest = await uow.codes.sent_to(phone, by_phone.window_start(now))
    if wait := by_phone.retry_after(count, oldest, now):
        raise RateLimited(wait, f"Too many codes were requested for this phone number. Try again in {wait} seconds.")
    by_ip = WindowLimit(settings.code_sends_per_ip, settings.code_ip_window_seconds)
    await uow.locks.hold(f"otp:client_ip:{client_ip}")
    count, oldest = await uow.codes.asked_from(client_ip, by_ip.window_start(now))
    if wait := by_ip.retry_after(count, oldest, now):
        raise RateLimited(wait, f"Too many codes were requested for this address. Try again in {wait} seconds.")


def _key(settings: IdentitySettings) -> bytes:
    return code_key(settings.accounts_secret_key.get_secret_value())


async def issue(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    *,
    flow_id: str,
    purpose: CodePurpose,
    account_id: str | None,
    phone: str,
    client_ip: str,
    now: datetime,
    deliver: bool = True,
    limits_checked: bool = False,
) -> datetime:
    """A new code for the flow (older ones of the flow stop counting), sent by SMS."""
    if not limits_checked:
        await enforce_send_limits(uow, settings, phone, client_ip, now)
    code, code_id = new_code(settings.code_digits), new_id()
    expires_at = now + timedelta(seconds=settings.code_ttl_seconds)
    await uow.codes.add(
        OneTimeCode(
            id=code_id, flow_id=flow_id, purpose=purpose, account_id=account_id, destination=phone,
            client_ip=client_ip, created_at=now, expires_at=expires_at,
            code_hash=code_hash(_key(settings), code_id, code),
        )
    )  # fmt: skip
    if deliver:
        await messages.send(uow, settings, Channel.SMS, phone, code_text(purpose, code, settings.code_ttl_seconds))
    return expires_at


async def consume(
    uow: IdentityUnitOfWork, settings: IdentitySettings, *, flow_id: str, purpose: CodePurpose, code: str, now: datetime
) -> OneTimeCode:
    """Check the newest code of the flow; a wrong one counts an attempt (and raises). The code
    stays locked until the transaction ends, so it is consumed once. The caller sets
    ``consumed_at`` once the rest of its checks passed (a refused new password keeps the code)."""
    issued = await uow.codes.latest(flow_id, purpose)
    if issued is None:
        raise CodeNoLongerValid("unknown")
    try:
        check_code(issued.issued, code, _key(settings), max_attempts=settings.code_max_attempts, now=now)
    except InvalidCode:
        issued.attempts += 1
        await uow.codes.save(issued)
        raise
    return issued
