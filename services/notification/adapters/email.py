"""The e-mail channel: :class:`SmtpProvider` hands an :class:`~..domain.delivery.Email` to an SMTP
server (a relay such as a provider's submission port; under ``make run`` the sandbox mailbox).

The message is made with the standard library's ``email.mime`` classes (7-bit, CRLF line endings):
the Vietnamese display name and subject go out as RFC 2047 encoded words, the bodies as UTF-8 in
base64 (``multipart/alternative`` when an HTML body is given), and a ``Message-ID`` made from the
service's own id so that a bounce or a complaint names the message it is about. These classes (the
``compat32`` policy) make a message in a quarter of the time ``EmailMessage`` takes, which was the
better part of the dispatcher's work per e-mail; the ``From`` line, the same for every message, is
made once with ``EmailMessage``.

A few SMTP sessions stay open and are reused (one message at a time each): opening a session costs
a TCP and a TLS handshake and an AUTH, which would otherwise bound a provider to a few dozen
messages a second. A session the server closed, one idle too long and one that has carried
``messages_per_connection`` messages are replaced; one that broke mid-transaction is dropped.

The server's answer decides the failure (see :mod:`..domain.delivery`): a 4xx reply is temporary
(greylisting, a busy mailbox), a 5xx reply to the recipient or to the data is permanent, and a
session that cannot be had (refused, reset, timed out, TLS or AUTH refused, a protocol error) is
technical. Reasons name the stage and the reply code only: never an address, a reply's text (which
may echo one) or a credential.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import ssl
import time
from collections.abc import Awaitable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import SMTP as SMTP_POLICY
from email.policy import compat32
from email.utils import format_datetime
from typing import Literal, TypeVar

import aiosmtplib

from services.kit.logging import get_logger

from ..domain.delivery import (
    DeliveryFailure,
    Email,
    Handed,
    PermanentFailure,
    TechnicalFailure,
    TemporaryFailure,
)

log = get_logger(__name__)

Security = Literal["starttls", "tls", "none"]
Stage = Literal["connect", "tls", "auth", "mail", "rcpt", "data"]
T = TypeVar("T")

DEFAULT_SENDER_NAME = "Cổng Dịch vụ công quốc gia"
LOOPBACK_NAMES = frozenset({"localhost"})
# 7-bit clean whatever the relay, CRLF line endings.
POLICY = SMTP_POLICY.clone(cte_type="7bit")
WIRE = compat32.clone(linesep="\r\n")
# What a message id may hold to become a Message-ID's left part as it is (RFC 5322 dot-atom-text,
# narrowed to what the service's ids use).
MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ENHANCED_STATUS = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
# A message over this is refused whatever the configuration (providers take 10 to 50 MiB).
MAX_MESSAGE_BYTES = 50 * 1024 * 1024
MAX_CONNECTIONS = 64


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """One SMTP provider. ``security``: ``starttls`` (the session must be upgraded: a server that
    does not offer STARTTLS is a technical failure), ``tls`` (implicit TLS, port 465) or ``none``
    (plain text, allowed to a loopback host only). ``ca_file`` is a PEM bundle to verify the
    server's certificate with instead of the system's (the sandbox's own certificate locally).
    ``password`` is left out of ``repr``."""

    name: str
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = "starttls"
    sender_name: str = DEFAULT_SENDER_NAME
    timeout_seconds: float = 15.0
    connections: int = 4
    max_message_bytes: int = 10 * 1024 * 1024
    messages_per_connection: int = 100
    idle_seconds: float = 30.0
    ca_file: str | None = None
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.host:
            raise ValueError("an SMTP provider needs a name and a host")
        if not 0 < self.port < 65536:
            raise ValueError("SMTP port out of range")
        if self.security not in ("starttls", "tls", "none"):
            raise ValueError("SMTP security is starttls, tls or none")
        if self.security == "none" and not _is_loopback(self.host):
            raise ValueError("SMTP without TLS is allowed to a loopback host only")
        if (self.username is None) != (self.password is None):
            raise ValueError("SMTP username and password go together")
        if not 0 < self.timeout_seconds <= 300:
            raise ValueError("SMTP timeout out of range (0, 300] seconds")
        if not 1 <= self.connections <= MAX_CONNECTIONS:
            raise ValueError(f"SMTP connections out of range [1, {MAX_CONNECTIONS}]")
        if not 1024 <= self.max_message_bytes <= MAX_MESSAGE_BYTES:
            raise ValueError("SMTP message size limit out of range")
        if not 1 <= self.messages_per_connection <= 10_000:
            raise ValueError("SMTP messages per connection out of range [1, 10000]")
        if not 0 < self.idle_seconds <= 3600:
            raise ValueError("SMTP idle time out of range (0, 3600] seconds")
        Address(display_name=self.sender_name, addr_spec=self.sender)  # raises on a bad sender

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]


def compose(config: SmtpConfig, message: Email, now: datetime | None = None) -> tuple[str, bytes]:
    """The Message-ID and the bytes as they go on the wire. Raises :class:`PermanentFailure` for
    a message that can never be sent (a malformed address or id, a header that cannot be made)."""
    if not MESSAGE_ID.fullmatch(message.message_id):
        raise PermanentFailure("message id cannot make a Message-ID")
    message_id = f"<{message.message_id}@{config.sender_domain}>"
    recipient = _recipient(message.to)
    if "\r" in message.subject or "\n" in message.subject:
        raise PermanentFailure("message cannot be made (ValueError)")
    try:
        text = _part(message.text, "plain")
        if message.html is None:
            mail: MIMENonMultipart | MIMEMultipart = text
            mail["MIME-Version"] = "1.0"
        else:
            mail = MIMEMultipart("alternative", _subparts=[text, _part(message.html, "html")])
        mail["To"] = recipient.addr_spec
        mail["Date"] = format_datetime(now or datetime.now(UTC))
        mail["Message-ID"] = message_id
        mail["Subject"] = Header(message.subject, "utf-8")  # type: ignore[assignment]  # compat32 takes a Header
        # RFC 3834: an automatic message; vacation responders and list servers do not answer it.
        mail["Auto-Submitted"] = "auto-generated"
        raw = mail.as_bytes(policy=WIRE)
    except (ValueError, TypeError, IndexError, UnicodeError) as exc:
        raise PermanentFailure(f"message cannot be made ({type(exc).__name__})") from None
    return message_id, _sender_header(config.sender_name, config.sender) + raw


def _part(body: str, subtype: str) -> MIMEText:
    """A UTF-8 text body in base64, its lines ended with CRLF as RFC 5322 wants them."""
    part = MIMEText("\r\n".join(body.splitlines()) + "\r\n", subtype, "utf-8")
    del part["MIME-Version"]  # once, in the message's own head
    return part


@functools.lru_cache(maxsize=16)
def _sender_header(display_name: str, address: str) -> bytes:
    """The ``From`` line, folded once per sender: the standard library takes milliseconds to fold
    an address header with encoded words, the better part of making a whole message."""
    mail = EmailMessage(policy=POLICY)
    mail["From"] = Address(display_name=display_name, addr_spec=address)
    return mail.as_bytes().partition(b"\r\n\r\n")[0] + b"\r\n"


def _recipient(to: str) -> Address:
    """The recipient as one plain ASCII address (an internationalised one would need SMTPUTF8,
    which relays do not all offer)."""
    try:
        recipient = Address(addr_spec=to)
    except (ValueError, TypeError, IndexError):
        recipient = None
    if recipient is None or not recipient.username or not recipient.domain or not to.isascii():
        raise PermanentFailure("recipient address not deliverable")
    return recipient


def _code_text(exc: aiosmtplib.SMTPResponseException) -> str:
    enhanced = ENHANCED_STATUS.match(exc.message or "")
    return f"{exc.code} {enhanced.group(1)}" if enhanced else str(exc.code)


def failure_for(stage: Stage, exc: BaseException) -> DeliveryFailure:
    """What an SMTP client error at ``stage`` means for the message (reason without any text the
    server or the library wrote, which may hold an address or a host). A refusal while the session
    is being had (greeting, TLS, AUTH) is the provider's problem whatever its code; within a mail
    transaction a 4xx is temporary, and a 5xx to the recipient or the data (or 552, too large, at
    MAIL) is permanent."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = f"{stage} refused: {_code_text(exc)}"
        if stage in ("mail", "rcpt", "data") and 400 <= exc.code < 500:
            return TemporaryFailure(reason)
        if (stage in ("rcpt", "data") and 500 <= exc.code < 600) or (stage == "mail" and exc.code == 552):
            return PermanentFailure(reason)
        return TechnicalFailure(reason)
    if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
        return TechnicalFailure(f"{stage}: TLS failed")
    if isinstance(exc, TimeoutError):
        return TechnicalFailure(f"{stage}: timed out")
    if isinstance(exc, OSError):
        return TechnicalFailure(f"{stage}: connection failed")
    return TechnicalFailure(f"{stage}: protocol error ({type(exc).__name__})")


async def _step(stage: Stage, action: Awaitable[T]) -> T:
    try:
        return await action
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise failure_for(stage, exc) from None


@dataclass(eq=False)
class _Session:
    client: aiosmtplib.SMTP
    sent: int = 0
    idle_since: float = field(default_factory=time.monotonic)


class SmtpProvider:
    """``Provider[Email]`` over SMTP with a pool of at most ``config.connections`` sessions, each
    carrying one message at a time; ``send`` waits for a free one. ``aclose`` ends them all."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self._slots = asyncio.Semaphore(config.connections)
        self._idle: list[_Session] = []
        self._closed = False
        self._tls: ssl.SSLContext | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def __repr__(self) -> str:
        return f"SmtpProvider({self.config!r})"

    @property
    def open_sessions(self) -> int:
        """Sessions kept open and idle now (a gauge; the ones carrying a message are not counted)."""
        return sum(1 for session in self._idle if session.client.is_connected)

    async def send(self, message: Email) -> Handed:
        message_id, raw = compose(self.config, message)
        if len(raw) > self.config.max_message_bytes:
            raise PermanentFailure("message too large")
        async with self._slots:
            if self._closed:
                raise TechnicalFailure("provider closed")
            session = await self._transact(message.to, raw)
            await self._put_back(session)
        return Handed(provider=self.name, reference=message_id, delivered=True)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(session) for session in idle))

    async def _transact(self, to: str, raw: bytes) -> _Session:
        """One mail transaction on a reused session or a new one. A reused session the server
        dropped while it idled fails at MAIL, before anything is handed over: that one is replaced
        once. After a refusal the session stays when RSET works; after anything else it goes."""
        session = self._take_idle()
        if session is not None:
            try:
                await self._mail(session, raw)
            except TechnicalFailure:
                self._drop(session)
                session = None
            except BaseException as exc:
                await self._after_failure(session, exc)
                raise
        if session is None:
            session = await self._open()
            try:
                await self._mail(session, raw)
            except BaseException as exc:
                await self._after_failure(session, exc)
                raise
        try:
            await _step("rcpt", session.client.rcpt(to))
            await _step("data", session.client.data(raw))
        except BaseException as exc:
            await self._after_failure(session, exc)
            raise
        session.sent += 1
        return session

    async def _mail(self, session: _Session, raw: bytes) -> None:
        options = [f"SIZE={len(raw)}"] if session.client.supports_extension("size") else []
        await _step("mail", session.client.mail(self.config.sender, options=options))

    def _take_idle(self) -> _Session | None:
        """The most recently used open session (so that the others age out when traffic drops)."""
        now = time.monotonic()
        while self._idle:
            session = self._idle.pop()
            if session.client.is_connected and now - session.idle_since < self.config.idle_seconds:
                return session
            self._drop(session)
        return None

    def _tls_context(self) -> ssl.SSLContext:
        """One verifying context for every session (loading the trust store was a twentieth of
        the worker's CPU when each session built its own)."""
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=self.config.ca_file)
        return self._tls

    async def _open(self) -> _Session:
        config = self.config
        client = aiosmtplib.SMTP(
            hostname=config.host, port=config.port, timeout=config.timeout_seconds,
            use_tls=config.security == "tls", start_tls=False, tls_context=self._tls_context(),
            local_hostname=config.local_hostname,
        )  # fmt: skip
        session = _Session(client)
        try:
            await _step("connect", client.connect())
            if config.security == "starttls":
                await _step("tls", client.ehlo())
                if not client.supports_extension("starttls"):
                    raise TechnicalFailure("tls: STARTTLS not offered")
                await _step("tls", client.starttls())
            if config.username is not None and config.password is not None:
                await _step("auth", client.login(config.username, config.password))
        except BaseException as exc:
            self._drop(session)
            if isinstance(exc, DeliveryFailure):
                log.warning("smtp session not opened", provider=config.name, reason=exc.reason)
            raise
        return session

    async def _after_failure(self, session: _Session, exc: BaseException) -> None:
        """A session the server answered with a refusal is reset and kept; any other is dropped
        (its state is unknown: a timeout, a broken connection, a cancelled send)."""
        if not isinstance(exc, TemporaryFailure | PermanentFailure):
            self._drop(session)
            return
        try:
            await asyncio.wait_for(session.client.rset(), self.config.timeout_seconds)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self._drop(session)
            return
        await self._put_back(session)

    async def _put_back(self, session: _Session) -> None:
        if not session.client.is_connected:
            return
        if self._closed or session.sent >= self.config.messages_per_connection:
            await self._quit(session)
            return
        session.idle_since = time.monotonic()
        self._idle.append(session)

    async def _quit(self, session: _Session) -> None:
        if session.client.is_connected:
            with suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await asyncio.wait_for(session.client.quit(), self.config.timeout_seconds)
        self._drop(session)

    @staticmethod
    def _drop(session: _Session) -> None:
        with suppress(aiosmtplib.SMTPException, OSError):
            session.client.close()
