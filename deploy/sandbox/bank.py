"""The sandbox bank: a development-only payment provider that behaves like a real one, so the
whole payment flow runs locally with nothing faked inside the portal.

- As a VNPay-style gateway: ``GET /vnpay/pay`` checks the signed payment URL the portal made
  (refusing a bad signature as VNPay would), shows the payer a page to approve or decline, then
  calls the portal's IPN URL with a signed result (VNPay 2.1.0; again while the portal gives no
  answer, up to ``SANDBOX_BANK_IPN_ATTEMPTS`` calls) and sends the browser back to the return
  URL. ``POST /api/vnpay/{reference}/approve|decline`` does the same without a browser, with
  ``duplicates`` (the same IPN again) and ``failure_after`` (a failure sent after the success,
  out of order) on request; it answers with what the portal replied.
- As the bank holding the collecting account: ``POST /api/transfers`` makes a transfer (the
  payer's banking app after scanning a VietQR) and posts the signed notification
  (``X-Signature: t=…,v1=…``) to the portal, again with ``duplicates`` on request.
- ``POST /merchant_webapi/api/transaction`` is VNPay's status query (``querydr``): the request's
  signature is checked and the answer signed as VNPay does. ``GET /api/statement.csv`` is the statement.

It keeps its transactions in memory (it is a simulator of someone else's system) and refuses to
start in production. Command: ``python -m deploy.sandbox.bank``.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit import webhooks as webhook
from services.payment.domain import vnpay

GMT7_FORMAT = "%Y%m%d%H%M%S"


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_BANK_", extra="ignore")

    environment: str = Field(default="development", validation_alias="PORTAL_ENVIRONMENT")
    port: int = 8010
    # The portal's side of the contract: the merchant code and hash secret VNPay gave it, the
    # portal's public callback URLs, and the secret the bank signs notifications with.
    tmn_code: str = "DVCQG001"
    vnpay_hash_secret: str = "development"  # noqa: S105 - the portal's development placeholder
    ipn_url: str = "http://127.0.0.1:8000/api/v1/payment/callbacks/vnpay/ipn"
    notification_url: str = "http://127.0.0.1:8000/api/v1/payment/callbacks/bank"
    webhook_secret: str = "development"  # noqa: S105 - the portal's development placeholder
    # A real gateway calls the IPN again while the merchant gives no answer (an error status or
    # no connection): this many calls at most, this many seconds apart. 1: no second call.
    ipn_attempts: int = Field(default=1, ge=1, le=100)
    ipn_retry_seconds: float = Field(default=1.0, ge=0, le=300)
    ipn_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    bank_bin: str = "970436"
    account: str = "0011001234567"


@dataclass
class Transaction:
    number: str
    reference: str
    amount: int
    kind: Literal["card", "transfer"]
    status: str  # "00" paid, "02" declined
    at: datetime
    replies: list[Any] = field(default_factory=list)


class Bank:
    def __init__(self, settings: SandboxSettings):
        self.settings = settings
        self.numbers = itertools.count(15_283_345)
        self.pending: dict[str, dict[str, str]] = {}  # reference -> the signed payment request
        self.transactions: list[Transaction] = []

    def ipn_params(self, request: dict[str, str], approved: bool, number: str, at: datetime) -> dict[str, str]:
        code = "00" if approved else "24"  # 24: the payer cancelled
        params = {
            "vnp_TmnCode": request["vnp_TmnCode"], "vnp_Amount": request["vnp_Amount"], "vnp_BankCode": "SANDBOX",
            "vnp_BankTranNo": f"SB{number}", "vnp_CardType": "ATM", "vnp_OrderInfo": request["vnp_OrderInfo"],
            "vnp_PayDate": at.astimezone(vnpay.VIETNAM_TZ).strftime(GMT7_FORMAT), "vnp_ResponseCode": code,
            "vnp_TransactionNo": number, "vnp_TransactionStatus": "00" if approved else "02",
            "vnp_TxnRef": request["vnp_TxnRef"],
        }  # fmt: skip
        params["vnp_SecureHash"] = vnpay.sign(params, self.settings.vnpay_hash_secret)
        return params


class Decision(BaseModel):
    duplicates: Annotated[int, Field(ge=0, le=20)] = 0
    failure_after: bool = False


class TransferIn(BaseModel):
    description: Annotated[str, Field(max_length=500)]
    amount: Annotated[int, Field(gt=0)]
    duplicates: Annotated[int, Field(ge=0, le=20)] = 0


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    settings = settings or SandboxSettings()
    if settings.environment == "production":
        raise RuntimeError("the sandbox bank is for development only")
    bank = Bank(settings)
    app = FastAPI(title="Sandbox bank (development only)")
    app.state.bank = bank

    async def call_ipn_once(params: dict[str, str]) -> Any:
        try:
            async with httpx.AsyncClient(timeout=settings.ipn_timeout_seconds) as client:
                answer = await client.get(settings.ipn_url, params=params)
        except httpx.HTTPError as exc:
            return {"error": f"IPN not delivered: {type(exc).__name__}"}
        json_answer = answer.headers.get("content-type", "").startswith("application/json")
        return answer.json() if json_answer else {"status": answer.status_code}

    async def call_ipn(params: dict[str, str], replies: list[Any]) -> None:
        """Like a real gateway: called again while the merchant does not answer (up to
        ``ipn_attempts`` calls); a delivery that still fails is the merchant's problem (it can
        query us). Every call's reply is kept."""
        for attempt in range(settings.ipn_attempts):
            if attempt:
                await asyncio.sleep(settings.ipn_retry_seconds)
            reply = await call_ipn_once(params)
            replies.append(reply)
            if isinstance(reply, dict) and "RspCode" in reply:
                return

    async def settle(reference: str, approved: bool, decision: Decision) -> Transaction:
        request = bank.pending.get(reference)
        if request is None:
            raise HTTPException(404, "no payment request with this reference")
        number, at = str(next(bank.numbers)), datetime.now(UTC)
        tx = Transaction(number, reference, int(request["vnp_Amount"]) // 100, "card", "00" if approved else "02", at)
        params = bank.ipn_params(request, approved, number, at)
        for _ in range(1 + decision.duplicates):
            await call_ipn(params, tx.replies)
        if approved and decision.failure_after:
            await call_ipn(bank.ipn_params(request, False, str(next(bank.numbers)), at), tx.replies)
        bank.transactions.append(tx)
        return tx

    @app.get("/vnpay/pay", response_class=HTMLResponse)
    async def pay_page(request: Request) -> HTMLResponse:
        params = dict(request.query_params)
        if not vnpay.verify(params, settings.vnpay_hash_secret) or params.get("vnp_TmnCode") != settings.tmn_code:
            return HTMLResponse("<h1>Sai chữ ký / Invalid signature</h1>", status_code=400)
        bank.pending[params["vnp_TxnRef"]] = params
        amount = int(params["vnp_Amount"]) // 100
        ref = html.escape(params["vnp_TxnRef"])
        return HTMLResponse(
            f"""<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Ngân hàng thử nghiệm</title></head>
<body><h1>Ngân hàng thử nghiệm (sandbox)</h1><p>{html.escape(params.get("vnp_OrderInfo", ""))}</p>
<p>Số tiền: <strong>{amount:,} VND</strong> — mã giao dịch {ref}</p>
<form method="post" action="/vnpay/decide"><input type="hidden" name="reference" value="{ref}">
<button name="decision" value="approve">Thanh toán</button> <button name="decision" value="decline">Hủy</button>
</form></body></html>"""
        )

    @app.post("/vnpay/decide")
    async def decide(reference: Annotated[str, Form()], decision: Annotated[str, Form()]) -> RedirectResponse:
        tx = await settle(reference, decision == "approve", Decision())
        request = bank.pending[reference]
        back = bank.ipn_params(request, tx.status == "00", tx.number, tx.at)
        return RedirectResponse(f"{request['vnp_ReturnUrl']}?{urlencode(back)}", status_code=303)

    @app.post("/api/vnpay/{reference}/{decision}")
    async def decide_api(reference: str, decision: Literal["approve", "decline"], body: Decision) -> dict[str, Any]:
        tx = await settle(reference, decision == "approve", body)
        return {"transaction": tx.number, "status": tx.status, "portal_replies": tx.replies}

    @app.post("/api/vnpay/requests")
    async def register_request(body: dict[str, str]) -> dict[str, str]:
        """What the payer's browser does at /vnpay/pay, for automation: hand over the signed URL's query."""
        if not vnpay.verify(body, settings.vnpay_hash_secret):
            raise HTTPException(400, "invalid signature")
        bank.pending[body["vnp_TxnRef"]] = body
        return {"reference": body["vnp_TxnRef"]}

    @app.post("/merchant_webapi/api/transaction")
    async def merchant_api(request: Request) -> dict[str, Any]:
        """VNPay's merchant web API, querydr only: the answer codes VNPay gives (97 bad signature,
        02 another merchant, 91 no such payment, 00 with the transaction's status)."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("vnp_Command") != "querydr":
            return {"vnp_ResponseCode": "99", "vnp_Message": "Unsupported request"}
        secret = settings.vnpay_hash_secret
        answer: dict[str, Any] = {
            "vnp_ResponseId": uuid.uuid4().hex, "vnp_Command": "querydr",
            "vnp_TmnCode": body.get("vnp_TmnCode"), "vnp_TxnRef": body.get("vnp_TxnRef"),
        }  # fmt: skip
        reference = str(body.get("vnp_TxnRef"))
        card = [t for t in bank.transactions if t.reference == reference and t.kind == "card"]
        if not vnpay.pipe_verify(body, vnpay.QUERYDR_REQUEST_FIELDS, secret):
            answer |= {"vnp_ResponseCode": "97", "vnp_Message": "Invalid Checksum"}
        elif body.get("vnp_TmnCode") != settings.tmn_code:
            answer |= {"vnp_ResponseCode": "02", "vnp_Message": "Merchant is not valid"}
        elif card:
            last = card[-1]
            request_params = bank.pending[reference]
            answer |= {
                "vnp_ResponseCode": "00", "vnp_Message": "QueryDR Success", "vnp_Amount": str(last.amount * 100),
                "vnp_BankCode": "SANDBOX", "vnp_OrderInfo": request_params["vnp_OrderInfo"],
                "vnp_PayDate": last.at.astimezone(vnpay.VIETNAM_TZ).strftime(GMT7_FORMAT),
                "vnp_TransactionNo": last.number, "vnp_TransactionType": "01", "vnp_TransactionStatus": last.status,
            }  # fmt: skip
        elif reference in bank.pending:
            request_params = bank.pending[reference]
            answer |= {
                "vnp_ResponseCode": "00", "vnp_Message": "QueryDR Success", "vnp_TransactionStatus": "01",
                "vnp_Amount": request_params["vnp_Amount"], "vnp_OrderInfo": request_params["vnp_OrderInfo"],
            }  # fmt: skip
        else:
            answer |= {"vnp_ResponseCode": "91", "vnp_Message": "Not found transaction"}
        answer["vnp_SecureHash"] = vnpay.pipe_sign(answer, vnpay.QUERYDR_RESPONSE_FIELDS, secret)
        return answer

    @app.post("/api/transfers")
    async def transfer(body: TransferIn) -> dict[str, Any]:
        number, at = f"FT{next(bank.numbers)}", datetime.now(UTC)
        payload = json.dumps({"transaction_id": number, "bank_bin": settings.bank_bin, "account": settings.account,
                              "amount": body.amount, "description": body.description,
                              "transferred_at": at.isoformat()}).encode()  # fmt: skip
        tx = Transaction(number, body.description, body.amount, "transfer", "00", at)
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(1 + body.duplicates):
                signature = webhook.sign(payload, settings.webhook_secret, int(time.time()))
                headers = {"X-Signature": signature, "Content-Type": "application/json"}
                answer = await client.post(settings.notification_url, content=payload, headers=headers)
                tx.replies.append({"status": answer.status_code, "body": answer.json()})
        bank.transactions.append(tx)
        return {"transaction": number, "portal_replies": tx.replies}

    @app.get("/api/statement.csv", response_class=PlainTextResponse)
    async def statement() -> PlainTextResponse:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["transaction_id", "reference", "amount", "status", "at"])
        for t in bank.transactions:
            if t.status == "00":
                writer.writerow([t.number, t.reference, t.amount, t.status, t.at.isoformat()])
        return PlainTextResponse(out.getvalue(), media_type="text/csv")

    return app


if __name__ == "__main__":
    from services.kit.http import serve_factory

    serve_factory("deploy.sandbox.bank:create_app", host="127.0.0.1", port=SandboxSettings().port)
