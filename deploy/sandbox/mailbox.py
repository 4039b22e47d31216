"""The sandbox mailbox: a development-only SMTP server that takes the portal's e-mail and keeps it
for a developer (and the tests) to read, so the e-mail channel runs locally over real SMTP.

- SMTP on ``SANDBOX_MAILBOX_SMTP_PORT`` (2525): STARTTLS with a self-signed certificate made at
  start (written to ``SANDBOX_MAILBOX_CERTIFICATE_FILE`` when set, for clients to trust), AUTH
  PLAIN and LOGIN after STARTTLS against ``SANDBOX_MAILBOX_USERNAME``/``_PASSWORD`` and required
  when a username is set, a message size limit (``SIZE``, 552 above it). Implicit TLS as well on
  ``SANDBOX_MAILBOX_TLS_PORT`` when set.
- Failures on command, for the retry and failover paths: a recipient in the domain
  ``temporary.invalid`` is answered ``451 4.3.0`` (try again later), one in ``permanent.invalid``
  ``550 5.1.1`` (no such mailbox). Nothing is kept for them.
- HTTP on ``SANDBOX_MAILBOX_HTTP_PORT`` (8025): ``GET /api/messages?to=&limit=`` (newest first,
  headers and bodies decoded), ``GET /api/messages/{id}``, ``GET /api/messages/{id}/raw`` (the
  bytes as received), ``DELETE /api/messages``, ``GET /api/stats`` (sessions and messages
  counted since start, for tests and the benchmark), ``DELETE /api/sessions`` (hang up on every
  open SMTP session, as a restart would), and ``GET /`` a page listing the messages.

It keeps the last ``SANDBOX_MAILBOX_KEEP`` messages in memory (``SANDBOX_MAILBOX_KEEP_BYTES`` at
most) and refuses to start in production. aiosmtpd's own log writes addresses and, at debug
level, AUTH exchanges: it is held at error. Command: ``python -m deploy.sandbox.mailbox``; tests use :func:`running`.
"""

from __future__ import annotations

import asyncio
import email
import functools
import hmac
import html
import ipaddress
import itertools
import logging
import ssl
import tempfile
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.local.components import free_port

log = logging.getLogger(__name__)

TEMPORARY_DOMAIN = "temporary.invalid"
PERMANENT_DOMAIN = "permanent.invalid"
MAX_LIST = 500


class MailboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_MAILBOX_", extra="ignore")

    environment: str = Field(default="development", validation_alias="PORTAL_ENVIRONMENT")
    host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=0, le=65535)
    http_port: int = Field(default=8025, ge=0, le=65535)
    # Implicit TLS (SMTPS, as on port 465), off unless set.
    tls_port: int | None = Field(default=None, ge=0, le=65535)
    starttls: bool = True
    hostname: str = "mailbox.localhost"
    # The development credentials; an empty username lets anyone send without AUTH.
    username: str = "portal"
    password: str = Field(default="development", repr=False)  # the development placeholder
    max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    keep: int = Field(default=1000, ge=1, le=100_000)
    # And no more than this many bytes of messages in all (the oldest go first).
    keep_bytes: int = Field(default=256 * 1024 * 1024, ge=1024, le=4 * 1024 * 1024 * 1024)
    session_timeout_seconds: float = Field(default=300, gt=0, le=3600)
    certificate_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    sender: str
    to: str
    subject: str
    date: str
    message_id: str
    text: str | None
    html: str | None


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body((subtype,))
    if not isinstance(part, EmailMessage):
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        return None
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def parse(raw: bytes) -> Parsed:
    message = email.message_from_bytes(raw, _class=EmailMessage, policy=default_policy)
    assert isinstance(message, EmailMessage)

    def header(name: str) -> str:
        try:
            return str(message.get(name, ""))
        except (ValueError, IndexError):
            return ""

    return Parsed(
        sender=header("From"), to=header("To"), subject=header("Subject"), date=header("Date"),
        message_id=header("Message-ID"), text=_body(message, "plain"), html=_body(message, "html"),
    )  # fmt: skip


@dataclass(frozen=True)
class Kept:
    """A message as received; decoded when first read (receiving stays cheap under load)."""

    id: str
    received_at: datetime
    envelope_from: str
    envelope_to: tuple[str, ...]
    tls: bool
    authenticated: bool
    raw: bytes

    @functools.cached_property
    def parsed(self) -> Parsed:
        return parse(self.raw)

    def summary(self) -> dict[str, Any]:
        view = self.parsed
        return {
            "id": self.id, "from": view.sender, "to": list(self.envelope_to), "to_header": view.to,
            "subject": view.subject, "date": view.date, "message_id": view.message_id,
            "received_at": self.received_at.isoformat(), "size": len(self.raw), "tls": self.tls,
            "authenticated": self.authenticated, "text": view.text, "html": view.html,
        }  # fmt: skip


@dataclass
class Mailbox:
    """The messages kept (the last ``keep``, ``keep_bytes`` at most in all) and what was counted
    since start. SMTP sessions and HTTP requests run on one event loop: no lock."""

    keep: int
    keep_bytes: int
    kept_bytes: int = 0
    messages: OrderedDict[str, Kept] = field(default_factory=OrderedDict)
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    sessions: int = 0
    received: int = 0
    refused: int = 0
    live: weakref.WeakSet[SMTP] = field(default_factory=weakref.WeakSet)

    def hang_up(self) -> int:
        """Close every open SMTP session, as a server restarting or timing out would."""
        closing = [server for server in self.live if server.transport is not None]
        for server in closing:
            if server.transport is not None:
                server.transport.close()
        return len(closing)

    def add(self, envelope_from: str, envelope_to: list[str], raw: bytes, *, tls: bool, authenticated: bool) -> Kept:
        kept = Kept(
            str(next(self.numbers)), datetime.now(UTC), envelope_from, tuple(envelope_to), tls, authenticated, raw
        )
        self.messages[kept.id] = kept
        self.kept_bytes += len(raw)
        while len(self.messages) > self.keep or self.kept_bytes > self.keep_bytes:
            _, oldest = self.messages.popitem(last=False)
            self.kept_bytes -= len(oldest.raw)
        self.received += 1
        return kept

    def clear(self) -> int:
        deleted = len(self.messages)
        self.messages.clear()
        self.kept_bytes = 0
        return deleted

    def newest(self, to: str | None, limit: int) -> list[Kept]:
        wanted = to.lower() if to else None
        found: list[Kept] = []
        for kept in reversed(self.messages.values()):
            if wanted is None or wanted in (address.lower() for address in kept.envelope_to):
                found.append(kept)
                if len(found) >= limit:
                    break
        return found


class Handler:
    """aiosmtpd's hooks: refusals on command at RCPT, the message kept at DATA."""

    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain == TEMPORARY_DOMAIN:
            self.mailbox.refused += 1
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        if domain == PERMANENT_DOMAIN:
            self.mailbox.refused += 1
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            return "554 5.6.0 No message"
        tls = server.transport is not None and server.transport.get_extra_info("sslcontext") is not None
        kept = self.mailbox.add(
            envelope.mail_from or "", list(envelope.rcpt_tos), raw, tls=tls, authenticated=bool(session.authenticated)
        )
        return f"250 2.0.0 OK queued as {kept.id}"


def self_signed(hostname: str) -> tuple[bytes, bytes]:
    """A certificate and its key (PEM) for ``hostname``, ``localhost`` and the loopback
    addresses, valid from a little before now for 30 days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.now(UTC)
    public = key.public_key()
    names: list[x509.GeneralName] = [
        x509.DNSName(hostname), x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1")),
    ]  # fmt: skip
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(certificate_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_path.write_bytes(certificate_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context


def _article(kept: Kept) -> str:
    view, number = kept.parsed, html.escape(kept.id)
    html_part = f"<details><summary>HTML</summary><pre>{html.escape(view.html)}</pre></details>" if view.html else ""
    return (
        f"<article><h2>{html.escape(view.subject)}</h2><p><b>Từ / From:</b> {html.escape(view.sender)}<br>"
        f"<b>Đến / To:</b> {html.escape(', '.join(kept.envelope_to))}<br>"
        f"<b>Ngày / Date:</b> {html.escape(view.date)}"
        f' — <a href="/api/messages/{number}">JSON</a> · <a href="/api/messages/{number}/raw">raw</a></p>'
        f"<pre>{html.escape(view.text or '')}</pre>{html_part}</article>"
    )


def _page(kept: list[Kept]) -> str:
    rows = "\n".join(_article(k) for k in kept)
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>Hộp thư thử nghiệm (sandbox)</title></head><body><h1>Hộp thư thử nghiệm (sandbox)</h1>
<p>{len(kept)} thư / messages, mới nhất trước / newest first.</p>
{rows or "<p>Chưa có thư / No messages yet.</p>"}</body></html>"""


def create_app(mailbox: Mailbox) -> FastAPI:
    app = FastAPI(title="Sandbox mailbox (development only)")

    def found(message_id: str) -> Kept:
        kept = mailbox.messages.get(message_id)
        if kept is None:
            raise HTTPException(404, "no message with this id")
        return kept

    @app.get("/api/messages")
    async def list_messages(
        to: Annotated[str | None, Query(max_length=320)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    ) -> list[dict[str, Any]]:
        return [kept.summary() for kept in mailbox.newest(to, limit)]

    @app.get("/api/messages/{message_id}")
    async def read_message(message_id: str) -> dict[str, Any]:
        return found(message_id).summary()

    @app.get("/api/messages/{message_id}/raw")
    async def raw_message(message_id: str) -> Response:
        return Response(found(message_id).raw, media_type="message/rfc822")

    @app.delete("/api/messages")
    async def delete_messages() -> dict[str, int]:
        return {"deleted": mailbox.clear()}

    @app.delete("/api/sessions")
    async def hang_up() -> dict[str, int]:
        return {"closed": mailbox.hang_up()}

    @app.get("/api/stats")
    async def stats() -> dict[str, int]:
        return {"sessions": mailbox.sessions, "received": mailbox.received, "refused": mailbox.refused,
                "kept": len(mailbox.messages), "kept_bytes": mailbox.kept_bytes}  # fmt: skip

    @app.get("/", response_class=HTMLResponse)
    async def page(limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100) -> HTMLResponse:
        return HTMLResponse(_page(mailbox.newest(None, limit)))

    return app


class MailboxServer:
    """Both servers on the running event loop: ``await start()`` opens the SMTP listeners,
    ``await serve()`` runs the HTTP API until ``stop()`` (or a signal, on the main thread)."""

    def __init__(self, settings: MailboxSettings | None = None):
        self.settings = settings or MailboxSettings()
        if self.settings.environment == "production":
            raise RuntimeError("the sandbox mailbox is for development only")
        self.mailbox = Mailbox(self.settings.keep, self.settings.keep_bytes)
        self.certificate_pem, key_pem = self_signed(self.settings.hostname)
        self._tls = server_context(self.certificate_pem, key_pem)
        self.app = create_app(self.mailbox)
        self._servers: list[asyncio.Server] = []
        self._http: uvicorn.Server | None = None
        self.smtp_port = self.settings.smtp_port
        self.tls_port = self.settings.tls_port

    def _smtp(self, implicit_tls: bool) -> SMTP:
        self.mailbox.sessions += 1
        settings = self.settings
        with warnings.catch_warnings():
            # Implicit TLS: AUTH is not asked to wait for STARTTLS, which aiosmtpd warns about.
            warnings.simplefilter("ignore", UserWarning)
            server = SMTP(
                Handler(self.mailbox), hostname=settings.hostname, data_size_limit=settings.max_message_bytes,
                tls_context=None if implicit_tls or not settings.starttls else self._tls,
                auth_required=bool(settings.username), auth_require_tls=not implicit_tls,
                authenticator=self._authenticate, timeout=settings.session_timeout_seconds,
            )  # fmt: skip
        self.mailbox.live.add(server)
        return server

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or not self.settings.username:
            return AuthResult(success=False, handled=False)
        login_ok = hmac.compare_digest(auth_data.login, self.settings.username.encode())
        password_ok = hmac.compare_digest(auth_data.password, self.settings.password.encode())
        return AuthResult(success=login_ok and password_ok, handled=False)

    async def start(self) -> None:
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        if self.settings.certificate_file is not None:
            self.settings.certificate_file.write_bytes(self.certificate_pem)
        loop = asyncio.get_running_loop()
        plain = await loop.create_server(lambda: self._smtp(False), self.settings.host, self.settings.smtp_port)
        self._servers.append(plain)
        self.smtp_port = plain.sockets[0].getsockname()[1]
        if self.settings.tls_port is not None:
            tls = await loop.create_server(
                lambda: self._smtp(True), self.settings.host, self.settings.tls_port, ssl=self._tls
            )
            self._servers.append(tls)
            self.tls_port = tls.sockets[0].getsockname()[1]
        log.info("sandbox mailbox: SMTP on %s:%s", self.settings.host, self.smtp_port)

    async def serve(self, http_port: int | None = None) -> None:
        port = self.settings.http_port if http_port is None else http_port
        config = uvicorn.Config(self.app, host=self.settings.host, port=port, log_config=None, access_log=False)
        self._http = uvicorn.Server(config)
        try:
            await self._http.serve()
        finally:
            await self.close()

    @property
    def http_started(self) -> bool:
        return self._http is not None and self._http.started

    def stop(self) -> None:
        if self._http is not None:
            self._http.should_exit = True

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        self.mailbox.hang_up()  # clients keep sessions open; closing waits for them (Python 3.12+)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()


@dataclass(frozen=True, slots=True)
class Running:
    server: MailboxServer
    smtp_port: int
    tls_port: int | None
    url: str

    @property
    def mailbox(self) -> Mailbox:
        return self.server.mailbox

    @property
    def certificate_pem(self) -> bytes:
        return self.server.certificate_pem


@contextmanager
def running(settings: MailboxSettings, timeout: float = 20) -> Iterator[Running]:
    """Both servers on their own event loop in a thread until the block ends (tests). Ports set
    to 0 are chosen by the system."""
    server = MailboxServer(settings)
    http_port = settings.http_port or free_port(settings.host)
    failure: list[BaseException] = []

    async def main() -> None:
        try:
            await server.start()
        except BaseException as exc:
            failure.append(exc)
            raise
        await server.serve(http_port)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True, name="sandbox-mailbox")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.http_started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("the sandbox mailbox did not start") from (failure[0] if failure else None)
        time.sleep(0.02)
    try:
        yield Running(server, server.smtp_port, server.tls_port, f"http://{settings.host}:{http_port}")
    finally:
        server.stop()
        thread.join(timeout)


async def main() -> None:
    server = MailboxServer()
    await server.start()
    await server.serve()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main())
