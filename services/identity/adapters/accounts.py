"""Storage of accounts, one-time codes, sign-in audit and sent messages; the argon2id password
hasher; the notifiers that deliver codes and notices; the cipher of TOTP secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any, Protocol

import httpx
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.errors import ServiceUnavailable
from services.kit.logging import get_logger

from ..domain.accounts import Account, AccountStatus, LockReason
from ..domain.assurance import AccountKind
from .tables import metadata

log = get_logger(__name__)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("locked_reason", Text),
    Column("name", Text, nullable=False),
    Column("personal_id", Text),
    Column("tax_code", Text),
    Column("username", Text),
    Column("birth_date", Date),
    Column("phone", Text),
    Column("phone_verified", Boolean, nullable=False, server_default=text("false")),
    Column("email", Text),
    Column("email_verified", Boolean, nullable=False, server_default=text("false")),
    Column("legal_representative_id", Text, ForeignKey("accounts.id")),
    Column("agencies", ARRAY(Text), nullable=False, server_default="{}"),
    Column("roles", ARRAY(Text), nullable=False, server_default="{}"),
    Column("verified_in_person", Boolean, nullable=False, server_default=text("false")),
    Column("password_hash", Text, nullable=False),
    Column("totp_secret", Text),  # encrypted
    Column("totp_pending_secret", Text),  # encrypted; set by enrolment until confirmed
    Column("totp_last_step", BigInteger),
    Column("failed_sign_ins", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", DateTime(timezone=True)),
    Column("last_sign_in_at", DateTime(timezone=True)),
    Column("last_activity_at", DateTime(timezone=True)),
    Column("inactivity_warnings", Integer, nullable=False, server_default=text("0")),
    Column("last_inactivity_warning_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Pending registrations do not hold an identifier: the first to verify the phone gets it.
    Index("accounts_personal_id", "personal_id", unique=True, postgresql_where=text("status <> 'pending'")),
    Index("accounts_tax_code", "tax_code", unique=True, postgresql_where=text("status <> 'pending'")),
    Index("accounts_username", "username", unique=True),
    Index("accounts_verified_phone", "phone", unique=True, postgresql_where=text("phone_verified")),
    Index("accounts_pending_phone", "phone", postgresql_where=text("NOT phone_verified")),
    Index("accounts_inactive", "last_activity_at", postgresql_where=text("status = 'active'")),
)

one_time_codes = Table(
    "one_time_codes",
    metadata,
    Column("id", Text, primary_key=True),
    # One registration or reset; a resend adds a code to the same flow and only the newest counts.
    Column("flow_id", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("account_id", Text, ForeignKey("accounts.id", ondelete="CASCADE")),
    Column("destination", Text, nullable=False),  # E.164 phone
    Column("client_ip", Text, nullable=False),
    Column("code_hash", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("consumed_at", DateTime(timezone=True)),
    Index("one_time_codes_flow", "flow_id", "created_at"),
    Index("one_time_codes_destination", "destination", "created_at"),
    Index("one_time_codes_client_ip", "client_ip", "created_at"),
)

sign_in_audit = Table(
    "sign_in_audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("account_id", Text),
    Column("login_masked", Text, nullable=False),
    Column("client_ip", Text, nullable=False),
    Column("outcome", Text, nullable=False),  # success | failure | refused | throttled
    Column("reason", Text),
    Column("acr", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("sign_in_audit_client_ip", "client_ip", "at"),
    Index("sign_in_audit_account", "account_id", "at"),
)

sent_messages = Table(
    "sent_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("sent_messages_recipient", "recipient", "sent_at"),
)

ACCOUNT_TABLES = [accounts, one_time_codes, sign_in_audit, sent_messages]

# Failed sign-ins of logins that name no account, counted and locked out exactly as an account's
# are, so that the answers never tell an existing account from an unknown login. Keyed by a
# keyed hash of the normalised login: no identifier is stored in clear.
login_failures = Table(
    "login_failures",
    metadata,
    Column("login_key", Text, primary_key=True),
    Column("failed_sign_ins", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Production messages wait here, encrypted (they hold one-time codes), until the worker
# delivers them: no HTTP call inside a use case's transaction, and a rolled-back
# transaction sends nothing.
outgoing_messages = Table(
    "outgoing_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("body_encrypted", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text),
    Index("outgoing_messages_due", "next_attempt_at"),
)


# --- accounts -----------------------------------------------------------------------------


def to_account(row: RowMapping | Mapping[str, Any]) -> Account:
    return Account(
        id=row["id"],
        kind=AccountKind(row["kind"]),
        status=AccountStatus(row["status"]),
        name=row["name"],
        password_hash=row["password_hash"],
        personal_id=row["personal_id"],
        tax_code=row["tax_code"],
        username=row["username"],
        birth_date=row["birth_date"],
        phone=row["phone"],
        phone_verified=row["phone_verified"],
        email=row["email"],
        email_verified=row["email_verified"],
        legal_representative_id=row["legal_representative_id"],
        agencies=tuple(row["agencies"]),
        roles=tuple(row["roles"]),
        verified_in_person=row["verified_in_person"],
        totp_enrolled=row["totp_secret"] is not None,
        locked_reason=LockReason(row["locked_reason"]) if row["locked_reason"] else None,
        failed_sign_ins=row["failed_sign_ins"],
        locked_until=row["locked_until"],
        last_activity_at=row["last_activity_at"],
        inactivity_warnings=row["inactivity_warnings"],
        last_inactivity_warning_at=row["last_inactivity_warning_at"],
        updated_at=row["updated_at"],
    )


async def get_row(session: AsyncConnection, account_id: str, *, for_update: bool = False) -> RowMapping | None:
    query = select(accounts).where(accounts.c.id == account_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).mappings().first()


async def get_account(session: AsyncConnection, account_id: str, *, for_update: bool = False) -> Account | None:
    row = await get_row(session, account_id, for_update=for_update)
    return to_account(row) if row else None


async def find_by_column(
    session: AsyncConnection, column: str, value: str, *, for_update: bool = False
) -> RowMapping | None:
    """The account holding ``value`` as a login identifier (pending registrations excluded;
    a phone counts only once verified)."""
    col = accounts.c[column]
    query = select(accounts).where(col == value, accounts.c.status != AccountStatus.PENDING.value)
    if column == "phone":
        query = query.where(accounts.c.phone_verified)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query.limit(1))).mappings().first()


async def insert_account(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(accounts).values(**values))


async def update_account(session: AsyncConnection, account_id: str, **values: Any) -> None:
    values.setdefault("updated_at", func.now())
    await session.execute(accounts.update().where(accounts.c.id == account_id).values(**values))


async def advisory_lock(session: AsyncConnection, key: str) -> None:
    """Serialise, until the transaction ends, every transaction that takes the same ``key``
    (counting a rate limit on several replicas, claiming an identifier)."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


# --- one-time codes -----------------------------------------------------------------------


async def count_codes_since(
    session: AsyncConnection, column: str, value: str, since: datetime
) -> tuple[int, datetime | None]:
    """How many codes went to (or were asked from) ``value`` since ``since``, and the oldest."""
    col = one_time_codes.c[column]
    query = select(func.count(), func.min(one_time_codes.c.created_at)).where(
        col == value, one_time_codes.c.created_at > since
    )
    count, oldest = (await session.execute(query)).one()
    return int(count), oldest


async def latest_code(session: AsyncConnection, flow_id: str, purpose: str) -> RowMapping | None:
    query = (
        select(one_time_codes)
        .where(one_time_codes.c.flow_id == flow_id, one_time_codes.c.purpose == purpose)
        .order_by(one_time_codes.c.created_at.desc(), one_time_codes.c.id)
        .limit(1)
        .with_for_update()
    )
    return (await session.execute(query)).mappings().first()


async def insert_code(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(insert(one_time_codes).values(**values))


async def update_code(session: AsyncConnection, code_id: str, **values: Any) -> None:
    await session.execute(one_time_codes.update().where(one_time_codes.c.id == code_id).values(**values))


# --- sign-in audit ------------------------------------------------------------------------


async def audit(session: AsyncConnection, **values: Any) -> None:
    await session.execute(insert(sign_in_audit).values(**values))


async def failures_from_ip_since(
    session: AsyncConnection, client_ip: str, since: datetime
) -> tuple[int, datetime | None]:
    query = select(func.count(), func.min(sign_in_audit.c.at)).where(
        sign_in_audit.c.client_ip == client_ip, sign_in_audit.c.outcome == "failure", sign_in_audit.c.at > since
    )
    count, oldest = (await session.execute(query)).one()
    return int(count), oldest


def login_key(secret_key: str, kind: str, value: str) -> str:
    """The key of an unknown login in ``login_failures``: an HMAC of its kind and normalised value."""
    return hmac.new(_subkey(secret_key, "login-failures"), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


async def unknown_login_failures(session: AsyncConnection, keys: list[str]) -> tuple[int, datetime | None]:
    """The failures counted so far against any of ``keys`` (one login, spelled as each thing it
    could be), and the latest lockout among them; the rows are locked until the transaction ends."""
    for key in sorted(keys):  # one order, so that two sign-ins never wait on each other's locks
        await advisory_lock(session, f"login-failures:{key}")
    query = select(func.max(login_failures.c.failed_sign_ins), func.max(login_failures.c.locked_until)).where(
        login_failures.c.login_key.in_(keys)
    )
    failures, locked_until = (await session.execute(query)).one()
    return int(failures or 0), locked_until


async def count_unknown_login_failure(
    session: AsyncConnection, keys: list[str], failures: int, locked_until: datetime | None, now: datetime
) -> None:
    for key in keys:
        values = {"failed_sign_ins": failures, "locked_until": locked_until, "updated_at": now}
        await session.execute(
            pg_insert(login_failures)
            .values(login_key=key, **values)
            .on_conflict_do_update(index_elements=[login_failures.c.login_key], set_=values)
        )


# --- passwords ----------------------------------------------------------------------------


class PasswordHashing:
    """argon2id with the costs of the settings; a dummy hash of the same cost makes a sign-in
    for an unknown login take as long as one for a known login."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, hash_len=32, salt_len=16, type=Type.ID
        )
        self._dummy = self._hasher.hash("dummy password that matches nothing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; with ``stored`` None, burns the same time."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


@cache
def password_hashing(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHashing:
    return PasswordHashing(time_cost, memory_kib, parallelism)


# --- secrets at rest ----------------------------------------------------------------------


def _subkey(secret_key: str, purpose: str) -> bytes:
    # An empty key (development and tests only; production refuses it) derives a fixed key.
    raw = (secret_key or "development-only-accounts-key").encode()
    return hmac.new(raw, purpose.encode(), hashlib.sha256).digest()


def code_key(secret_key: str) -> bytes:
    """The HMAC key of one-time code hashes."""
    return _subkey(secret_key, "one-time-codes")


def encrypt_secret(secret_key: str, value: str) -> str:
    return Fernet(base64.urlsafe_b64encode(_subkey(secret_key, "totp"))).encrypt(value.encode()).decode()


def decrypt_secret(secret_key: str, value: str) -> str:
    try:
        return Fernet(base64.urlsafe_b64encode(_subkey(secret_key, "totp"))).decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise ServiceUnavailable("A stored second-factor secret cannot be read with the configured key.") from exc


# --- notifiers ----------------------------------------------------------------------------


class Notifier(Protocol):
    """Delivers a short text to a person: ``channel`` is ``sms`` (``to`` an E.164 number) or
    ``email``."""

    async def send(self, channel: str, to: str, text: str) -> None: ...


class StoredMessages:
    """Development and tests: messages are written to ``sent_messages`` in the same transaction,
    readable at the development-only endpoint. Never in production (settings refuse it)."""

    def __init__(self, session: AsyncConnection):
        self._session = session

    async def send(self, channel: str, to: str, text: str) -> None:
        await self._session.execute(insert(sent_messages).values(channel=channel, recipient=to, body=text))


class QueuedMessages:
    """Production: the message joins ``outgoing_messages`` in the caller's transaction; the
    worker posts it to the SMS/e-mail gateway (:func:`post_to_webhook`)."""

    def __init__(self, session: AsyncConnection, secret_key: str):
        self._session = session
        self._secret_key = secret_key

    async def send(self, channel: str, to: str, text: str) -> None:
        body = Fernet(base64.urlsafe_b64encode(_subkey(self._secret_key, "messages"))).encrypt(text.encode()).decode()
        await self._session.execute(
            insert(outgoing_messages).values(channel=channel, recipient=to, body_encrypted=body)
        )


def decrypt_message(secret_key: str, body_encrypted: str) -> str:
    return Fernet(base64.urlsafe_b64encode(_subkey(secret_key, "messages"))).decrypt(body_encrypted.encode()).decode()


async def post_to_webhook(client: httpx.AsyncClient, url: str, channel: str, to: str, text: str) -> str | None:
    """POST ``{channel, to, text}``; None when accepted, else a short reason (never the text)."""
    try:
        response = await client.post(url, json={"channel": channel, "to": to, "text": text})
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None


async def messages_to(session: AsyncConnection, recipient: str, limit: int) -> list[dict[str, Any]]:
    query = (
        select(sent_messages.c.channel, sent_messages.c.recipient, sent_messages.c.body, sent_messages.c.sent_at)
        .where(sent_messages.c.recipient == recipient)
        .order_by(sent_messages.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in (await session.execute(query)).mappings()]


def as_date(value: date | None) -> str | None:
    return value.isoformat() if value else None
