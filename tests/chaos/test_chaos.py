"""The short form of ``make chaos``, in ``make test``: the portal as processes (its own PostgreSQL
and broker), a small mixed load through the gateway, and each fault in turn, briefly: the broker
killed and started again empty (then the outboxes replayed), the dossier service's API and
worker killed with SIGKILL, PostgreSQL restarted, and the dossier service's link to PostgreSQL
and the gateway's link to the payment service spoiled through the fault proxy (connections
closed, resets, a stall longer than the gateway waits, latency, bandwidth, then answers lost).

After each fault: every acknowledged write is in the databases exactly once (those of the earlier
faults too), every event applied exactly once in effect (the services' figures reconcile),
clients saw only 2xx, 502, or 503/504 with Retry-After and never waited out their timeout, and
the portal recovered by itself within the bounds of ``scenario.SHORT``; no API logged a 500. Figures in
``.data/chaos/chaos-short.md`` and ``.json``. About two minutes on two cores.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import report
from .load import Ledger
from .portal import ChaosPortal
from .scenario import SHORT, Fault, FaultReport, faults, run_fault

pytestmark = pytest.mark.integration

FAULTS = faults("short")
RESULTS: list[FaultReport] = []


@pytest.fixture(scope="module")
def chaos_portal() -> Iterator[ChaosPortal]:
    workdir = Path(tempfile.mkdtemp(prefix="portal-chaos-"))
    portal = ChaosPortal(workdir)
    portal.start()
    try:
        yield portal
    finally:
        portal.stop()
        if RESULTS:
            report.write("chaos-short", "The portal under faults (short form, make test)", SHORT, RESULTS)
        if RESULTS and all(not r.failures(SHORT) for r in RESULTS):
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def ledgers() -> list[Ledger]:
    """The acknowledged writes of the faults so far: a later fault must not lose them either."""
    return []


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_every_acknowledged_write_survives_and_the_portal_recovers(
    chaos_portal: ChaosPortal, ledgers: list[Ledger], fault: Fault
) -> None:
    result, ledger = await run_fault(chaos_portal, fault, SHORT, ledgers, seed=len(ledgers) + 1)
    ledgers.append(ledger)
    RESULTS.append(result)
    print(f"\n{report.fault_table([result], SHORT)}")
    problems = result.failures(SHORT)
    logs = (
        "\n".join(f"--- {name}.log\n{chaos_portal.log_tail(name, 15)}" for name in fault.services) if problems else ""
    )
    assert not problems, f"{problems}\nlogs kept in {chaos_portal.logs}\n{logs}"
