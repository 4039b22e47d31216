"""The whole journey against a running portal (``make run``), printed as a timeline.

A citizen signs in (authorization code + PKCE, the real sign-in form), searches the catalogue
without diacritics and, with their app's live inbox stream open (SSE through the gateway),
submits a dossier with its documents to a service with fees; cancels twice at the sandbox bank
(each failure told once, its SMS failed on command by sandbox provider ``a``: once for now, so
it is retried after its backoff, once for good, so provider ``b`` takes it over), then pays (the
receipt verified against the published JWKS); the simulated province receives the dossier and
pushes its statuses back in its own format; every notice is in the inbox, the sandbox mailbox and
at the SMS providers, once; the citizen rates the service; the public lookup and statistics show
it; the citizen sends feedback about the procedure, the agency's official (password and TOTP
code) classifies, answers and publishes it, and the public search finds the answer; a province's
own portal signs its user in through the national SSO; and the SMS failed for now is seen
delivered by provider ``b`` after its backoff (30 s, overlapping the steps since). Every line
shows data the services answered.

Command: ``python -m deploy.demo`` (``make demo``); ``--portal`` for another address. The same
journey is an end-to-end test (``tests/e2e/test_demo_journey.py``). Development only: it signs
in with the documented development fixtures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pyotp
from jose import jwt

CITIZEN_LOGIN, CITIZEN_PASSWORD = "001099012345", "Citizen-Demo-2025"
CITIZEN_PHONE = "+84912345678"  # the seeded citizen's verified phone (userinfo's phone_number)
WEB_CLIENT, WEB_REDIRECT = "demo-web", "http://127.0.0.1:8765/callback"
# The seeded official of the journey's agency, signing in to the officials' console.
OFFICIAL = ("canbo.demo", "Official-Demo-2025", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")  # login, password, TOTP secret
OPERATOR_CLIENT, OPERATOR_REDIRECT = "demo-operator", "http://127.0.0.1:8767/callback"
FEEDBACK_SEARCH = "rut ngan thoi han cap doi"  # words of the answer below, typed without diacritics
FEEDBACK_ANSWER = (
    "Sở đã rút ngắn thời hạn cấp đổi giấy phép lái xe trực tuyến và nhắc nhở bộ phận một cửa trả kết quả đúng hẹn."
)
PROVINCE_PORTAL = ("demo-province-portal", "demo-province-portal-development-secret")
PROVINCE_PORTAL_REDIRECT = "http://127.0.0.1:8766/callback"
SEARCH = "cap doi giay phep lai xe"  # typed without diacritics
AGENCY = "000.00.01.H22"  # the agency whose system the simulator plays
# A one-page PDF and a PNG: the portal checks files by their first bytes.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
INBOX_STREAM = "/api/v1/notification/inbox/stream"
# The payer cancels at the bank once per failure here before paying: each declined order tells
# them once, and its SMS carries the failure sandbox provider ``a`` is told (``payment_fails``).
SMS_FAILURES = (("temporary", "accept the next SMS to the citizen's number, then report it failed for now"),
                ("refuse-permanent", "refuse the next SMS to the citizen's number for good"))  # fmt: skip
PAYMENT_ATTEMPTS = len(SMS_FAILURES)
# The notification service's first retry waits this long (``services/notification/domain/messages.py``).
FIRST_BACKOFF_SECONDS = 30
T = TypeVar("T")


class JourneyFailed(RuntimeError):
    """A step did not give what the journey needs; the message says which and what came back."""


class _Form(HTMLParser):
    """The inputs of the sign-in page's form."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.fields[str(a["name"])] = a.get("value") or ""


@dataclass
class Timeline:
    """Prints each step with the time since the start, and keeps what the test checks."""

    out: Callable[[str], None] = print
    started: float = field(default_factory=time.monotonic)
    facts: dict[str, Any] = field(default_factory=dict)

    def say(self, what: str) -> None:
        self.out(f"{time.monotonic() - self.started:7.1f}s  {what}")


def _expect(answer: httpx.Response, status: int, what: str) -> Any:
    if answer.status_code != status:
        raise JourneyFailed(f"{what}: expected HTTP {status}, got {answer.status_code}: {answer.text[:500]}")
    return answer.json() if answer.content else None


async def _eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 60) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await probe()
        if value is not None:
            return value
        await asyncio.sleep(0.3)
    raise JourneyFailed(f"{what}: not seen within {within:.0f} s")


class LiveInbox:
    """An SSE client on the citizen's inbox stream (``/inbox/stream``, through the gateway, with
    their token), as a web or mobile app holds it: each ``item`` event kept with when it came."""

    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        self.unread: int | None = None
        self.opened = asyncio.Event()
        self.reading: asyncio.Task[None] | None = None

    async def read(self, api: httpx.AsyncClient, bearer: dict[str, str]) -> None:
        headers = bearer | {"Accept": "text/event-stream"}
        # The service sends a heartbeat every 15 s: a minute of silence is a broken stream.
        async with api.stream("GET", INBOX_STREAM, headers=headers, timeout=httpx.Timeout(30, read=60)) as answer:
            if answer.status_code != 200:
                await answer.aread()
                raise JourneyFailed(f"inbox stream: HTTP {answer.status_code}: {answer.text[:300]}")
            event, data = "message", []
            async for line in answer.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    if name == "event":
                        event = value.strip()
                    elif name == "data":
                        data.append(value.removeprefix(" "))
                    continue
                if event == "unread" and data:
                    self.unread = json.loads("\n".join(data))["unread"]
                    self.opened.set()
                elif event == "item" and data:
                    self.items.append((time.monotonic(), json.loads("\n".join(data))))
                event, data = "message", []
        raise JourneyFailed("the inbox stream ended")

    async def item(self, wanted: Callable[[dict[str, Any]], bool], what: str,
                   within: float = 30) -> tuple[float, dict[str, Any]]:  # fmt: skip
        """The first item ``wanted`` that came on the stream, and when (bounded wait)."""

        async def probe() -> tuple[float, dict[str, Any]] | None:
            if self.reading is not None and self.reading.done():
                self.reading.result()  # the stream broke: say why
                raise JourneyFailed("the inbox stream ended")
            return next(((at, i) for at, i in self.items if wanted(i)), None)

        return await _eventually(probe, what, within)


@contextlib.asynccontextmanager
async def live_inbox(api: httpx.AsyncClient, bearer: dict[str, str]) -> AsyncIterator[LiveInbox]:
    """The stream, open (its first ``unread`` event came) until the block ends."""
    live = LiveInbox()
    live.reading = asyncio.create_task(live.read(api, bearer))
    opened = asyncio.create_task(live.opened.wait())
    try:
        await asyncio.wait({live.reading, opened}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if live.reading.done():
            live.reading.result()
        if not live.opened.is_set():
            raise JourneyFailed("inbox stream: no first event within 30 s")
        yield live
    finally:
        for task in (opened, live.reading):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, JourneyFailed, httpx.HTTPError):
                await task


async def _gathered(fetch: Callable[[], Awaitable[list[T]]], count: Callable[[list[T]], int], enough: int,
                    within: float) -> list[T]:  # fmt: skip
    """What ``fetch`` answers once ``count`` of it reaches ``enough``, or when ``within`` seconds are up."""
    deadline = time.monotonic() + within
    while True:
        found = await fetch()
        if count(found) >= enough or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.3)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def sign_in(
    portal: str, meta: dict[str, Any], client_id: str, redirect: str, scope: str, secret: str | None = None,
    who: tuple[str, str, str | None] = (CITIZEN_LOGIN, CITIZEN_PASSWORD, None),
) -> dict[str, Any]:  # fmt: skip
    """Authorization code + PKCE through the sign-in form, as a browser would, for ``who`` (login,
    password, and the TOTP secret of an account with a second factor); the tokens, with the ID
    token verified against the published keys."""
    login, password, totp_secret = who
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    params = {"client_id": client_id, "redirect_uri": redirect, "response_type": "code", "scope": scope,
              "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as browser:
        for attempt in range(2 if totp_secret else 1):
            page = await browser.get(f"{meta['authorization_endpoint']}?{urlencode(params)}")
            if page.status_code != 200:
                raise JourneyFailed(f"sign-in page: HTTP {page.status_code}: {page.text[:300]}")
            form = _Form()
            form.feed(page.text)
            filled = form.fields | {"login": login, "password": password}
            if totp_secret:
                filled["totp"] = pyotp.TOTP(totp_secret).now()  # the authenticator app's code
            answer = await browser.post(meta["authorization_endpoint"], data=filled)
            if answer.status_code == 303 or not totp_secret or attempt:
                break
            # This 30-second step's code was used already (a demo moments ago): the next step's.
            await asyncio.sleep(30.5 - time.time() % 30)
    location = answer.headers.get("location", "")
    if answer.status_code != 303 or not location.startswith(redirect):
        raise JourneyFailed(f"sign-in: expected a redirect to {redirect}, got {answer.status_code} {location}")
    back = dict(parse_qsl(urlsplit(location).query))
    if back.get("state") != state or "code" not in back:
        raise JourneyFailed(f"sign-in: the redirect lacks the code or the state: {location}")
    grant = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": redirect,
             "code_verifier": verifier}  # fmt: skip
    async with httpx.AsyncClient(timeout=30) as client:
        if secret is None:
            tokens = _expect(await client.post(meta["token_endpoint"], data=grant | {"client_id": client_id}), 200,
                             "token exchange")  # fmt: skip
        else:
            tokens = _expect(await client.post(meta["token_endpoint"], data=grant, auth=(client_id, secret)), 200,
                             "token exchange (confidential client)")  # fmt: skip
        jwks = _expect(await client.get(meta["jwks_uri"]), 200, "JWKS")
    claims = jwt.decode(tokens["id_token"], jwks, algorithms=["RS256"], audience=client_id, issuer=meta["issuer"],
                        access_token=tokens["access_token"])  # fmt: skip
    if claims.get("nonce") != nonce:
        raise JourneyFailed("the ID token's nonce is not the one sent")
    return {**tokens, "claims": claims}


async def journey(portal: str, bank: str, timeline: Timeline, mailbox: str = "http://127.0.0.1:8025",
                  messaging: str = "http://127.0.0.1:8030",
                  first_backoff: float = FIRST_BACKOFF_SECONDS) -> dict[str, Any]:  # fmt: skip
    """Walk the journey; returns what was seen at each step (``timeline.facts``). ``first_backoff``:
    the notification service's first retry wait (``NOTIFICATION_DEV_FIRST_RETRY_SECONDS`` if set)."""
    say, facts = timeline.say, timeline.facts
    async with httpx.AsyncClient(base_url=portal, timeout=30) as api, contextlib.AsyncExitStack() as held:
        meta = _expect(await api.get("/.well-known/openid-configuration"), 200, "discovery")
        say(f"portal {meta['issuer']}: OpenID provider, {len(meta['scopes_supported'])} scopes")

        scope = "openid profile phone dossier:submit dossier:read payment:pay feedback:send notification:read"
        tokens = await sign_in(portal, meta, WEB_CLIENT, WEB_REDIRECT, scope)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        me = _expect(await api.get(meta["userinfo_endpoint"], headers=bearer), 200, "userinfo")
        facts["citizen"] = me["sub"]
        say(f"citizen signed in with code + PKCE: {me.get('name')} (subject {me['sub'][:8]}…)")

        found = _expect(await api.get("/api/v1/catalogue/services", params={"q": SEARCH, "limit": 20}), 200,
                        "catalogue search")  # fmt: skip
        offered = [s for s in found["items"] if s.get("agency_code") == AGENCY]
        if not offered:
            raise JourneyFailed(f"no service of {AGENCY} found for {SEARCH!r}: {found['items'][:3]}")
        service = _expect(await api.get(f"/api/v1/catalogue/services/{offered[0]['id']}"), 200, "service")
        fees = sum(f["amount"] for f in service.get("fees", []) if not f.get("condition"))
        facts["service"] = service["id"]
        say(f"search {SEARCH!r}: {len(found['items'])} services; chose {offered[0]['procedure_code']} "
            f"{offered[0]['procedure_name']} at {offered[0]['agency_name']}, fees {fees:,} VND")  # fmt: skip

        dossier_body = {
            "service_id": service["id"],
            "applicant": {"kind": "citizen", "identifier": CITIZEN_LOGIN, "name": me.get("name") or "Nguyễn Văn An",
                          "phone": "0912345678"},
            "form": {"ho_ten": me.get("name") or "Nguyễn Văn An", "so_dinh_danh": CITIZEN_LOGIN,
                     "so_gplx": "220123456789"},
        }  # fmt: skip
        files = [("files", ("don-de-nghi.pdf", PDF, "application/pdf")),
                 ("files", ("giay-kham-suc-khoe.png", PNG, "image/png"))]  # fmt: skip

        # The citizen's app holds the inbox stream open (SSE through the gateway, their token):
        # what the steps below tell them arrives on it as it happens.
        live = await held.enter_async_context(live_inbox(api, bearer))
        say(f"an SSE client holds the citizen's inbox stream open through the gateway ({live.unread} unread)")
        key = str(uuid.uuid4())

        async def submitted() -> dict[str, Any] | None:
            answer = await api.post(
                "/api/v1/dossier/dossiers/with-files", headers=bearer | {"Idempotency-Key": key},
                data={"dossier": json.dumps(dossier_body, ensure_ascii=False), "components": ["TP01", "TP02"]},
                files=files,
            )  # fmt: skip
            if answer.status_code == 404 and "online service" in answer.text:
                return None  # a fresh portal: the dossier service is still reading the catalogue's events
            receipt: dict[str, Any] = _expect(answer, 201, "submission")
            return receipt

        receipt = await _eventually(submitted, "the service offered by the dossier service")
        dossier_id, code = receipt["dossier_id"], receipt["code"]
        facts.update(dossier_id=dossier_id, code=code, fee_total=receipt["fee_total"])
        say(f"dossier {code} received at {receipt['received_at']}, appointment {receipt['appointment_date']}, "
            f"fees {receipt['fee_total']:,} VND, 2 documents")  # fmt: skip
        filed = time.monotonic()
        at, item = await live.item(lambda i: i["kind"] == "dossier-received" and code in i["body"],
                                   "the receipt on the live inbox stream")  # fmt: skip
        say(f"  live on the inbox stream {at - filed:.1f} s after filing: {item['kind']}: {item['title']!r}")

        phone = str(me.get("phone_number") or CITIZEN_PHONE)
        async with httpx.AsyncClient(base_url=bank, timeout=30) as sandbox_bank, \
                httpx.AsyncClient(base_url=messaging, timeout=10) as providers:  # fmt: skip
            await payment_fails(api, sandbox_bank, providers, bearer, receipt, phone, live, timeline)
            paying = await pay_order(api, sandbox_bank, bearer, dossier_id, PAYMENT_ATTEMPTS + 1)
            say(f"payment order {paying['reference']} for {paying['amount']:,} VND (amount from the assessment "
                "event)")  # fmt: skip
            approved = _expect(await sandbox_bank.post(f"/api/vnpay/{paying['reference']}/approve", json={}), 200,
                               "sandbox bank: approval")  # fmt: skip
        reply = approved["portal_replies"][0]
        say(f"the payer approved at the sandbox bank; its signed IPN was answered {reply}")
        paid = _expect(await api.get(f"/api/v1/payment/orders/{paying['id']}", headers=bearer), 200, "order")
        if paid["state"] != "succeeded" or not paid.get("receipt"):
            raise JourneyFailed(f"the order is {paid['state']}, not succeeded")
        keys = _expect(await api.get("/api/v1/payment/jwks"), 200, "payment JWKS")
        signed = jwt.decode(paid["receipt"]["jws"], keys, algorithms=["RS256"])
        facts["receipt"] = signed
        say(f"electronic receipt {signed.get('receipt_number')} verified against the published JWKS "
            f"({signed['amount']:,} VND for {signed['dossier_code']})")  # fmt: skip

        async def fee_paid() -> dict[str, Any] | None:
            seen = _expect(await api.get(f"/api/v1/dossier/dossiers/{dossier_id}", headers=bearer), 200, "dossier")
            return seen if seen.get("fees_paid_at") else None

        shown = await _eventually(fee_paid, "the fee paid on the dossier")
        say(f"the dossier shows the fee paid at {shown['fees_paid_at']} (payment event over the broker)")

        steps: list[int] = []

        async def returned() -> list[dict[str, Any]] | None:
            line = _expect(await api.get(f"/api/v1/dossier/dossiers/{dossier_id}/timeline", headers=bearer), 200,
                           "timeline")  # fmt: skip
            for item in line["items"]:
                if item["source"] == "agency" and item["status"] not in steps:
                    steps.append(item["status"])
                    say(f"  the province reports status {item['status']}: {item.get('note') or ''}".rstrip())
            return line["items"] if line["items"][-1]["status"] == 10 else None

        say("the province's system received the dossier; following its status pushes (provinces' format) …")
        items = await _eventually(returned, "the result returned (status 10)", within=90)
        facts["timeline"] = [(i["previous"], i["status"], i["source"]) for i in items]
        say("result returned; timeline " + " → ".join(f"{i['status']} ({i['source']})" for i in items))

        await notified(api, bearer, code, timeline, mailbox, messaging)
        facts["live"] = [i["kind"] for _, i in live.items if code in i["body"]]
        say("live on the stream as each happened: " + " → ".join(facts["live"]))
        await held.aclose()  # the app closes the stream

        rated = _expect(await api.post(f"/api/v1/dossier/dossiers/{dossier_id}/rating", headers=bearer,
                                       json={"score": 5, "comment": "Nhanh, đúng hẹn"}), 201, "rating")  # fmt: skip
        say(f"the citizen rated the service {rated['score']}/5")

        secret = receipt["lookup_secret"]
        looked = _expect(await api.get("/api/v1/dossier/lookup", params={"code": code, "verifier": secret}),
                         200, "public lookup")  # fmt: skip
        say(f"public lookup of {code} with the receipt's lookup secret: status {looked['status']}")

        async def counted() -> dict[str, Any] | None:
            period = {"from": _day(-1), "days": "3", "agency": AGENCY}
            figures = _expect(await api.get("/api/v1/dossier/statistics", params=period), 200, "statistics")
            items = figures["items"]
            ready = items and items[0]["ratings"]["count"] >= 1 and items[0]["payments_online"] >= 1
            return items[0] if ready else None

        stats = await _eventually(counted, "the dossier in the public statistics")
        facts["statistics"] = stats
        say(f"public statistics for {AGENCY}: received {stats['received']['total']}, processed {stats['processed']}, "
            f"on time {stats['on_time']}, paid online {stats['payments_online']}, quality index "
            f"{stats['quality_index']['overall']}")  # fmt: skip

        await feedback(api, meta, bearer, offered[0], me, timeline)

    province = await sign_in(portal, meta, PROVINCE_PORTAL[0], PROVINCE_PORTAL_REDIRECT, "openid profile",
                             secret=PROVINCE_PORTAL[1])  # fmt: skip
    facts["province_portal"] = province["claims"]
    say(f"a province's portal ({PROVINCE_PORTAL[0]}) signed the same person in through the national SSO: "
        f"ID token for {province['claims']['aud']}, subject {province['claims']['sub'][:8]}…")  # fmt: skip
    await retried(messaging, phone, timeline, first_backoff)
    return facts


# What each step of the dossier should have told its owner (notification kinds).
TOLD = ["dossier-received", "payment-failed", "payment-succeeded", "dossier-in-processing", "dossier-processed",
        "result-returned"]  # fmt: skip
FAILED = "payment-failed"
# Words of the payment-failed templates: the e-mail's subject, the SMS's text (without diacritics).
FAILED_WORDS = ("không thành công", "khong thanh cong")
CHANNEL_NAMES = {"inbox": "inbox", "email": "e-mail", "sms": "SMS"}


async def notified(api: httpx.AsyncClient, bearer: dict[str, str], code: str, timeline: Timeline, mailbox: str,
                   messaging: str) -> None:  # fmt: skip
    """The notices the journey made: in the citizen's inbox, in the sandbox mailbox (e-mail) and
    at the sandbox SMS providers, each once (a payment failure once per declined order)."""
    say, facts = timeline.say, timeline.facts

    def failures(texts: list[str]) -> int:
        return sum(1 for text in texts if any(words in text for words in FAILED_WORDS))

    async def inbox() -> list[dict[str, Any]] | None:
        items = _expect(await api.get("/api/v1/notification/inbox", headers=bearer, params={"limit": 50}), 200,
                        "inbox")["items"]  # fmt: skip
        mine = [i for i in items if code in i["body"]]
        every = {i["kind"] for i in mine} >= set(TOLD) and [i["kind"] for i in mine].count(FAILED) >= PAYMENT_ATTEMPTS
        return mine if every else None

    items = list(reversed(await _eventually(inbox, "every notice in the inbox")))
    facts["inbox"] = [i["kind"] for i in items]
    say("inbox: " + " → ".join(i["kind"] for i in items))
    async with httpx.AsyncClient(timeout=10) as sandbox:

        async def mailed() -> list[dict[str, Any]]:
            answer = _expect(await sandbox.get(f"{mailbox}/api/messages", params={"limit": 100}), 200, "mailbox")
            return [m for m in answer if code in m["subject"]]

        # Each notice by e-mail (the receipt and the result whatever the preferences).
        mails = await _gathered(mailed, len, len(items), within=30)
        facts["emails"] = len(mails)
        if len(mails) < 2:
            raise JourneyFailed(f"the e-mails in the sandbox mailbox: {len(mails)} of {len(items)}")
        say(f"e-mail (sandbox mailbox, SMTP with STARTTLS): {len(mails)} message(s), e.g. {mails[-1]['subject']!r}")

        async def texted() -> list[dict[str, Any]]:
            answer = _expect(await sandbox.get(f"{messaging}/api/sms", params={"limit": 200}), 200, "sandbox SMS")
            return [t for t in answer["messages"] if code in t["text"]]

        texts = await _gathered(texted, lambda found: len({t["client_ref"] for t in found}), len(items), within=10)
        if not texts:
            say("SMS: none yet — between 21:00 and 07:00 (Vietnam time) SMS that are not urgent wait for morning")
        # One message is one client_ref (its id), whichever providers it went to and how often.
        messages = {t["client_ref"]: t["text"] for t in texts}
        delivered = [t["client_ref"] for t in texts if t["status"] == "delivered"]
        facts["sms"] = len(messages)
        facts["sms_delivered_twice"] = sorted({ref for ref in delivered if delivered.count(ref) > 1})
        if texts:
            twice = len(facts["sms_delivered_twice"]) or "none"
            say(f"SMS (sandbox brand-name providers): {len(messages)} message(s), {len(set(delivered))} delivered so "
                f"far ({twice} twice), {len(texts) - len(messages)} more attempt(s) after failures; receipts signed "
                "back")  # fmt: skip
        if 0 < len(messages) < len(mails):  # each notice goes by e-mail and by SMS
            say(f"  the other {len(mails) - len(messages)} SMS wait: quiet hours (21:00–07:00, Vietnam time) hold "
                "those not urgent (a payment failure is), and one person gets at most 10 SMS an hour")  # fmt: skip
    facts["payment_failed"] = {"inbox": facts["inbox"].count(FAILED), "email": failures([m["subject"] for m in mails]),
                               "sms": failures(list(messages.values()))}  # fmt: skip
    say(f"the {PAYMENT_ATTEMPTS} declined payments told the payer: " +
        ", ".join(f"{n} by {CHANNEL_NAMES[channel]}" for channel, n in facts["payment_failed"].items()))  # fmt: skip


async def pay_order(api: httpx.AsyncClient, bank: httpx.AsyncClient, bearer: dict[str, str], dossier_id: str,
                    attempt: int) -> dict[str, Any]:  # fmt: skip
    """The ``attempt``-th payment order for the dossier's assessed fees (an idempotency key of its
    own), its signed VNPay URL handed to the sandbox bank as the payer's browser would."""

    async def order() -> dict[str, Any] | None:
        key = {"Idempotency-Key": f"pay-{dossier_id}-{attempt}"}
        made = await api.post("/api/v1/payment/orders", headers=bearer | key,
                              json={"dossier_id": dossier_id, "provider": "vnpay"})  # fmt: skip
        return made.json() if made.status_code in (200, 201) else None

    paying = await _eventually(order, "a payment order for the assessed fees")
    request = dict(parse_qsl(urlsplit(paying["pay"]["url"]).query))
    _expect(await bank.post("/api/vnpay/requests", json=request), 200, "sandbox bank: payment page")
    return paying


async def payment_fails(
    api: httpx.AsyncClient, bank: httpx.AsyncClient, providers: httpx.AsyncClient, bearer: dict[str, str],
    receipt: dict[str, Any], phone: str, live: LiveInbox, timeline: Timeline,
) -> None:  # fmt: skip
    """The payer cancels at the sandbox bank ``PAYMENT_ATTEMPTS`` times before paying. Each
    declined order ends failed (``payment.order.failed.v1``) and tells the payer once (inbox,
    live on the stream, e-mail, SMS: counted in ``notified``), the first although the bank sends
    its IPN three times. Their SMS (urgent: quiet hours do not hold them) carry the sandbox
    providers' failures on command: provider ``a`` first fails one for now (it waits its backoff,
    then goes to the next provider: checked at the end, ``retried``), then refuses one for good,
    and ``b`` takes it over at once."""
    say, facts = timeline.say, timeline.facts
    code, dossier_id = receipt["code"], receipt["dossier_id"]
    facts["sms_retry"] = facts["sms_failover"] = None
    told: set[str] = set()
    # The receipt's SMS goes first, unless quiet hours hold it (not urgent): the failures commanded
    # below are then the payment failures' SMS (urgent: they go at any hour).
    await _sms_at(providers, phone, lambda r: code in r["text"], within=5)
    for attempt, (outcome, meaning) in enumerate(SMS_FAILURES, start=1):
        # Told only once the previous command was used: the sandbox keeps one per number.
        commanded = attempt == 1 or facts["sms_retry"] is not None
        if commanded:
            behaviour = {"provider": "a", "to": phone, "outcome": outcome, "times": 1}
            _expect(await providers.post("/api/behaviour", json=behaviour), 200, "sandbox messaging: behaviour")
            say(f"sandbox SMS provider a is told to {meaning}")
        paying = await pay_order(api, bank, bearer, dossier_id, attempt)
        declined_at = time.monotonic()
        decision = {"duplicates": 2 if attempt == 1 else 0}
        declined = _expect(await bank.post(f"/api/vnpay/{paying['reference']}/decline", json=decision), 200,
                           "sandbox bank: decline")  # fmt: skip

        async def ended(order_id: str = paying["id"]) -> dict[str, Any] | None:
            seen = _expect(await api.get(f"/api/v1/payment/orders/{order_id}", headers=bearer), 200, "order")
            return seen if seen["state"] == "failed" else None

        order = await _eventually(ended, "the declined order failed", within=20)
        replies = declined["portal_replies"]
        say(f"payment order {order['reference']}: the payer cancelled at the sandbox bank; its signed IPN "
            f"({len(replies)}×) answered {replies[0]}; the order {order['state']}")  # fmt: skip
        at, item = await live.item(lambda i: i["kind"] == FAILED and code in i["body"] and i["id"] not in told,
                                   "the payment failure on the live inbox stream")  # fmt: skip
        told.add(item["id"])
        say(f"  live on the inbox stream {at - declined_at:.1f} s after the decline: {item['kind']}: {item['title']!r}")
        if not commanded:
            continue

        def at_a(r: dict[str, Any], outcome: str = outcome) -> bool:
            return r["provider"] == "a" and r["outcome"] == outcome and r["status"] in ("failed", "refused") \
                and code in r["text"]  # fmt: skip

        failed = await _sms_at(providers, phone, at_a)
        if failed is None:
            say("  SMS: not at provider a yet: the hourly limit per person (10 SMS), used by a demo moments ago, "
                "holds it")  # fmt: skip
            continue
        if outcome == "temporary":
            facts["sms_retry"] = {"failed": failed}
            say(f"  SMS {failed['text'][:48]!r}…: provider a took it, then reported it failed for now "
                f"({failed['error']}): it waits its backoff, then goes to the next provider (below)")  # fmt: skip
            continue

        def at_b(r: dict[str, Any], ref: str = failed["client_ref"]) -> bool:
            return bool(r["provider"] == "b" and r["client_ref"] == ref and r["status"] == "delivered")

        taken = await _sms_at(providers, phone, at_b)
        if taken is None:
            raise JourneyFailed(f"the SMS provider a refused for good did not go to b: {failed['client_ref']}")
        after = _seconds_between(failed["received_at"], taken["received_at"])
        facts["sms_failover"] = {"refused": failed, "delivered": taken, "after_seconds": after}
        answered = taken["receipt_replies"]
        say(f"  SMS {failed['text'][:48]!r}…: provider a refused it for good (invalid_number); provider b "
            f"took it over {after:.1f} s later and delivered it (its signed receipt answered {answered})")  # fmt: skip


async def retried(messaging: str, phone: str, timeline: Timeline, first_backoff: float = FIRST_BACKOFF_SECONDS) -> None:
    """The SMS provider ``a`` failed for now (``payment_fails``), tried again after its backoff by
    the next provider, ``b``, and delivered: what the sandbox lists of both (the message's id is
    each provider's ``client_ref``)."""
    say, facts = timeline.say, timeline.facts
    failed = (facts.get("sms_retry") or {}).get("failed")
    if failed is None:
        return
    async with httpx.AsyncClient(base_url=messaging, timeout=10) as providers:
        delivered = await _sms_at(providers, phone, lambda r: r["provider"] == "b"
                                  and r["client_ref"] == failed["client_ref"] and r["status"] == "delivered"
                                  and any(isinstance(x, int) and x < 300 for x in r["receipt_replies"]),
                                  within=first_backoff + 30)  # fmt: skip
    if delivered is None:
        say("SMS retry: not delivered yet; the hourly limit per person (10 SMS) holds it")
        return
    after = _seconds_between(failed["settled_at"], delivered["received_at"])
    facts["sms_retry"] |= {"delivered": delivered, "after_seconds": after}
    say(f"SMS retried: the one provider a failed for now went again {after:.1f} s later (the first backoff is "
        f"{first_backoff:g} s), to provider b: delivered, its signed receipt answered "
        f"{delivered['receipt_replies']}")  # fmt: skip


async def _sms_at(providers: httpx.AsyncClient, phone: str, wanted: Callable[[dict[str, Any]], bool],
                  within: float = 20) -> dict[str, Any] | None:  # fmt: skip
    """The newest SMS to ``phone`` the sandbox providers list that is ``wanted``; None if none
    comes within ``within`` seconds."""

    async def probe() -> dict[str, Any] | None:
        listed = _expect(await providers.get("/api/sms", params={"to": phone, "limit": 200}), 200, "sandbox SMS")
        return next((r for r in listed["messages"] if wanted(r)), None)

    try:
        return await _eventually(probe, "the SMS", within)
    except JourneyFailed:
        return None


def _seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


async def feedback(
    api: httpx.AsyncClient, meta: dict[str, Any], citizen: dict[str, str], service: dict[str, Any],
    me: dict[str, Any], timeline: Timeline,
) -> None:  # fmt: skip
    """The citizen sends feedback about the journey's procedure; the agency's official signs in
    with a password and a TOTP code, classifies, answers and publishes it; the public search
    finds the answer typed without diacritics."""
    say, facts = timeline.say, timeline.facts
    procedure = service["procedure_code"]
    body = {
        "topic": "procedure", "procedure_code": procedure, "agency_code": AGENCY,
        "title": "Thời hạn cấp đổi giấy phép lái xe", "consent_to_publish": True,
        "content": "Thủ tục cấp đổi giấy phép lái xe trực tuyến cần rút ngắn thời hạn và thông báo rõ từng bước.",
        "contact": {"kind": "citizen", "name": me.get("name") or "Nguyễn Văn An", "phone": "0912345678",
                    "email": "an@example.vn", "address": "12 Tràng Tiền, Hoàn Kiếm, Hà Nội"},
    }  # fmt: skip

    async def sent() -> dict[str, Any] | None:
        answer = await api.post("/api/v1/feedback/feedback", headers=citizen, json=body)
        if answer.status_code == 422 and "procedure_code" in answer.text:
            return None  # a fresh portal: the feedback service is still reading the catalogue's events
        if answer.status_code == 429:
            raise JourneyFailed(f"the citizen has sent today's feedback already ({answer.json().get('detail')}); "
                                "FEEDBACK_MAX_PER_ACCOUNT_PER_DAY sets how many a day")  # fmt: skip
        receipt: dict[str, Any] = _expect(answer, 201, "feedback")
        return receipt

    receipt = await _eventually(sent, "the procedure known to the feedback service")
    fid = receipt["id"]
    facts["feedback"] = receipt
    say(f"feedback {receipt['code']} sent about {procedure}, routed to {receipt['agency_code']}: classify by "
        f"{receipt['classify_due']}, answer by {receipt['answer_due']} (working days)")  # fmt: skip

    tokens = await sign_in(str(api.base_url), meta, OPERATOR_CLIENT, OPERATOR_REDIRECT,
                           "openid profile feedback:process", who=OFFICIAL)  # fmt: skip
    official = {"Authorization": f"Bearer {tokens['access_token']}"}
    claims = jwt.get_unverified_claims(tokens["access_token"])
    facts["official"] = claims
    agencies = ", ".join(claims.get("agencies", []))
    person = _expect(await api.get(meta["userinfo_endpoint"], headers=official), 200, "the official's userinfo")
    say(f"official {person.get('name') or OFFICIAL[0]} signed in with password and TOTP code: "
        f"scope {tokens['scope']}, agencies {agencies}, acr {claims.get('acr')}")  # fmt: skip

    queue = _expect(await api.get("/api/v1/feedback/queue", params={"status": "received", "limit": 100},
                                  headers=official), 200, "the agency's feedback queue")  # fmt: skip
    if fid not in [item["id"] for item in queue["items"]]:
        raise JourneyFailed(f"feedback {receipt['code']} is not in {AGENCY}'s queue: {queue['items'][:3]}")
    say(f"{AGENCY}'s queue: {len(queue['items'])} piece(s) to classify, {receipt['code']} among them")

    path = f"/api/v1/feedback/queue/{fid}"
    classified = _expect(await api.post(f"{path}/classification", json={"category": "implementation"},
                                        headers=official), 200, "classification")  # fmt: skip
    say(f"the official classified it {classified['category']} (Decree 20/2008): status {classified['status']}")
    answered = _expect(await api.post(f"{path}/answer", json={"answer": FEEDBACK_ANSWER}, headers=official), 200,
                       "answer")  # fmt: skip
    say(f"answered at {answered['answered_at']}, on time: {answered['answered_on_time']}")
    published = _expect(await api.post(f"{path}/publication", headers=official), 200, "publication")
    facts["feedback_published"] = published
    say(f"answer published (with the sender's consent, without their name): status {published['status']}")

    search = {"q": FEEDBACK_SEARCH, "procedure": procedure, "limit": 100}
    found = _expect(await api.get("/api/v1/feedback/answers", params=search), 200, "answer search")
    match = [item for item in found["items"] if item["id"] == fid]
    if not match:
        raise JourneyFailed(f"the public search for {FEEDBACK_SEARCH!r} does not find {receipt['code']}")
    facts["feedback_found"] = match[0]
    say(f"public search {FEEDBACK_SEARCH!r}: {len(found['items'])} answer(s), {match[0]['code']} "
        f"from {match[0]['agency_code']}: {match[0]['answer'][:60]}…")  # fmt: skip


def _day(offset: int) -> str:
    """A calendar day in Vietnam, ``offset`` days from today."""
    return (datetime.now(UTC).astimezone(HANOI) + timedelta(days=offset)).date().isoformat()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--portal", default="http://127.0.0.1:8000", help="the gateway (the issuer)")
    parser.add_argument("--bank", default="http://127.0.0.1:8010", help="the sandbox bank")
    parser.add_argument("--mailbox", default="http://127.0.0.1:8025", help="the sandbox mailbox (its HTTP side)")
    parser.add_argument("--messaging", default="http://127.0.0.1:8030", help="the sandbox SMS and push providers")
    parser.add_argument(
        "--first-retry-seconds",
        type=float,
        default=FIRST_BACKOFF_SECONDS,
        help="the portal's first retry wait (NOTIFICATION_DEV_FIRST_RETRY_SECONDS, if set)",
    )
    options = parser.parse_args(argv)
    timeline = Timeline()
    print(f"The journey, against {options.portal}:")
    try:
        asyncio.run(journey(options.portal.rstrip("/"), options.bank.rstrip("/"), timeline,
                            options.mailbox.rstrip("/"), options.messaging.rstrip("/"),
                            options.first_retry_seconds))  # fmt: skip
    except (JourneyFailed, httpx.HTTPError) as exc:
        print(f"\nThe journey stopped: {exc}", file=sys.stderr)
        return 1
    print("Done: every step above is what the services answered.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
