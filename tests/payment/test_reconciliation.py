"""Statement reconciliation: every statement line and every paid order lands in one bucket, as
an API for operators and as a command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from services.payment.domain.orders import Order, OrderState, Provider
from services.payment.domain.statement import Line, StatementInvalid, parse_statement, reconcile
from tests.conftest import ROOT
from tests.support.payment import TOTAL, VNPAY_SECRET, Payments
from tests.support.payment_protocols import vnpay_ipn


def order(reference: str, amount: int, state: OrderState, transaction: str | None) -> Order:
    at = datetime(2025, 12, 3, tzinfo=UTC)
    return Order(id=reference, reference=reference, dossier_id="d", dossier_code="c", owner="o",
                 provider=Provider.VNPAY, amount=amount, state=state, created_at=at, expires_at=at,
                 provider_transaction=transaction)  # fmt: skip


def test_each_line_and_each_paid_order_lands_in_one_bucket() -> None:
    orders = {
        "DVC25120300000001": order("DVC25120300000001", 100, OrderState.SUCCEEDED, "T1"),
        "DVC25120300000002": order("DVC25120300000002", 200, OrderState.SUCCEEDED, "T2"),
        "DVC25120300000003": order("DVC25120300000003", 300, OrderState.SUCCEEDED, "T3"),
        "DVC25120300000004": order("DVC25120300000004", 400, OrderState.EXPIRED, None),
    }
    lines = [
        Line(2, "T1", "DVC25120300000001", 100, ""),
        Line(3, "T2", "DVC25120300000002", 250, ""),  # amounts differ
        Line(4, "T9", None, 999, "no reference"),  # whose money?
        Line(5, "T4", "DVC25120300000004", 400, ""),  # paid after the order expired
        Line(6, "T1b", "DVC25120300000001", 100, ""),  # settled twice
    ]
    paid = ["DVC25120300000001", "DVC25120300000002", "DVC25120300000003"]
    report = reconcile(lines, orders, paid)
    assert report.summary() == {"matched": 1, "amount_mismatch": 1, "missing_ours": 3, "missing_theirs": 1}
    assert [m.reason for m in report.missing_ours] == ["unknown reference", "order is expired", "listed twice"]
    assert report.missing_theirs[0].reference == "DVC25120300000003"


def test_a_statement_that_cannot_be_read_names_its_lines() -> None:
    with pytest.raises(StatementInvalid) as missing:
        parse_statement("id,amount\n1,2\n")
    assert missing.value.errors[0]["field"] == "header"
    with pytest.raises(StatementInvalid) as bad:
        parse_statement("transaction_id,reference,amount\nT1,DVC25120300000001,1.5\n,DVC25120300000002,10\n")
    assert [e["field"] for e in bad.value.errors] == ["line 2.amount", "line 3.transaction_id"]
    kept = parse_statement("transaction_id,reference,amount,status\nT1,CK DVC25120300000001,100,00\nT2,x,5,02\n")
    assert [(ln.transaction_id, ln.reference) for ln in kept] == [("T1", "DVC25120300000001")]


async def paid_order(p: Payments) -> dict:
    from tests.payment.test_orders_http import ipn, new_order

    async with p.client() as api:
        order = await new_order(p, api)
        assert (await ipn(api, vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL)))[
            "RspCode"
        ] == "00"
    return order


@pytest.mark.integration
async def test_operators_reconcile_a_statement_by_api_and_command_line(payments: Payments, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = await paid_order(payments), await paid_order(payments)
    statement = (
        "transaction_id,reference,amount,status\n"
        f"15283345,{first['reference']},{TOTAL},00\n"
        f"15283346,{second['reference']},{TOTAL - 1},00\n"
        "15283347,DVC25010100000077,50000,00\n"
    )
    since, until = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    params = {"provider": "vnpay", "since": since.isoformat(), "until": until.isoformat()}
    headers = {**payments.operator(), "Content-Type": "text/csv"}
    async with payments.client() as api:
        answer = await api.post("/reconciliations", params=params, content=statement, headers=headers)
        refused = await api.post("/reconciliations", params=params, content=statement,
                                 headers={**payments.payer(), "Content-Type": "text/csv"})  # fmt: skip
        unreadable = await api.post("/reconciliations", params=params, content="a,b\n1,2\n", headers=headers)
        huge = await api.post("/reconciliations", params=params, content="x" * (2 * 1024 * 1024), headers=headers)
        backwards = {**params, "since": params["until"], "until": params["since"]}
        inverted = await api.post("/reconciliations", params=backwards, content=statement, headers=headers)
    assert answer.status_code == 200, answer.text
    # A period that ends before it starts holds no order: the lines are still judged, none is missing.
    assert inverted.status_code == 200, inverted.text
    assert inverted.json()["summary"] == {"matched": 1, "amount_mismatch": 1, "missing_ours": 1, "missing_theirs": 0}
    assert answer.json()["summary"] == {"matched": 1, "amount_mismatch": 1, "missing_ours": 1, "missing_theirs": 0}
    assert (refused.status_code, unreadable.status_code, huge.status_code) == (403, 422, 413)

    path = tmp_path / "statement.csv"
    path.write_text(statement, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PAYMENT_DATABASE_URL": payments.db_url, "PORTAL_LOG_JSON": "false"}
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "services.payment", "reconcile", str(path), "--provider", "vnpay",
         "--since", since.isoformat(), "--until", until.isoformat(), "--report", str(report)],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # not everything matched
    assert "amount_mismatch  1" in done.stdout
    assert json.loads(report.read_text())["matched"][0]["reference"] == first["reference"]
