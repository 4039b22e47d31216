"""Storage of accounts, one-time codes, sign-in audit and sent messages; the argon2id password
hasher; the notifiers that deliver codes and notices; the cipher of TOTP secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from functools import cache

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
    and_,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from services.kit.errors import ServiceUnavailable
from services.kit.logging import get_logger

from ..domain.accounts import Account, AccountStatus, AlreadyRegistered, LockReason, SignInAttempt
from ..domain.assurance import AccountKind
from ..domain.identifiers import LoginKind
from ..domain.messages import QueuedMessage, SentMessage
from ..domain.one_time_codes import CodePurpose, OneTimeCode
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
    Column("deleted_at", DateTime(timezone=True)),  # added by migration 0006
    # Pending registrations do not hold an identifier: the first to verify the phone gets it.
    Index("accounts_personal_id", "personal_id", unique=True, postgresql_where=text("status <> 'pending'")),
    Index("accounts_tax_code", "tax_code", unique=True, postgresql_where=text("status <> 'pending'")),
    Index("accounts_username", "username", unique=True),
    Index("accounts_verified_phone", "phone", unique=True, postgresql_where=text("phone_verified")),
    Index("accounts_pending_phone", "phone", postgresql_where=text("NOT phone_verified")),
    Index("accounts_inactive", "last_activity_at", postgresql_where=text("status = 'active'")),
    # Who acts for an agency (the notification service's digest); added by migration 0007.
    Index(
        "accounts_active_officials",
        "agencies",
        postgresql_using="gin",
        postgresql_where=text("kind = 'official' AND status = 'active'"),
    ),
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


def to_account(row: RowMapping) -> Account:
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
        totp_secret=row["totp_secret"],
        totp_pending_secret=row["totp_pending_secret"],
        totp_last_step=row["totp_last_step"],
        last_sign_in_at=row["last_sign_in_at"],
        created_at=row["created_at"],
        deleted_at=row["deleted_at"],
    )


def _account_values(account: Account) -> dict[str, object]:
    return {
        "id": account.id, "kind": account.kind.value, "status": account.status.value,
        "locked_reason": account.locked_reason.value if account.locked_reason else None, "name": account.name,
        "personal_id": account.personal_id, "tax_code": account.tax_code, "username": account.username,
        "birth_date": account.birth_date, "phone": account.phone, "phone_verified": account.phone_verified,
        "email": account.email, "email_verified": account.email_verified,
        "legal_representative_id": account.legal_representative_id, "agencies": list(account.agencies),
        "roles": list(account.roles), "verified_in_person": account.verified_in_person,
        "password_hash": account.password_hash, "totp_secret": account.totp_secret,
        "totp_pending_secret": account.totp_pending_secret, "totp_last_step": account.totp_last_step,
        "failed_sign_ins": account.failed_sign_ins, "locked_until": account.locked_until,
        "last_sign_in_at": account.last_sign_in_at, "last_activity_at": account.last_activity_at,
        "inactivity_warnings": account.inactivity_warnings,
        "last_inactivity_warning_at": account.last_inactivity_warning_at, "deleted_at": account.deleted_at,
    }  # fmt: skip


# What a use case may change of an account; identity and kind are set once.
_CHANGEABLE = ("status", "locked_reason", "phone_verified", "password_hash", "totp_secret", "totp_pending_secret",
               "totp_last_step", "failed_sign_ins", "locked_until", "last_sign_in_at", "last_activity_at",
               "inactivity_warnings", "last_inactivity_warning_at")  # fmt: skip
# What erasing an account writes: everything but the id, the kind, the legal representative and
# the creation time (Account.erase says why).
_ERASED = (*_CHANGEABLE, "name", "personal_id", "tax_code", "username", "birth_date", "phone", "email",
           "email_verified", "agencies", "roles", "verified_in_person", "deleted_at")  # fmt: skip


class SqlLocks:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def hold(self, key: str) -> None:
        await self._connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


class SqlAccounts:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def get(self, account_id: str, *, for_update: bool = False) -> Account | None:
        query = select(accounts).where(accounts.c.id == account_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).mappings().first()
        return to_account(row) if row else None

    async def holding(self, kind: LoginKind, value: str, *, for_update: bool = False) -> Account | None:
        query = select(accounts).where(
            accounts.c[kind.value] == value, accounts.c.status != AccountStatus.PENDING.value
        )
        if kind is LoginKind.PHONE:
            query = query.where(accounts.c.phone_verified)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query.limit(1))).mappings().first()
        return to_account(row) if row else None

    async def get_many(self, account_ids: list[str]) -> list[Account]:
        query = select(accounts).where(accounts.c.id.in_(account_ids)).order_by(accounts.c.id)
        return [to_account(row) for row in (await self._connection.execute(query)).mappings().all()]

    async def officials_of(self, agencies: list[str], after: str | None, limit: int) -> list[Account]:
        a = accounts.c
        acts_for = a.agencies.op("&&", return_type=Boolean)(cast(agencies, ARRAY(Text)))
        query = select(accounts).where(a.kind == "official", a.status == "active", acts_for)
        if after is not None:
            query = query.where(a.id > after)
        query = query.order_by(a.id).limit(limit)
        return [to_account(row) for row in (await self._connection.execute(query)).mappings().all()]

    async def add(self, account: Account) -> None:
        values = _account_values(account)
        values["created_at"] = values["updated_at"] = account.created_at or func.now()
        await self._connection.execute(insert(accounts).values(**values))

    async def fixture_present(self, account: Account) -> bool:
        a = accounts.c
        held = [a[col] == value for col, value in
                (("personal_id", account.personal_id), ("tax_code", account.tax_code), ("username", account.username))
                if value]  # fmt: skip
        if account.phone:
            held.append(and_(a.phone == account.phone, a.phone_verified))
        taken = and_(a.status != AccountStatus.PENDING.value, or_(*held)) if held else None
        exists = await self._connection.scalar(
            select(a.id).where(or_(a.id == account.id, taken) if taken is not None else a.id == account.id)
        )
        return bool(exists)

    async def add_fixture(self, account: Account) -> bool:
        values = _account_values(account)
        values["created_at"] = values["updated_at"] = account.created_at or func.now()
        inserted = await self._connection.execute(pg_insert(accounts).values(**values).on_conflict_do_nothing())
        return bool(inserted.rowcount)

    async def save(self, account: Account) -> None:
        values = _account_values(account)
        changes = {name: values[name] for name in _CHANGEABLE}
        try:
            await self._connection.execute(
                accounts.update().where(accounts.c.id == account.id).values(**changes, updated_at=func.now())
            )
        except IntegrityError as exc:  # the unique indexes are the last guard
            raise AlreadyRegistered("This account was registered by another request.") from exc

    async def erase(self, account: Account) -> None:
        values = _account_values(account)
        await self._connection.execute(
            accounts.update()
            .where(accounts.c.id == account.id)
            .values(**{name: values[name] for name in _ERASED}, updated_at=func.now())
        )

    async def record_activity(self, account_id: str, now: datetime) -> None:
        await self._connection.execute(
            accounts.update().where(accounts.c.id == account_id).values(
                last_activity_at=now, inactivity_warnings=0, last_inactivity_warning_at=None, updated_at=func.now()
            )
        )  # fmt: skip

    async def inactive(self, *, unused_since: datetime, warned_before: datetime, limit: int) -> list[Account]:
        a = accounts.c
        query = (
            select(accounts)
            .where(
                a.status == AccountStatus.ACTIVE.value,
                a.last_activity_at <= unused_since,
                or_(a.last_inactivity_warning_at.is_(None), a.last_inactivity_warning_at <= warned_before),
            )
            .order_by(a.last_activity_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [to_account(row) for row in (await self._connection.execute(query)).mappings().all()]


# --- one-time codes -----------------------------------------------------------------------


def _to_code(row: RowMapping) -> OneTimeCode:
    return OneTimeCode(
        id=row["id"], flow_id=row["flow_id"], purpose=CodePurpose(row["purpose"]), account_id=row["account_id"],
        destination=row["destination"], client_ip=row["client_ip"], code_hash=row["code_hash"],
        created_at=row["created_at"], expires_at=row["expires_at"], attempts=row["attempts"],
        consumed_at=row["consumed_at"],
    )  # fmt: skip


class SqlOneTimeCodes:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def add(self, code: OneTimeCode) -> None:
        await self._connection.execute(
            insert(one_time_codes).values(
                id=code.id, flow_id=code.flow_id, purpose=code.purpose.value, account_id=code.account_id,
                destination=code.destination, client_ip=code.client_ip, code_hash=code.code_hash,
                created_at=code.created_at, expires_at=code.expires_at, attempts=code.attempts,
                consumed_at=code.consumed_at,
            )
        )  # fmt: skip

    async def latest(self, flow_id: str, purpose: CodePurpose) -> OneTimeCode | None:
        query = (
            select(one_time_codes)
            .where(one_time_codes.c.flow_id == flow_id, one_time_codes.c.purpose == purpose.value)
            .order_by(one_time_codes.c.created_at.desc(), one_time_codes.c.id)
            .limit(1)
            .with_for_update()
        )
        row = (await self._connection.execute(query)).mappings().first()
        return _to_code(row) if row else None

    async def save(self, code: OneTimeCode) -> None:
        await self._connection.execute(
            one_time_codes.update()
            .where(one_time_codes.c.id == code.id)
            .values(attempts=code.attempts, consumed_at=code.consumed_at)
        )

    async def sent_to(self, phone: str, since: datetime) -> tuple[int, datetime | None]:
        return await self._count(one_time_codes.c.destination == phone, since)

    async def forget(self, account_id: str) -> int:
        codes = one_time_codes
        forgotten = await self._connection.execute(delete(codes).where(codes.c.account_id == account_id))
        return int(forgotten.rowcount)

    async def asked_from(self, client_ip: str, since: datetime) -> tuple[int, datetime | None]:
        return await self._count(one_time_codes.c.client_ip == client_ip, since)

    async def _count(self, condition: ColumnElement[bool], since: datetime) -> tuple[int, datetime | None]:
        query = select(func.count(), func.min(one_time_codes.c.created_at)).where(
            condition, one_time_codes.c.created_at > since
        )
        count, oldest = (await self._connection.execute(query)).one()
        return int(count), oldest


# --- sign-in audit, failures of unknown logins -------------------------------------------


class SqlSignInAudit:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def add(self, attempt: SignInAttempt) -> None:
        await self._connection.execute(
            insert(sign_in_audit).values(
                account_id=attempt.account_id, login_masked=attempt.login_masked, client_ip=attempt.client_ip,
                outcome=attempt.outcome, reason=attempt.reason, acr=attempt.acr, at=attempt.at,
            )
        )  # fmt: skip

    async def failures_from(self, client_ip: str, since: datetime) -> tuple[int, datetime | None]:
        query = select(func.count(), func.min(sign_in_audit.c.at)).where(
            sign_in_audit.c.client_ip == client_ip, sign_in_audit.c.outcome == "failure", sign_in_audit.c.at > since
        )
        count, oldest = (await self._connection.execute(query)).one()
        return int(count), oldest


def login_key(secret_key: str, kind: str, value: str) -> str:
    """The key of an unknown login in ``login_failures``: an HMAC of its kind and normalised value."""
    return hmac.new(_subkey(secret_key, "login-failures"), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


class SqlLoginFailures:
    def __init__(self, connection: AsyncConnection):
        self._connection = connection
        self._locks = SqlLocks(connection)

    async def held(self, keys: list[str]) -> tuple[int, datetime | None]:
        for key in sorted(keys):  # one order, so that two sign-ins never wait on each other's locks
            await self._locks.hold(f"login-failures:{key}")
        query = select(func.max(login_failures.c.failed_sign_ins), func.max(login_failures.c.locked_until)).where(
            login_failures.c.login_key.in_(keys)
        )
        failures, locked_until = (await self._connection.execute(query)).one()
        return int(failures or 0), locked_until

    async def count(self, keys: list[str], failures: int, locked_until: datetime | None, now: datetime) -> None:
        for key in keys:
            values = {"failed_sign_ins": failures, "locked_until": locked_until, "updated_at": now}
            await self._connection.execute(
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


# --- messages -----------------------------------------------------------------------------


class SqlMessages:
    """``sent_messages`` (development: kept, readable at the development-only endpoint; never in
    production, the settings refuse it) and ``outgoing_messages`` (production: queued in the
    caller's transaction, encrypted, posted by the worker; a rolled-back transaction sends nothing)."""

    def __init__(self, connection: AsyncConnection):
        self._connection = connection

    async def keep(self, channel: str, recipient: str, body: str) -> None:
        await self._connection.execute(insert(sent_messages).values(channel=channel, recipient=recipient, body=body))

    async def queue(self, channel: str, recipient: str, body_encrypted: str) -> None:
        await self._connection.execute(
            insert(outgoing_messages).values(channel=channel, recipient=recipient, body_encrypted=body_encrypted)
        )

    async def forget(self, recipients: list[str]) -> int:
        kept = await self._connection.execute(delete(sent_messages).where(sent_messages.c.recipient.in_(recipients)))
        queued = await self._connection.execute(
            delete(outgoing_messages).where(outgoing_messages.c.recipient.in_(recipients))
        )
        return int(kept.rowcount) + int(queued.rowcount)

    async def kept_for(self, recipient: str, limit: int) -> list[SentMessage]:
        query = (
            select(sent_messages.c.channel, sent_messages.c.recipient, sent_messages.c.body, sent_messages.c.sent_at)
            .where(sent_messages.c.recipient == recipient)
            .order_by(sent_messages.c.id.desc())
            .limit(limit)
        )
        return [SentMessage(r.channel, r.recipient, r.body, r.sent_at) for r in await self._connection.execute(query)]

    async def due(self, now: datetime, limit: int) -> list[QueuedMessage]:
        table = outgoing_messages
        query = (
            select(table).where(table.c.next_attempt_at <= now).order_by(table.c.id)
            .limit(limit).with_for_update(skip_locked=True)
        )  # fmt: skip
        return [
            QueuedMessage(r.id, r.channel, r.recipient, r.body_encrypted, r.created_at, r.attempts)
            for r in await self._connection.execute(query)
        ]

    async def delivered(self, message_id: int) -> None:
        await self._connection.execute(delete(outgoing_messages).where(outgoing_messages.c.id == message_id))

    async def retry_later(self, message_id: int, attempts: int, at: datetime, error: str) -> None:
        await self._connection.execute(
            update(outgoing_messages).where(outgoing_messages.c.id == message_id)
            .values(attempts=attempts, next_attempt_at=at, last_error=error)
        )  # fmt: skip


def encrypt_message(secret_key: str, text: str) -> str:
    return Fernet(base64.urlsafe_b64encode(_subkey(secret_key, "messages"))).encrypt(text.encode()).decode()


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
