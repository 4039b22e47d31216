"""``make run`` as a person uses it, and ``make demo``'s journey on it: the launcher brings up the
whole portal (PostgreSQL, the broker, six services and their workers, the gateway, the sandbox
bank, mailbox, SMS providers, e-ID and the agency simulator); the demo walks it from sign-in to a
province's portal signing in through the national SSO, every step checked against what the
services answered; SIGTERM stops every process within 10 s; a second start finds the same data.

One test, one start of the whole portal (and one restart): the start is the slowest part of
both. The notification service's first retry waits ``FIRST_RETRY_SECONDS`` here
(``NOTIFICATION_DEV_FIRST_RETRY_SECONDS``, development and tests only) rather than 30 s: the
journey still proves the SMS failed for now waits its backoff, then goes to provider ``b``."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import psutil
import pytest

from deploy.demo import AGENCY, FEEDBACK_ANSWER, PAYMENT_ATTEMPTS, Timeline, journey
from deploy.local.components import free_port
from services.kit.kafka import SERVICE_NAMES
from tests.support.local_run import (
    assert_stops_cleanly,
    eid_signing_key,
    launch,
    psql,
    signs_in_through_the_sandbox_eid,
    wait_ready,
    when_up,
)

pytestmark = pytest.mark.integration

# The first retry's wait in this run: long enough to tell from an immediate retry, short enough to
# have passed before the journey's last step.
FIRST_RETRY_SECONDS = 5.0
MARKER = (
    "INSERT INTO kit_outbox (event_id, topic, key, type, source, event_time, data, published_at) "
    "VALUES ('marker', 'dossier.events', 'k', 'test.marker.kept.v1', 'test', now(), '{}', now())"
)


def test_make_run_walks_the_whole_journey_stops_cleanly_and_restarts_on_its_data(tmp_path: Path) -> None:
    names = ["postgres", "kafka", "gateway", "sandbox_bank", "sandbox_agency", "mailbox_smtp", "mailbox_http",
             "messaging", "eid", *SERVICE_NAMES]  # fmt: skip
    ports = {name: free_port() for name in names}
    log, data = tmp_path / "run.log", tmp_path / "data"
    env = {"NOTIFICATION_DEV_FIRST_RETRY_SECONDS": str(FIRST_RETRY_SECONDS)}
    portal = f"http://127.0.0.1:{ports['gateway']}"
    proc = launch(data, ports, log, env)
    lines: list[str] = []
    try:
        ready = wait_ready(proc, portal, log)
        assert ready["status"] == "ready"
        assert sorted(ready["services"]) == sorted(SERVICE_NAMES)
        assert all(s["ready"] for s in ready["services"].values())
        # pg, broker, 6 APIs, 6 workers, gateway, sandbox bank and agency (and the other sandboxes)
        assert len(psutil.Process(proc.pid).children(recursive=True)) >= 17
        bank = f"http://127.0.0.1:{ports['sandbox_bank']}"
        assert when_up(f"{bank}/api/statement.csv").text.startswith("transaction_id,reference,amount")
        kid = eid_signing_key(ports)
        signs_in_through_the_sandbox_eid(portal)
        sandboxes = {"mailbox": f"http://127.0.0.1:{ports['mailbox_http']}",
                     "messaging": f"http://127.0.0.1:{ports['messaging']}"}  # fmt: skip
        facts = asyncio.run(journey(portal, bank, Timeline(out=lines.append), **sandboxes,
                                    first_backoff=FIRST_RETRY_SECONDS))  # fmt: skip
        psql(ports, MARKER)
    finally:
        print("\n".join(lines))  # the timeline (with -s, or in a failure's report): each step's time
        try:
            assert_stops_cleanly(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert (data / "postgres" / "data" / "PG_VERSION").exists()

    assert facts["code"].startswith(f"{AGENCY}-") and facts["fee_total"] > 0
    assert facts["receipt"]["dossier_code"] == facts["code"] and facts["receipt"]["amount"] == facts["fee_total"]
    agency_steps = [status for _, status, source in facts["timeline"] if source == "agency"]
    assert agency_steps == [2, 4, 9, 10]
    assert ("payment" in {source for _, _, source in facts["timeline"]}) and facts["timeline"][-1][1] == 10
    figures = facts["statistics"]
    assert figures["received"]["online"] >= 1 and figures["processed"] >= 1 and figures["payments_online"] >= 1
    assert figures["ratings"]["count"] >= 1 and figures["quality_index"]["overall"] is not None
    sent, official = facts["feedback"], facts["official"]
    assert sent["code"].startswith("PAKN.") and sent["agency_code"] == AGENCY and sent["status"] == "received"
    assert official["acr"] == "urn:portal:acr:mfa" and official["agencies"] == [AGENCY]
    assert "feedback:process" in official["scope"].split()
    published = facts["feedback_published"]
    assert (published["status"], published["published"], published["answered_on_time"]) == ("closed", True, True)
    found = facts["feedback_found"]
    assert found["id"] == sent["id"] and found["answer"] == FEEDBACK_ANSWER and "contact" not in found
    assert set(facts["inbox"]) >= {"dossier-received", "payment-failed", "payment-succeeded",
                                   "dossier-in-processing", "dossier-processed", "result-returned"}  # fmt: skip
    # Each once; a payment failure once per declined order (the first's IPN came three times).
    told = Counter(facts["inbox"])
    assert told.pop("payment-failed") == PAYMENT_ATTEMPTS and set(told.values()) == {1}
    assert facts["payment_failed"] == {"inbox": PAYMENT_ATTEMPTS, "email": PAYMENT_ATTEMPTS, "sms": PAYMENT_ATTEMPTS}
    # The SSE client saw the receipt and the failures arrive, as they happened, through the gateway.
    assert facts["live"][0] == "dossier-received" and facts["live"].count("payment-failed") == PAYMENT_ATTEMPTS
    # Every notice once by e-mail and once by SMS (no quiet hours here), none delivered twice.
    assert facts["emails"] == facts["sms"] == len(facts["inbox"]) and facts["sms_delivered_twice"] == []
    # Provider a failed one SMS for now: the same message went again after the first backoff, to b.
    retry = facts["sms_retry"]
    failed = (retry["failed"]["provider"], retry["failed"]["status"], retry["failed"]["error"])
    assert failed == ("a", "failed", "absent_subscriber")
    assert (retry["delivered"]["provider"], retry["delivered"]["status"]) == ("b", "delivered")
    assert (
        retry["delivered"]["client_ref"] == retry["failed"]["client_ref"]
        and 204 in retry["delivered"]["receipt_replies"]
    )
    assert FIRST_RETRY_SECONDS - 1 <= retry["after_seconds"] <= FIRST_RETRY_SECONDS + 15
    # Provider a refused one for good: b took the same message over at once.
    failover = facts["sms_failover"]
    assert (failover["refused"]["provider"], failover["refused"]["status"]) == ("a", "refused")
    assert (failover["delivered"]["provider"], failover["delivered"]["status"]) == ("b", "delivered")
    assert failover["delivered"]["client_ref"] == failover["refused"]["client_ref"] and failover["after_seconds"] < 10
    province = facts["province_portal"]
    assert province["aud"] == "demo-province-portal" and province["sub"] == facts["citizen"]
    assert len(lines) >= 32 and all("s  " in line for line in lines)

    # A second start on the same data: what the first left in PostgreSQL and the e-ID's key are there.
    proc = launch(data, ports, log, env)
    try:
        wait_ready(proc, portal, log)
        assert psql(ports, "SELECT count(*) FROM kit_outbox WHERE event_id = 'marker'") == "1"
        assert eid_signing_key(ports) == kid  # the sandbox e-ID keeps its key in the data directory
        assert_stops_cleanly(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
