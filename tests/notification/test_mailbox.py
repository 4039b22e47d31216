"""The sandbox mailbox, driven by the standard library's SMTP client (an implementation other than
the channel's): STARTTLS with the certificate it made, AUTH PLAIN and LOGIN required and checked,
refusals on command, a size limit; its API lists, reads and deletes what arrived, keeps only the
last messages, escapes its page; and it refuses to start in production."""

from __future__ import annotations

import base64
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.components import free_port, port_open, stop_process
from deploy.sandbox.mailbox import MailboxServer, MailboxSettings, Running, running

USERNAME = "portal-dev"
PASSWORD = "Pw-mailbox-51c0e8"
SENDER = "no-reply@dichvucong.gov.vn"
ROOT = Path(__file__).resolve().parents[2]


def mailbox_settings(**overrides: Any) -> MailboxSettings:
    values: dict[str, Any] = {"smtp_port": 0, "http_port": 0, "username": USERNAME, "password": PASSWORD}
    return MailboxSettings(**(values | overrides))


@pytest.fixture
def box() -> Iterator[Running]:
    with running(mailbox_settings()) as started:
        yield started


def message(to: str, subject: str = "Thông báo kết quả", text: str = "Kết quả đã có.\n",
            html: str | None = None) -> EmailMessage:  # fmt: skip
    mail = EmailMessage()
    mail["From"] = f"Cổng Dịch vụ công quốc gia <{SENDER}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


def session(box: Running, *, login: str | None = "PLAIN", password: str = PASSWORD) -> smtplib.SMTP:
    """A session upgraded with STARTTLS, the mailbox's certificate trusted and its name checked."""
    client = smtplib.SMTP("127.0.0.1", box.smtp_port, timeout=5)
    client.starttls(context=ssl.create_default_context(cadata=box.certificate_pem.decode()))
    if login == "PLAIN":
        client.login(USERNAME, password)  # smtplib prefers PLAIN among what the server offers
    elif login == "LOGIN":
        client.ehlo()
        client.user, client.password = USERNAME, password
        assert client.auth("LOGIN", client.auth_login)[0] == 235
    return client


def send(box: Running, *messages: EmailMessage, **login: Any) -> None:
    with session(box, **login) as client:
        for mail in messages:
            client.send_message(mail)


def listed(box: Running, **params: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{box.url}/api/messages", params=params, timeout=5)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    return found


# --- SMTP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_message_sent_after_starttls_and_auth_is_kept_decoded(box: Running, mechanism: str) -> None:
    send(box, message("an@example.vn", html="<p>Kết quả đã có.</p>"), login=mechanism)

    [kept] = listed(box)
    assert kept["subject"] == "Thông báo kết quả"
    assert kept["from"] == f"Cổng Dịch vụ công quốc gia <{SENDER}>"
    assert (kept["to"], kept["text"], kept["html"]) == (
        ["an@example.vn"],
        "Kết quả đã có.\n",
        "<p>Kết quả đã có.</p>\n",
    )
    assert (kept["tls"], kept["authenticated"]) == (True, True)


def test_auth_is_required_offered_only_after_starttls_and_checked(box: Running) -> None:
    with smtplib.SMTP("127.0.0.1", box.smtp_port, timeout=5) as plain:
        plain.ehlo()
        assert plain.has_extn("starttls") and not plain.has_extn("auth")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            plain.send_message(message("an@example.vn"))
        assert refused.value.smtp_code == 530
    with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
        session(box, password="not-the-password")
    assert wrong.value.smtp_code == 535
    with session(box, login=None) as unauthenticated, pytest.raises(smtplib.SMTPSenderRefused):
        unauthenticated.send_message(message("an@example.vn"))

    assert listed(box) == []


def test_without_credentials_anyone_may_send() -> None:
    with running(mailbox_settings(username="")) as open_box:
        with smtplib.SMTP("127.0.0.1", open_box.smtp_port, timeout=5) as plain:
            plain.send_message(message("an@example.vn"))
        [kept] = listed(open_box)

    assert (kept["tls"], kept["authenticated"]) == (False, False)


def test_refusals_on_command_keep_nothing_for_those_recipients(box: Running) -> None:
    with session(box) as client:
        for to, code in (("x@temporary.invalid", 451), ("x@permanent.invalid", 550)):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                client.send_message(message(to))
            assert [answer[0] for answer in refused.value.recipients.values()] == [code]
        rejected = client.send_message(message("ok@example.vn, x@temporary.invalid"))

    assert rejected == {"x@temporary.invalid": (451, b"4.3.0 Mailbox temporarily unavailable, try again later")}
    assert [m["to"] for m in listed(box)] == [["ok@example.vn"]]
    assert httpx.get(f"{box.url}/api/stats", timeout=5).json()["refused"] == 3


def test_a_message_over_the_size_limit_is_refused() -> None:
    with running(mailbox_settings(max_message_bytes=4096)) as small_box:
        with session(small_box) as client:
            assert client.has_extn("size") and client.esmtp_features["size"] == "4096"
            client.send_message(message("small@example.vn"))
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # SIZE= announced at MAIL
                client.send_message(message("big@example.vn", text="Nội dung. " * 600))
            assert refused.value.smtp_code == 552
            assert client.mail(SENDER)[0] == 250  # the same, unannounced, refused after DATA
            assert client.rcpt("big@example.vn")[0] == 250
            lines = ("y" * 70 + "\n") * 90
            assert client.data(message("big@example.vn", text=lines).as_bytes(policy=SMTP))[0] == 552
        assert [m["to"] for m in listed(small_box)] == [["small@example.vn"]]


def test_the_certificate_is_written_for_clients_and_names_loopback(tmp_path: Path) -> None:
    pem = tmp_path / "mailbox.pem"
    with running(mailbox_settings(certificate_file=pem)) as pem_box:
        for host in ("127.0.0.1", "localhost"):
            with smtplib.SMTP(host, pem_box.smtp_port, timeout=5) as client:
                client.starttls(context=ssl.create_default_context(cafile=str(pem)))
                assert client.sock is not None and client.sock.version() in ("TLSv1.2", "TLSv1.3")
        untrusting = smtplib.SMTP("127.0.0.1", pem_box.smtp_port, timeout=5)
        with untrusting, pytest.raises(ssl.SSLCertVerificationError):
            untrusting.starttls(context=ssl.create_default_context())


def test_hanging_up_closes_every_open_session(box: Running) -> None:
    with session(box) as first, session(box) as second:
        assert httpx.delete(f"{box.url}/api/sessions", timeout=5).json() == {"closed": 2}
        for client in (first, second):
            with pytest.raises(smtplib.SMTPServerDisconnected):
                client.noop()

    assert httpx.delete(f"{box.url}/api/sessions", timeout=5).json() == {"closed": 0}


def test_addresses_and_credentials_stay_out_of_the_logs(box: Running, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG"):
        send(box, message("rare.person.7781@example.vn"), login="LOGIN")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            session(box, password="Wrong-pw-0f1e2d")

    assert listed(box)[0]["to"] == ["rare.person.7781@example.vn"]
    encoded = base64.b64encode(PASSWORD.encode()).decode()  # as AUTH LOGIN sends it
    for secret in ("rare.person.7781", PASSWORD, "Wrong-pw-0f1e2d", encoded):
        assert secret not in caplog.text


# --- HTTP -------------------------------------------------------------------------------------


def test_the_api_lists_newest_first_filters_limits_reads_and_deletes(box: Running) -> None:
    send(box, *(message(f"p{i % 2}@example.vn", subject=f"Thư số {i}") for i in range(5)))

    assert [m["subject"] for m in listed(box)] == [f"Thư số {i}" for i in (4, 3, 2, 1, 0)]
    assert [m["subject"] for m in listed(box, to="P1@example.vn")] == ["Thư số 3", "Thư số 1"]
    assert [m["subject"] for m in listed(box, limit=2)] == ["Thư số 4", "Thư số 3"]
    newest = listed(box)[0]
    assert httpx.get(f"{box.url}/api/messages/{newest['id']}", timeout=5).json() == newest
    raw = httpx.get(f"{box.url}/api/messages/{newest['id']}/raw", timeout=5)
    assert raw.headers["content-type"] == "message/rfc822" and b"Subject: =?utf-8?" in raw.content
    for bad in ({"limit": 0}, {"limit": 501}, {"to": "x" * 321}):
        assert httpx.get(f"{box.url}/api/messages", params=bad, timeout=5).status_code == 422

    deleted = httpx.delete(f"{box.url}/api/messages", timeout=5)

    assert deleted.json() == {"deleted": 5}
    assert listed(box) == []
    assert httpx.get(f"{box.url}/api/messages/{newest['id']}", timeout=5).status_code == 404


def test_only_the_last_messages_are_kept() -> None:
    with running(mailbox_settings(keep=3)) as small_box:
        send(small_box, *(message("an@example.vn", subject=f"Thư số {i}") for i in range(7)))
        kept = listed(small_box)
        first = httpx.get(f"{small_box.url}/api/messages/1", timeout=5)
        stats = httpx.get(f"{small_box.url}/api/stats", timeout=5).json()
        assert len(small_box.mailbox.messages) == 3

    assert [m["subject"] for m in kept] == ["Thư số 6", "Thư số 5", "Thư số 4"]
    assert first.status_code == 404
    assert stats == {"sessions": 1, "received": 7, "refused": 0, "kept": 3,
                     "kept_bytes": sum(m["size"] for m in kept)}  # fmt: skip


def test_no_more_than_the_byte_limit_is_kept() -> None:
    body = ("Dòng nội dung của thư thử nghiệm.\n") * 40  # about 2 KiB on the wire
    with running(mailbox_settings(keep_bytes=8192)) as small_box:
        send(small_box, *(message("an@example.vn", subject=f"Thư số {i}", text=body) for i in range(10)))
        kept = listed(small_box)
        stats = httpx.get(f"{small_box.url}/api/stats", timeout=5).json()
        httpx.delete(f"{small_box.url}/api/messages", timeout=5)
        emptied = httpx.get(f"{small_box.url}/api/stats", timeout=5).json()

    sizes = [m["size"] for m in kept]
    assert 2 <= len(kept) < 10 and kept[0]["subject"] == "Thư số 9"
    assert sum(sizes) <= 8192 < sum(sizes) + sizes[-1]  # the oldest went, and only as many as needed
    assert (stats["received"], stats["kept"], stats["kept_bytes"]) == (10, len(kept), sum(sizes))
    assert (emptied["kept"], emptied["kept_bytes"]) == (0, 0)


def test_the_page_lists_messages_with_everything_escaped(box: Running) -> None:
    script = "<script>alert('x')</script>"
    send(box, message("an@example.vn", subject=f"Tiêu đề {script}", text=f"Nội dung {script}\n",
                      html=f"<p onclick=\"steal()\">{script}</p>"))  # fmt: skip

    page = httpx.get(f"{box.url}/", timeout=5)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text and 'onclick="' not in page.text
    assert page.text.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") == 3
    assert "Tiêu đề" in page.text and "an@example.vn" in page.text


# --- production ---------------------------------------------------------------------------------


def test_the_command_serves_both_ports_until_terminated(tmp_path: Path) -> None:
    smtp_port, http_port, pem = free_port(), free_port(), tmp_path / "mailbox.pem"
    settings = {"SMTP_PORT": smtp_port, "HTTP_PORT": http_port, "USERNAME": USERNAME, "PASSWORD": PASSWORD,
                "CERTIFICATE_FILE": pem}  # fmt: skip
    environment = os.environ | {"PORTAL_ENVIRONMENT": "development"}
    environment |= {f"SANDBOX_MAILBOX_{name}": str(value) for name, value in settings.items()}
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.sandbox.mailbox"], cwd=ROOT, env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", http_port) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as client:
            client.starttls(context=ssl.create_default_context(cafile=str(pem)))
            client.login(USERNAME, PASSWORD)
            client.send_message(message("an@example.vn"))
        kept = httpx.get(f"http://127.0.0.1:{http_port}/api/messages", timeout=5).json()
    finally:
        stop_process(process)

    assert [m["subject"] for m in kept] == ["Thông báo kết quả"]
    assert process.stderr is not None and b"Finished server process" in process.stderr.read()
    assert process.returncode == -signal.SIGTERM  # shut down, then the signal raised again by uvicorn


def test_it_refuses_to_start_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENVIRONMENT", "production")
    with pytest.raises(RuntimeError, match="development only"):
        MailboxServer(MailboxSettings(smtp_port=0, http_port=0))

    environment = os.environ | {"PORTAL_ENVIRONMENT": "production", "SANDBOX_MAILBOX_SMTP_PORT": "0",
                                "SANDBOX_MAILBOX_HTTP_PORT": "0"}  # fmt: skip
    command = subprocess.run(
        [sys.executable, "-m", "deploy.sandbox.mailbox"], cwd=ROOT, env=environment, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert command.returncode != 0
    assert "development only" in command.stderr
