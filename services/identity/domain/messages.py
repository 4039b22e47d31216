"""Short texts to people (SMS, e-mail): one-time codes and notices, in Vietnamese without
diacritics (an SMS in GSM-7 holds 160 characters, in UCS-2 only 70)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .one_time_codes import CodePurpose


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the development notifier kept instead of sending it."""

    channel: str
    recipient: str
    body: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message waiting for the worker to post it to the SMS and e-mail gateway."""

    id: int
    channel: str
    recipient: str
    body_encrypted: str
    created_at: datetime
    attempts: int


def code_text(purpose: CodePurpose, code: str, ttl_seconds: int) -> str:
    minutes = max(1, ttl_seconds // 60)
    text = {
        CodePurpose.REGISTRATION: f"Ma xac thuc dang ky tai khoan Cong DVCQG: {code}. Hieu luc {minutes} phut.",
        CodePurpose.PASSWORD_RESET: f"Ma dat lai mat khau Cong DVCQG: {code}. Hieu luc {minutes} phut.",
    }[purpose]
    return text + " Khong chia se ma nay."


def inactivity_text(preferred_username: str, lock_on: str) -> str:
    return (
        f"Tai khoan Cong DVCQG ({preferred_username[-3:]}) khong duoc su dung trong thoi gian dai "
        f"va se bi khoa tu {lock_on} neu khong dang nhap. / Your portal account is inactive and will be "
        f"locked on {lock_on} unless you sign in."
    )


def retry_delay_seconds(attempts: int) -> int:
    """Growing delays between deliveries of a message the gateway refused: 2, 4, 8 … 60 s."""
    return int(min(2 ** (attempts + 1), 60))
