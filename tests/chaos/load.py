"""The chaos load: citizens, a bank and an agency using the portal through its gateway while
faults strike, and the ledger of every write the portal acknowledged.

An open loop starts *flows* at a fixed rate (a bounded number at once; beyond it a flow is shed,
and counted). Every flow files a dossier (``Idempotency-Key``; a tenth are sent again after the
acknowledgement, which must answer the same dossier); then, in turn, one flow stops there, one
pays the fees (an order with its own ``Idempotency-Key``, then the sandbox bank's payer approves
and the bank calls the portal's IPN until it answers) and one has its dossier's status pushed by
the agency (records batched by two pushers; a record has its own id, so a push sent again is
answered ``duplicate`` for what was taken before). A prober reads from each service every
quarter second, to time the recovery.

Clients behave as the portal asks: on 503 and 504 they wait the ``Retry-After`` and send the same
request again, on 502 half a second. Every answer is counted by endpoint and status; one that is
none of 2xx, 502, 503/504 with ``Retry-After``, or an answer the business allows (no fees
assessed yet: the event is on its way) is a violation, and so is a request left unanswered for
the client's whole timeout (a hang) or a write never acknowledged within the flow's deadline.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from .portal import AGENCY, SERVICE_ID, ChaosPortal

# Longer than the gateway can take to answer for itself (with the chaos portal's settings: a free
# connection 3 s, connecting 3 s, the service's silence 5 s), so a hang is the gateway's, not a wait.
CLIENT_TIMEOUT = 15.0
BANK_TIMEOUT = 90.0
FLOW_DEADLINE = 120.0
REPEAT_SHARE = 0.1
PUSH_BATCH = 25
PROBE_EVERY = 0.25
MAX_SAMPLES = 400_000


@dataclass
class Submission:
    ref: str
    key: str
    kind: str
    dossier_id: str
    code: str
    acked_at: float
    attempts: int
    replayed: bool


@dataclass
class Order:
    dossier_id: str
    order_id: str
    reference: str
    acked_at: float


@dataclass
class Payment:
    dossier_id: str
    order_id: str
    reference: str
    acked_at: float
    answer: str


@dataclass
class Record:
    record_id: str
    dossier_code: str
    acked_at: float
    outcome: str


@dataclass
class Ledger:
    """Every write the portal acknowledged (2xx, or the IPN's ``00``/``02``), with its id."""

    submissions: dict[str, Submission] = field(default_factory=dict)  # by the form's reference
    orders: dict[str, Order] = field(default_factory=dict)  # by dossier id
    payments: dict[str, Payment] = field(default_factory=dict)  # by dossier id
    records: dict[str, Record] = field(default_factory=dict)  # by record id
    idempotent_replays: int = 0  # a retry answered with the first attempt's dossier

    @property
    def acknowledged(self) -> int:
        return len(self.submissions) + len(self.orders) + len(self.payments) + len(self.records)

    def counts(self) -> dict[str, int]:
        return {"submissions": len(self.submissions), "orders": len(self.orders), "payments": len(self.payments),
                "status_records": len(self.records)}  # fmt: skip


@dataclass
class Sample:
    start: float
    end: float
    endpoint: str
    status: int | str
    ok: bool


class Observations:
    def __init__(self) -> None:
        self.statuses: Counter[tuple[str, str]] = Counter()
        self.violations: list[dict[str, Any]] = []
        self.samples: deque[Sample] = deque(maxlen=MAX_SAMPLES)
        self.slowest: dict[str, float] = {}

    def note(self, endpoint: str, status: int | str, start: float, ok: bool, violation: str | None = None) -> None:
        end = time.monotonic()
        self.statuses[(endpoint, str(status))] += 1
        self.samples.append(Sample(start, end, endpoint, status, ok))
        self.slowest[endpoint] = max(self.slowest.get(endpoint, 0.0), end - start)
        if violation is not None:
            self.violation(endpoint, violation)

    def violation(self, endpoint: str, detail: str) -> None:
        if len(self.violations) < 1000:
            self.violations.append({"at": datetime.now(UTC).isoformat(), "endpoint": endpoint, "detail": detail})

    def first_success_after(self, moment: float, prefix: str = "") -> float | None:
        """Seconds from ``moment`` to the first successful request sent after it."""
        ends = [s.end for s in self.samples if s.ok and s.start >= moment and s.endpoint.startswith(prefix)]
        return round(min(ends) - moment, 2) if ends else None

    def slowest_through_gateway(self) -> float:
        """The longest any request to the gateway took (the bank's, which wait for its IPN calls
        to the portal, aside)."""
        return round(max((v for k, v in self.slowest.items() if k != "bank"), default=0.0), 2)

    def failures_between(self, begin: float, end: float) -> int:
        return sum(1 for s in self.samples if not s.ok and begin <= s.start < end)

    def by_status(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (endpoint, status), count in sorted(self.statuses.items()):
            out.setdefault(endpoint, {})[status] = count
        return out


class Load:
    def __init__(self, portal: ChaosPortal, *, rate: float, max_in_flight: int = 48, seed: int = 1) -> None:
        self.portal = portal
        self.rate = rate
        self.max_in_flight = max_in_flight
        self.random = random.Random(seed)
        self.ledger = Ledger()
        self.obs = Observations()
        self.citizens = [{"Authorization": f"Bearer {t}"} for t in portal.citizen_tokens()]
        self.agency = {"Authorization": f"Bearer {portal.agency_token()}"}
        self.flows: set[asyncio.Task] = set()
        self.started = 0
        self.completed = 0
        self.shed = 0
        self.unfinished = 0
        self._queue: deque[Submission] = deque()
        self._running = False
        self._pushing = False
        self._tasks: list[asyncio.Task] = []
        self._pushers: list[asyncio.Task] = []
        self._api: httpx.AsyncClient | None = None
        self._bank: httpx.AsyncClient | None = None

    # --- running ---------------------------------------------------------------------------

    async def start(self, *, schedule: bool = True) -> None:
        # An idle connection is given up well before the servers close it (uvicorn: after 5 s), so a
        # request never races their close (a reset that would look like the portal's failure).
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=64, keepalive_expiry=2.0)
        self._api = httpx.AsyncClient(base_url=self.portal.gateway, timeout=CLIENT_TIMEOUT, limits=limits,
                                      trust_env=False)  # fmt: skip
        self._bank = httpx.AsyncClient(base_url=self.portal.bank, timeout=BANK_TIMEOUT, limits=limits,
                                       trust_env=False)  # fmt: skip
        self._running = self._pushing = True
        self._pushers = [asyncio.create_task(self._push()), asyncio.create_task(self._push())]
        self._tasks = [asyncio.create_task(self._probe())]
        if schedule:
            self._tasks.append(asyncio.create_task(self._schedule()))

    async def start_closed(self, clients: int) -> None:
        """Instead of the open loop: ``clients`` running flows back to back (to measure capacity)."""
        await self.start(schedule=False)

        async def client(c: int) -> None:
            i = c
            while self._running:
                self.started += 1
                await self._flow(i)
                i += clients

        for c in range(clients):
            task = asyncio.create_task(client(c))
            self.flows.add(task)
            task.add_done_callback(self.flows.discard)

    async def stop(self, drain_seconds: float = FLOW_DEADLINE + 30) -> None:
        """No new flows; the running ones finish (each within its own deadline), the pushers send
        what is queued; then the prober stops."""
        self._running = False
        if self.flows:
            _, pending = await asyncio.wait(set(self.flows), timeout=drain_seconds)
            self.unfinished += len(pending)
            for task in pending:
                task.cancel()
                self.obs.violation("flow", "a flow did not finish within its deadline")
        self._pushing = False  # every flow has queued what it will: the pushers end once the queue is empty
        _, pending = await asyncio.wait(self._pushers, timeout=drain_seconds)
        if pending or self._queue:
            self.obs.violation("push", f"the pushers did not finish; {len(self._queue)} dossiers left unpushed")
        for task in self._pushers:
            if task.done() and not task.cancelled() and task.exception() is not None:
                self.obs.violation("push", f"a pusher failed: {task.exception()!r}")
        for task in [*self._tasks, *pending]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._pushers, return_exceptions=True)
        for client in (self._api, self._bank):
            if client is not None:
                await client.aclose()

    async def _schedule(self) -> None:
        began = time.monotonic()
        i = 0
        while self._running:
            if len(self.flows) < self.max_in_flight:
                task = asyncio.create_task(self._flow(self.started))  # the mix holds among the flows run
                self.flows.add(task)
                task.add_done_callback(self.flows.discard)
                self.started += 1
            else:
                self.shed += 1
            i += 1
            await asyncio.sleep(max(0.0, began + i / self.rate - time.monotonic()))

    # --- requests --------------------------------------------------------------------------

    async def request(self, endpoint: str, method: str, url: str, *, bank: bool = False,
                      allowed: tuple[int, ...] = (), **kw: Any) -> httpx.Response | None:  # fmt: skip
        client = self._bank if bank else self._api
        assert client is not None
        begin = time.monotonic()
        try:
            answer = await client.request(method, url, **kw)
        except httpx.TimeoutException:
            limit = BANK_TIMEOUT if bank else CLIENT_TIMEOUT
            self.obs.note(endpoint, "timeout", begin, False, f"no answer within the client's {limit:.0f} s")
            return None
        except httpx.HTTPError as exc:
            self.obs.note(endpoint, "transport", begin, False, f"{type(exc).__name__}: {exc}")
            return None
        code = answer.status_code
        ok = 200 <= code < 300 or code in allowed
        violation = None
        if code in (503, 504) and "retry-after" not in answer.headers:
            violation = f"{code} without Retry-After"
        elif not ok and code not in (502, 503, 504):
            violation = f"{code}: {answer.text[:300]}"
        self.obs.note(endpoint, code, begin, ok, violation)
        return answer

    @staticmethod
    async def backoff(answer: httpx.Response | None) -> None:
        """What the portal asked for: its Retry-After (at most 5 s), else half a second."""
        wait = 0.5
        if answer is not None and (value := answer.headers.get("retry-after")) and value.isdigit():
            wait = min(5.0, float(value))
        await asyncio.sleep(wait)

    # --- flows -----------------------------------------------------------------------------

    async def _flow(self, i: int) -> None:
        try:
            await self._flow_steps(i)
        except Exception as exc:  # a broken answer the load could not read: said, not swallowed
            self.obs.violation("flow", f"the flow failed: {exc!r}")

    async def _flow_steps(self, i: int) -> None:
        kind = ("pay", "status", "plain")[i % 3]
        deadline = time.monotonic() + FLOW_DEADLINE
        citizen = self.citizens[i % len(self.citizens)]
        submission = await self.submit(kind, citizen, deadline)
        if submission is None:
            return
        if self.random.random() < REPEAT_SHARE:
            await self.submit_again(submission, citizen, deadline)
        if kind == "pay":
            await self.pay(submission, citizen, deadline)
        elif kind == "status":
            self._queue.append(submission)
        self.completed += 1

    def _submission_body(self, ref: str) -> dict[str, Any]:
        return {"service_id": SERVICE_ID, "attachments": [],
                "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
                "form": {"ho_ten": "Nguyễn Văn An", "tham_chieu": ref}}  # fmt: skip

    async def submit(self, kind: str, citizen: dict[str, str], deadline: float) -> Submission | None:
        ref, key = uuid.uuid4().hex, uuid.uuid4().hex
        headers = {**citizen, "Idempotency-Key": key}
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            answer = await self.request("submit", "POST", "/api/v1/dossier/dossiers", headers=headers,
                                        json=self._submission_body(ref))  # fmt: skip
            if answer is not None and answer.is_success:
                body = answer.json()
                replayed = answer.headers.get("idempotent-replayed") == "true"
                self.ledger.idempotent_replays += replayed
                made = Submission(ref, key, kind, body["dossier_id"], body["code"], time.monotonic(), attempts,
                                  replayed)  # fmt: skip
                self.ledger.submissions[ref] = made
                return made
            await self.backoff(answer)
        self.obs.violation("submit", f"dossier {ref} not acknowledged within {FLOW_DEADLINE:.0f} s")
        return None

    async def submit_again(self, first: Submission, citizen: dict[str, str], deadline: float) -> None:
        """The client sends an acknowledged submission again with its key: the same dossier."""
        headers = {**citizen, "Idempotency-Key": first.key}
        while time.monotonic() < deadline:
            answer = await self.request("submit-again", "POST", "/api/v1/dossier/dossiers", headers=headers,
                                        json=self._submission_body(first.ref))  # fmt: skip
            if answer is not None and answer.is_success:
                body = answer.json()
                if body["dossier_id"] != first.dossier_id or answer.status_code != 200:
                    self.obs.violation("submit-again", f"the key of {first.dossier_id} answered {answer.status_code}"
                                                       f" with dossier {body['dossier_id']}")  # fmt: skip
                else:
                    self.ledger.idempotent_replays += 1
                return
            await self.backoff(answer)

    async def pay(self, submission: Submission, citizen: dict[str, str], deadline: float) -> None:
        headers = {**citizen, "Idempotency-Key": uuid.uuid4().hex}
        order: dict[str, Any] | None = None
        while order is None and time.monotonic() < deadline:
            # 404 until the dossier service's ``fees.assessed`` event has reached the payment service.
            answer = await self.request("order", "POST", "/api/v1/payment/orders", headers=headers, allowed=(404,),
                                        json={"dossier_id": submission.dossier_id, "provider": "vnpay"})  # fmt: skip
            if answer is not None and answer.is_success:
                order = answer.json()
            elif answer is not None and answer.status_code == 404:
                await asyncio.sleep(0.3)
            else:
                await self.backoff(answer)
        if order is None:
            self.obs.violation("order", f"no order for {submission.dossier_id} within {FLOW_DEADLINE:.0f} s")
            return
        reference = order["reference"]
        self.ledger.orders[submission.dossier_id] = Order(submission.dossier_id, order["id"], reference,
                                                          time.monotonic())  # fmt: skip
        signed = dict(parse_qsl(urlsplit(order["pay"]["url"]).query))
        registered = await self.request("bank", "POST", "/api/vnpay/requests", bank=True, json=signed)
        if registered is None or not registered.is_success:
            return
        while time.monotonic() < deadline:
            approved = await self.request("bank", "POST", f"/api/vnpay/{reference}/approve", bank=True, json={})
            if approved is None or not approved.is_success:
                return
            answer = self._ipn_replies(approved.json()["portal_replies"])
            if answer in ("00", "02"):
                self.ledger.payments[submission.dossier_id] = Payment(submission.dossier_id, order["id"], reference,
                                                                      time.monotonic(), answer)  # fmt: skip
                return
        self.obs.violation("ipn", f"the IPN of {reference} never answered within {FLOW_DEADLINE:.0f} s")

    def _ipn_replies(self, replies: list[dict[str, Any]]) -> str | None:
        """Count the portal's answers to the bank's IPN calls; the last VNPay code, if any."""
        code = None
        for reply in replies:
            now = time.monotonic()
            if "RspCode" in reply:
                code = reply["RspCode"]
                bad = None if code in ("00", "02") else f"IPN answered {reply}"
                self.obs.note("ipn", 200, now, bad is None, bad)
            elif "status" in reply:
                status = int(reply["status"])
                bad = None if status in (502, 503, 504) else f"IPN answered {status}"
                self.obs.note("ipn", status, now, False, bad)
            else:
                self.obs.note("ipn", "transport", now, False, f"the bank's IPN call failed: {reply}")
        return code

    async def _push(self) -> None:
        """The agency: pushes status 2 (accepted) for queued dossiers, a batch at a time."""
        while self._pushing or self._queue:
            batch = [self._queue.popleft() for _ in range(min(PUSH_BATCH, len(self._queue)))]
            if not batch:
                await asyncio.sleep(0.2)
                continue
            occurred = datetime.now(UTC).isoformat()
            records = [{"record_id": f"chaos-{s.ref}", "dossier_code": s.code, "agency_code": AGENCY, "status": 2,
                        "occurred_at": occurred, "note": "Tiếp nhận hồ sơ"} for s in batch]  # fmt: skip
            deadline = time.monotonic() + FLOW_DEADLINE
            while time.monotonic() < deadline:
                answer = await self.request("push", "POST", "/api/v1/sync/records", headers=self.agency,
                                            json={"records": records})  # fmt: skip
                if answer is not None and answer.is_success:
                    unknown = 0
                    for result in answer.json()["results"]:
                        if result["outcome"] in ("accepted", "duplicate"):
                            self.ledger.records[result["record_id"]] = Record(
                                result["record_id"], result["dossier_code"], time.monotonic(), result["outcome"]
                            )
                        elif self._not_heard_of_yet(result, batch[result["index"]]):
                            unknown += 1
                            self._queue.append(batch[result["index"]])
                        else:
                            self.obs.violation("push", f"record answered {result}")
                    if unknown == len(batch):
                        await asyncio.sleep(0.2)
                    break
                await self.backoff(answer)
            else:
                self.obs.violation("push", f"{len(records)} records not acknowledged within {FLOW_DEADLINE:.0f} s")

    @staticmethod
    def _not_heard_of_yet(result: dict, submission: Submission) -> bool:
        """A real agency learns of a dossier from its delivery, after sync has heard of the filing;
        this one pushes as soon as the portal acknowledged it, so while the filing's event is on its
        way (longer while the broker is down) sync rejects the record as an unknown dossier. The
        agency tries it again, within the flow's deadline."""
        return (
            any(error["reason"].startswith("no such dossier") for error in result["errors"])
            and time.monotonic() - submission.acked_at < FLOW_DEADLINE
        )

    async def _probe(self) -> None:
        """A read from every service each quarter second (a 404 for an unknown id is a read that
        reached the database): when each answers again after a fault."""
        citizen = self.citizens[0]
        while True:
            begin = time.monotonic()
            unknown = str(uuid.uuid4())
            await asyncio.gather(
                self.request("probe-dossier", "GET", "/api/v1/dossier/dossiers", params={"limit": 1},
                             headers=citizen),
                self.request("probe-payment", "GET", f"/api/v1/payment/orders/{unknown}", headers=citizen,
                             allowed=(404,)),
                self.request("probe-sync", "GET", f"/api/v1/sync/batches/{unknown}", headers=self.agency,
                             allowed=(404,)),
            )  # fmt: skip
            await asyncio.sleep(max(0.0, begin + PROBE_EVERY - time.monotonic()))
