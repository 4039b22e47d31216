"""``make chaos``: every fault against every service at a steadier load, then (``--soak``) ten
minutes at half the measured capacity. Figures printed and written to ``.data/chaos/``
(``chaos.md``/``.json``, ``soak.md``/``.json``). Exit status 1 when anything failed.

``python -m tests.chaos [--short] [--soak] [--soak-minutes N] [--no-faults] [--keep]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .load import Ledger
from .portal import ChaosPortal
from .scenario import FULL, SHORT, FaultReport, faults, run_fault, soak


async def main_async(args: argparse.Namespace, portal: ChaosPortal) -> int:
    plan = SHORT if args.short else FULL
    failed = False
    reports: list[FaultReport] = []
    history: list[Ledger] = []
    started = time.monotonic()
    setup = {"machine": f"{os.cpu_count()} CPUs, everything on loopback",
             "processes": "PostgreSQL 18, Tansu broker (memory), dossier/payment/sync APIs and workers, gateway, "
                          "sandbox bank, fault proxy; the load and the audit in this process",
             "load": f"{plan.rate:g} flows/s (each a submission; a third then pay, a third have a status pushed)",
             }  # fmt: skip
    if not args.no_faults:
        chosen = [f for f in faults("short" if args.short else "full") if not args.only or f.name in args.only]
        for i, fault in enumerate(chosen):
            print(f"fault {fault.name}: {fault.description} ...", flush=True)
            result, ledger = await run_fault(portal, fault, plan, history, seed=i + 1)
            history.append(ledger)
            reports.append(result)
            problems = result.failures(plan)
            failed |= bool(problems)
            print(f"  acknowledged {result.writes['acknowledged']}, found {result.writes['found']}, lost "
                  f"{result.lost}, duplicated {result.duplicated}; first success {result.first_success_seconds} s;"
                  f" reconciled after {result.seconds_to_reconcile} s; {problems or 'passed'}",
                  flush=True)  # fmt: skip
        setup["run"] = f"{time.monotonic() - started:.0f} s"
        md = report.write("chaos-short" if args.short else "chaos", "The portal under faults", plan, reports,
                          setup=setup)  # fmt: skip
        print(report.fault_table(reports, plan))
        print(f"report: {md}")
    if args.soak:
        print("soak: measuring capacity ...", flush=True)
        result_soak = await soak(portal, minutes=args.soak_minutes)
        failed |= bool(result_soak.failures())
        md = report.write("soak", "Soak at half the measured capacity", plan, [], result_soak, setup=setup)
        print(report.soak_text(result_soak))
        print(f"{'passed' if not result_soak.failures() else result_soak.failures()}\nreport: {md}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--short", action="store_true", help="the short form of make test")
    parser.add_argument("--soak", action="store_true", help="then soak at half the measured capacity")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--no-faults", action="store_true", help="only the soak")
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs and data")
    parser.add_argument("--only", action="append", default=[], metavar="FAULT", help="only this fault (repeatable)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="portal-chaos-"))
    portal = ChaosPortal(workdir)
    status = 1
    try:
        print(f"starting the portal in {workdir} ...", flush=True)
        portal.start()
        status = asyncio.run(main_async(args, portal))
    finally:
        portal.stop()
        if status == 0 and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs kept in {workdir / 'logs'}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
