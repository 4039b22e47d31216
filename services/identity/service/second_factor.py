"""The TOTP second factor: enrolment with an authenticator app, confirmed by a first code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.kit.errors import Conflict, NotFound
from services.kit.logging import get_logger, mask

from ..adapters.accounts import decrypt_secret, encrypt_secret
from ..domain import second_factor
from ..domain.accounts import Account, AccountStatus, WrongTotpCode
from ..settings import IdentitySettings
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str
    digits: int = second_factor.DIGITS
    period: int = second_factor.PERIOD


async def _active(uow: IdentityUnitOfWork, account_id: str) -> Account:
    account = await uow.accounts.get(account_id, for_update=True)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise NotFound("There is no active account for this token.")
    return account


async def begin_totp_enrolment(
    uow: IdentityUnitOfWork, settings: IdentitySettings, *, account_id: str
) -> TotpEnrolment:
    """A new secret, kept aside until a code from it is confirmed. An account that already has
    a second factor cannot replace it here (an administrator resets it)."""
    account = await _active(uow, account_id)
    if account.totp_secret is not None:
        raise Conflict("A second factor is already set up for this account.")
    secret = second_factor.new_secret()
    account.totp_pending_secret = encrypt_secret(settings.accounts_secret_key.get_secret_value(), secret)
    await uow.accounts.save(account)
    uri = second_factor.provisioning_uri(
        secret, account_name=mask(account.preferred_username, 4), issuer=settings.totp_issuer
    )
    return TotpEnrolment(secret, uri)


async def confirm_totp_enrolment(
    uow: IdentityUnitOfWork, settings: IdentitySettings, *, account_id: str, code: str, now: datetime
) -> None:
    account = await _active(uow, account_id)
    if account.totp_pending_secret is None:
        raise Conflict("Start the enrolment first.")
    secret = decrypt_secret(settings.accounts_secret_key.get_secret_value(), account.totp_pending_secret)
    step = second_factor.matching_step(secret, code, now, valid_window=settings.totp_valid_window)
    if step is None:
        raise WrongTotpCode()
    account.enrol_second_factor(step)
    await uow.accounts.save(account)
    log.info("second factor enrolled", account_id=account_id)
