"""``make demo``'s journey is a test: the launcher of ``make run`` brings up the whole portal
(PostgreSQL, the broker, six services and their workers, the gateway, the sandbox bank and the
agency simulator), and the demo walks it from sign-in to a province's portal signing in through
the national SSO; every step checked against what the services answered."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from deploy.demo import AGENCY, FEEDBACK_ANSWER, FIRST_BACKOFF_SECONDS, PAYMENT_ATTEMPTS, Timeline, journey
from deploy.local.components import free_port
from services.kit.kafka import SERVICE_NAMES
from tests.test_local_run import assert_stops_cleanly, launch, wait_ready

pytestmark = pytest.mark.integration


def test_the_whole_journey_on_a_fresh_make_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    names = ["postgres", "kafka", "gateway", "sandbox_bank", "sandbox_agency", "mailbox_smtp", "mailbox_http",
             "messaging", "eid", *SERVICE_NAMES]  # fmt: skip
    ports = {name: free_port() for name in names}
    log = tmp_path / "run.log"
    proc = launch(tmp_path / "data", ports, log)
    lines: list[str] = []
    try:
        portal = f"http://127.0.0.1:{ports['gateway']}"
        wait_ready(proc, portal, log)
        sandboxes = {"mailbox": f"http://127.0.0.1:{ports['mailbox_http']}",
                     "messaging": f"http://127.0.0.1:{ports['messaging']}"}  # fmt: skip
        facts = asyncio.run(journey(portal, f"http://127.0.0.1:{ports['sandbox_bank']}", Timeline(out=lines.append),
                                    **sandboxes))  # fmt: skip
    finally:
        print("\n".join(lines))  # the timeline (with -s, or in a failure's report): each step's time
        assert_stops_cleanly(proc)

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
    assert FIRST_BACKOFF_SECONDS - 1 <= retry["after_seconds"] <= FIRST_BACKOFF_SECONDS + 15
    # Provider a refused one for good: b took the same message over at once.
    failover = facts["sms_failover"]
    assert (failover["refused"]["provider"], failover["refused"]["status"]) == ("a", "refused")
    assert (failover["delivered"]["provider"], failover["delivered"]["status"]) == ("b", "delivered")
    assert failover["delivered"]["client_ref"] == failover["refused"]["client_ref"] and failover["after_seconds"] < 10
    province = facts["province_portal"]
    assert province["aud"] == "demo-province-portal" and province["sub"] == facts["citizen"]
    assert len(lines) >= 32 and all("s  " in line for line in lines)
