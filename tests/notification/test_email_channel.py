"""The e-mail channel against a real SMTP server on loopback (the sandbox mailbox): Vietnamese
headers encoded on the wire and decoded exactly on arrival, STARTTLS and AUTH used and required,
the server's answers mapped to the delivery port's failures, sessions pooled and reused, and the
password in no log record, exception text or repr."""

from __future__ import annotations

import asyncio
import base64
import email
import logging
import time
from collections.abc import Iterator
from contextlib import suppress
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest

from deploy.local.components import free_port
from deploy.sandbox.mailbox import MailboxSettings, Running, running
from services.notification.adapters.email import DEFAULT_SENDER_NAME, SmtpConfig, SmtpProvider, failure_for
from services.notification.domain.delivery import (
    DeliveryFailure,
    Email,
    PermanentFailure,
    TechnicalFailure,
    TemporaryFailure,
)

USERNAME = "portal-dev"
PASSWORD = "Pw-7f3a9c-kh0ng-l0-ra"  # distinctive, to be looked for in logs
SENDER = "no-reply@dichvucong.gov.vn"
SUBJECT = "Hồ sơ của bạn đã được tiếp nhận — mã G22.99-251203-0001"
TEXT = "Kính gửi ông/bà Nguyễn Văn An,\nHồ sơ đăng ký khai sinh đã được tiếp nhận.\n"
HTML = "<p>Kính gửi ông/bà <b>Nguyễn Văn An</b>,</p><p>Hồ sơ đăng ký khai sinh đã được tiếp nhận.</p>\n"


def mailbox_settings(**overrides: Any) -> MailboxSettings:
    values: dict[str, Any] = {"smtp_port": 0, "http_port": 0, "tls_port": 0, "username": USERNAME,
                              "password": PASSWORD, "keep": 1000}  # fmt: skip
    return MailboxSettings(**(values | overrides))


@pytest.fixture
def box() -> Iterator[Running]:
    with running(mailbox_settings()) as started:
        yield started


def trust(box: Running, folder: Path) -> str:
    path = folder / "mailbox.pem"
    path.write_bytes(box.certificate_pem)
    return str(path)


def smtp(box: Running, folder: Path, **overrides: Any) -> SmtpConfig:
    values: dict[str, Any] = {"name": "mailbox", "host": "127.0.0.1", "port": box.smtp_port, "sender": SENDER,
                              "username": USERNAME, "password": PASSWORD, "ca_file": trust(box, folder),
                              "timeout_seconds": 5.0, "connections": 2}  # fmt: skip
    return SmtpConfig(**(values | overrides))


def email_to(to: str, message_id: str = "msg-1", **fields: Any) -> Email:
    values: dict[str, Any] = {"message_id": message_id, "to": to, "subject": SUBJECT, "text": TEXT}
    return Email(**(values | fields))


def messages(box: Running, to: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit} | ({"to": to} if to else {})
    answer = httpx.get(f"{box.url}/api/messages", params=params, timeout=5)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    return found


def stats(box: Running) -> dict[str, int]:
    found: dict[str, int] = httpx.get(f"{box.url}/api/stats", timeout=5).json()
    return found


async def send_once(config: SmtpConfig, message: Email) -> Any:
    provider = SmtpProvider(config)
    try:
        return await provider.send(message)
    finally:
        await provider.aclose()


async def failure(config: SmtpConfig, message: Email) -> DeliveryFailure:
    with pytest.raises(DeliveryFailure) as raised:
        await send_once(config, message)
    return raised.value


# --- the message ------------------------------------------------------------------------------


async def test_vietnamese_headers_are_encoded_on_the_wire_and_arrive_exactly(box: Running, tmp_path: Path) -> None:
    handed = await send_once(smtp(box, tmp_path), email_to("an.nguyen@example.vn", "dossier-42", html=HTML))

    assert (handed.provider, handed.reference, handed.delivered) == ("mailbox", "<dossier-42@dichvucong.gov.vn>", True)
    [kept] = messages(box, to="an.nguyen@example.vn")
    assert kept["subject"] == SUBJECT
    assert kept["from"] == f"{DEFAULT_SENDER_NAME} <{SENDER}>"
    assert (kept["text"], kept["html"]) == (TEXT, HTML)
    assert kept["message_id"] == handed.reference
    assert (kept["tls"], kept["authenticated"]) == (True, True)

    raw = httpx.get(f"{box.url}/api/messages/{kept['id']}/raw", timeout=5).content
    assert raw.isascii()  # every header encoded (RFC 2047), every body in a 7-bit transfer encoding
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line endings throughout
    head = b"\r\n" + raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nSubject: =?utf-8?" in head and b"\r\nFrom: =?utf-8?" in head
    assert b"Content-Type: multipart/alternative" in raw
    assert b"Auto-Submitted: auto-generated" in head
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed["To"] == "an.nguyen@example.vn"
    assert abs(parsed_date(parsed["Date"]) - time.time()) < 60
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            assert part.get_content_charset() == "utf-8"
            assert part["Content-Transfer-Encoding"] in ("base64", "quoted-printable")


def parsed_date(header: str) -> float:
    return parsedate_to_datetime(header).timestamp()


async def test_a_message_without_html_is_plain_text(box: Running, tmp_path: Path) -> None:
    await send_once(smtp(box, tmp_path), email_to("plain@example.vn"))

    [kept] = messages(box, to="plain@example.vn")
    assert (kept["text"], kept["html"]) == (TEXT, None)
    raw = httpx.get(f"{box.url}/api/messages/{kept['id']}/raw", timeout=5).content
    assert b'Content-Type: text/plain; charset="utf-8"' in raw
    assert b"multipart" not in raw


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"to": "not an address"}, "not deliverable"),
        ({"to": "nobody@"}, "not deliverable"),
        ({"to": "người@example.vn"}, "not deliverable"),
        ({"to": "a@example.vn\r\nBcc: b@example.vn"}, "not deliverable"),
        ({"message_id": "id with spaces"}, "message id"),
        ({"subject": "Tiêu đề\r\nBcc: b@example.vn"}, "cannot be made"),
    ],
)
async def test_a_message_that_cannot_be_made_is_a_permanent_failure_without_its_address(
    box: Running, tmp_path: Path, fields: dict[str, str], reason: str
) -> None:
    values: dict[str, Any] = {"message_id": "msg-1", "to": "ok@example.vn", "subject": SUBJECT, "text": TEXT}

    refused = await failure(smtp(box, tmp_path), Email(**(values | fields)))

    assert isinstance(refused, PermanentFailure) and reason in refused.reason
    assert "example.vn" not in str(refused) and "@" not in str(refused)
    assert stats(box)["sessions"] == 0  # refused before any session was opened


async def test_a_message_over_the_size_limit_is_refused_before_and_by_the_server(tmp_path: Path) -> None:
    big = email_to("big@example.vn", text="Nội dung dài. " * 400)
    with running(mailbox_settings(max_message_bytes=2048)) as small_box:
        ours = await failure(smtp(small_box, tmp_path, max_message_bytes=2048), big)
        theirs = await failure(smtp(small_box, tmp_path), big)
        assert messages(small_box) == []

    assert isinstance(ours, PermanentFailure) and ours.reason == "message too large"
    assert isinstance(theirs, PermanentFailure) and theirs.reason.startswith("mail refused: 552")


# --- the session: TLS and AUTH ----------------------------------------------------------------


async def test_a_wrong_password_is_a_technical_failure(box: Running, tmp_path: Path) -> None:
    refused = await failure(smtp(box, tmp_path, password="not-the-password"), email_to("a@example.vn"))

    assert isinstance(refused, TechnicalFailure)
    assert refused.reason == "auth refused: 535 5.7.8"
    assert messages(box) == []


async def test_starttls_required_but_not_offered_sends_nothing(tmp_path: Path) -> None:
    with running(mailbox_settings(starttls=False, username="")) as plain_box:
        refused = await failure(smtp(plain_box, tmp_path, username=None, password=None), email_to("a@example.vn"))
        assert messages(plain_box) == []

    assert isinstance(refused, TechnicalFailure) and refused.reason == "tls: STARTTLS not offered"


async def test_a_server_that_requires_tls_and_auth_refuses_a_plain_session(box: Running, tmp_path: Path) -> None:
    with_login = await failure(smtp(box, tmp_path, security="none"), email_to("a@example.vn"))
    without = await failure(smtp(box, tmp_path, security="none", username=None, password=None), email_to("a@x.vn"))

    assert isinstance(with_login, TechnicalFailure) and with_login.reason.startswith("auth:")
    assert isinstance(without, TechnicalFailure) and without.reason == "mail refused: 530 5.7.0"
    assert messages(box) == []


async def test_an_untrusted_certificate_is_a_technical_failure(box: Running, tmp_path: Path) -> None:
    refused = await failure(smtp(box, tmp_path, ca_file=None), email_to("a@example.vn"))

    assert isinstance(refused, TechnicalFailure) and refused.reason == "tls: TLS failed"
    assert messages(box) == []


async def test_implicit_tls_is_used_on_its_own_port(box: Running, tmp_path: Path) -> None:
    assert box.tls_port is not None
    await send_once(smtp(box, tmp_path, port=box.tls_port, security="tls"), email_to("tls@example.vn"))

    [kept] = messages(box, to="tls@example.vn")
    assert (kept["tls"], kept["authenticated"], kept["subject"]) == (True, True, SUBJECT)


async def test_nothing_listening_is_a_technical_failure(tmp_path: Path) -> None:
    config = SmtpConfig(name="gone", host="127.0.0.1", port=free_port(), sender=SENDER, security="none")
    started = time.monotonic()

    refused = await failure(config, email_to("a@example.vn"))

    assert isinstance(refused, TechnicalFailure) and refused.reason == "connect: connection failed"
    assert time.monotonic() - started < 5


async def test_a_server_that_never_answers_times_out_as_a_technical_failure() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # accepts, never greets

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = SmtpConfig(name="silent", host="127.0.0.1", port=port, sender=SENDER, security="none",
                        timeout_seconds=0.3)  # fmt: skip
    try:
        started = time.monotonic()
        refused = await failure(config, email_to("a@example.vn"))
    finally:
        server.close()

    assert isinstance(refused, TechnicalFailure) and refused.reason == "connect: timed out"
    assert time.monotonic() - started < 3


# --- the server's answers ---------------------------------------------------------------------


async def test_451_is_temporary_550_permanent_and_the_session_is_kept(box: Running, tmp_path: Path) -> None:
    provider = SmtpProvider(smtp(box, tmp_path, connections=1))
    try:
        with pytest.raises(TemporaryFailure) as temporary:
            await provider.send(email_to("busy@temporary.invalid", "m-1"))
        with pytest.raises(PermanentFailure) as permanent:
            await provider.send(email_to("gone@permanent.invalid", "m-2"))
        handed = await provider.send(email_to("fine@example.vn", "m-3"))
    finally:
        await provider.aclose()

    assert temporary.value.reason == "rcpt refused: 451 4.3.0"
    assert permanent.value.reason == "rcpt refused: 550 5.1.1"
    assert "invalid" not in temporary.value.reason + permanent.value.reason
    assert handed.reference == "<m-3@dichvucong.gov.vn>"
    assert [m["to"] for m in messages(box)] == [["fine@example.vn"]]
    assert stats(box)["sessions"] == 1  # a refusal is answered with RSET, not a new session


@pytest.mark.parametrize(
    ("stage", "error", "expected"),
    [
        ("mail", aiosmtplib.SMTPSenderRefused(452, "4.3.1 Insufficient system storage", SENDER), TemporaryFailure),
        ("rcpt", aiosmtplib.SMTPRecipientRefused(450, "4.2.1 Mailbox busy", "a@example.vn"), TemporaryFailure),
        ("data", aiosmtplib.SMTPDataError(451, "4.7.1 Greylisted, try again"), TemporaryFailure),
        ("rcpt", aiosmtplib.SMTPRecipientRefused(550, "5.1.1 a@example.vn unknown", "a@example.vn"), PermanentFailure),
        ("data", aiosmtplib.SMTPDataError(554, "5.7.1 Rejected as spam"), PermanentFailure),
        ("mail", aiosmtplib.SMTPSenderRefused(552, "5.3.4 Message too big", SENDER), PermanentFailure),
        ("mail", aiosmtplib.SMTPSenderRefused(553, "5.7.1 Sender not allowed", SENDER), TechnicalFailure),
        ("tls", aiosmtplib.SMTPResponseException(454, "4.7.0 TLS not available"), TechnicalFailure),
        ("auth", aiosmtplib.SMTPAuthenticationError(454, "4.7.0 Temporary authentication failure"), TechnicalFailure),
        ("connect", aiosmtplib.SMTPConnectResponseError(421, "4.3.2 Too busy"), TechnicalFailure),
        ("data", aiosmtplib.SMTPServerDisconnected("Connection lost"), TechnicalFailure),
        ("rcpt", aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"), TechnicalFailure),
    ],
)
def test_each_answer_maps_to_its_failure_with_a_reason_free_of_the_reply_text(
    stage: Any, error: Exception, expected: type[DeliveryFailure]
) -> None:
    mapped = failure_for(stage, error)

    assert type(mapped) is expected
    assert mapped.reason.startswith(stage)
    assert "@" not in mapped.reason and "example" not in mapped.reason and "Mailbox" not in mapped.reason


# --- the pool ---------------------------------------------------------------------------------


async def test_fifty_messages_over_a_pool_of_two_use_two_sessions(box: Running, tmp_path: Path) -> None:
    provider = SmtpProvider(smtp(box, tmp_path, connections=2))
    try:
        handed = await asyncio.gather(
            *(provider.send(email_to(f"citizen{i}@example.vn", f"bulk-{i}")) for i in range(50))
        )
        assert provider.open_sessions == 2
    finally:
        await provider.aclose()

    assert sorted(h.reference for h in handed) == sorted(f"<bulk-{i}@dichvucong.gov.vn>" for i in range(50))
    assert len(messages(box)) == 50
    assert stats(box)["sessions"] == 2
    assert provider.open_sessions == 0


async def test_a_session_the_server_closed_is_replaced(tmp_path: Path) -> None:
    with running(mailbox_settings(session_timeout_seconds=0.3)) as short_box:
        provider = SmtpProvider(smtp(short_box, tmp_path, connections=1))
        try:
            await provider.send(email_to("first@example.vn", "m-1"))
            deadline = time.monotonic() + 5
            while provider.open_sessions and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert provider.open_sessions == 0  # the server timed the idle session out
            await provider.send(email_to("second@example.vn", "m-2"))
        finally:
            await provider.aclose()

        assert [m["to"] for m in messages(short_box)] == [["second@example.vn"], ["first@example.vn"]]
        assert stats(short_box)["sessions"] == 2


async def test_a_reused_session_found_dead_at_mail_is_replaced_without_a_failure(box: Running, tmp_path: Path) -> None:
    provider = SmtpProvider(smtp(box, tmp_path, connections=1))
    try:
        await provider.send(email_to("first@example.vn", "m-1"))
        # The server hangs up while this event loop is blocked: the session still looks open here
        # and its death shows only when MAIL is written to it.
        assert httpx.delete(f"{box.url}/api/sessions", timeout=5).json() == {"closed": 1}
        assert provider.open_sessions == 1
        handed = await provider.send(email_to("second@example.vn", "m-2"))
    finally:
        await provider.aclose()

    assert handed.reference == "<m-2@dichvucong.gov.vn>"
    assert [m["to"] for m in messages(box)] == [["second@example.vn"], ["first@example.vn"]]
    assert stats(box)["sessions"] == 2


async def test_a_session_carries_at_most_its_limit_of_messages(box: Running, tmp_path: Path) -> None:
    provider = SmtpProvider(smtp(box, tmp_path, connections=1, messages_per_connection=5))
    try:
        for i in range(12):
            await provider.send(email_to(f"n{i}@example.vn", f"m-{i}"))
    finally:
        await provider.aclose()

    assert len(messages(box)) == 12
    assert stats(box)["sessions"] == 3


async def test_a_session_idle_longer_than_its_limit_is_replaced(box: Running, tmp_path: Path) -> None:
    provider = SmtpProvider(smtp(box, tmp_path, connections=1, idle_seconds=0.2))
    try:
        await provider.send(email_to("a@example.vn", "m-1"))
        await provider.send(email_to("b@example.vn", "m-2"))  # at once: the same session
        await asyncio.sleep(0.3)
        await provider.send(email_to("c@example.vn", "m-3"))
    finally:
        await provider.aclose()

    assert len(messages(box)) == 3
    assert stats(box)["sessions"] == 2


async def test_cancelled_sends_leave_no_slot_taken_and_no_session_half_used(box: Running, tmp_path: Path) -> None:
    provider = SmtpProvider(smtp(box, tmp_path, connections=1))
    try:
        for delay in (0, 0.001, 0.003, 0.01, 0.03):
            task = asyncio.create_task(provider.send(email_to("cancel@example.vn", f"c-{delay}")))
            await asyncio.sleep(delay)
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        handed = await asyncio.wait_for(
            asyncio.gather(*(provider.send(email_to("after@example.vn", f"a-{i}")) for i in range(3))), timeout=10
        )
    finally:
        await provider.aclose()

    assert [h.reference for h in handed] == [f"<a-{i}@dichvucong.gov.vn>" for i in range(3)]
    assert len(messages(box, to="after@example.vn")) == 3


async def test_a_closed_provider_sends_nothing_and_keeps_no_session(box: Running, tmp_path: Path) -> None:
    provider = SmtpProvider(smtp(box, tmp_path))
    await provider.send(email_to("a@example.vn"))
    assert provider.open_sessions == 1

    await provider.aclose()

    assert provider.open_sessions == 0
    with pytest.raises(TechnicalFailure, match="provider closed"):
        await provider.send(email_to("b@example.vn", "m-2"))
    assert len(messages(box)) == 1


# --- secrets and configuration ----------------------------------------------------------------


async def test_the_password_is_in_no_log_record_exception_or_repr(
    box: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "Wr0ng-9d2e41-mat-khau"
    with caplog.at_level(logging.DEBUG):
        config = smtp(box, tmp_path)
        await send_once(config, email_to("a@example.vn"))
        refused = await failure(smtp(box, tmp_path, password=wrong), email_to("b@example.vn"))
        temporary = await failure(config, email_to("c@temporary.invalid"))
    out, err = capsys.readouterr()
    written = caplog.text + out + err + "".join(str(r.__dict__) for r in caplog.records)

    assert "auth refused" in written  # the failed session was logged, and the log is what we read
    texts = [str(refused), repr(refused), str(temporary), repr(temporary), repr(config), str(config),
             repr(SmtpProvider(config))]  # fmt: skip
    for secret in (PASSWORD, wrong):
        forms = [secret, base64.b64encode(secret.encode()).decode(),
                 base64.b64encode(f"\0{USERNAME}\0{secret}".encode()).decode()]  # fmt: skip
        for form in forms:
            assert form not in written
            assert all(form not in text for text in texts)
    assert refused.__cause__ is None and refused.__suppress_context__  # no library text chained on


@pytest.mark.parametrize(
    "overrides",
    [
        {"security": "none", "host": "smtp.example.vn"},
        {"security": "ssl"},
        {"username": "portal", "password": None},
        {"connections": 0},
        {"connections": 65},
        {"timeout_seconds": 0},
        {"max_message_bytes": 100},
        {"messages_per_connection": 0},
        {"port": 0},
        {"sender": "not an address"},
    ],
)
def test_a_configuration_out_of_its_limits_is_refused(overrides: dict[str, Any]) -> None:
    values: dict[str, Any] = {"name": "p", "host": "127.0.0.1", "port": 587, "sender": SENDER}
    with pytest.raises(ValueError):
        SmtpConfig(**(values | overrides))


def test_plain_text_is_allowed_to_loopback_only() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        assert SmtpConfig(name="p", host=host, port=2525, sender=SENDER, security="none").host == host
