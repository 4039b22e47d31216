"""The payment API: orders for the owner (``payment:pay``), the providers' callbacks (public,
protected by their signatures and optional address allow-lists), and the receipts' JWKS."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from services.kit import webhooks as webhook_header
from services.kit.auth import Principal, demands_acr, require_scopes
from services.kit.errors import ValidationFailed
from services.kit.openapi import BINARY, binary_content
from services.kit.schemas import UUID_PATTERN

from ..domain.callbacks import RawCallback
from ..domain.orders import Provider
from ..service import callbacks, orders, receipts, reconciliation
from ..settings import PaymentSettings
from .dependencies import PaymentUnitOfWorkDep
from .schemas import (
    BankNotificationAnswer,
    OrderCreate,
    OrderDetailPublic,
    OrderPublic,
    ReceiptKeysPublic,
    ReconciliationPublic,
    RefundCreate,
    VnpayIpnAnswer,
)

router = APIRouter(tags=["payment"])

Id = Annotated[str, Path(pattern=UUID_PATTERN)]
Payer = Annotated[Principal, require_scopes("payment:pay")]
Operator = Annotated[Principal, require_scopes("payment:admin")]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]
MAX_CALLBACK_BYTES = 64 * 1024


def settings_of(request: Request) -> PaymentSettings:
    settings: PaymentSettings = request.app.state.settings
    return settings


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "127.0.0.1"


@router.post(
    "/orders",
    status_code=201,
    summary="Create a payment order for a dossier's assessed fees",
    responses={200: {"model": OrderDetailPublic,
                     "description": "The order made before with the same Idempotency-Key (Idempotent-Replayed)"}},
)  # fmt: skip
@demands_acr(None)  # the dossier's online service's required_acr
async def create_order(
    request: Request, response: Response, body: OrderCreate, principal: Payer, uow: PaymentUnitOfWorkDep,
    idempotency_key: IdempotencyKey = None,
) -> OrderDetailPublic:  # fmt: skip
    details, created = await orders.create_order(
        uow, settings_of(request), principal.subject, body.dossier_id, Provider(body.provider),
        idempotency_key=idempotency_key, client_ip=client_ip(request), acr=principal.acr,
        auth_time=principal.auth_time,
    )  # fmt: skip
    response.headers["Location"] = f"{request.url.path}/{details.order.id}"
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return OrderDetailPublic.of(details)


@router.get("/orders/{order_id}", summary="An order: state, how to pay, receipt, history")
async def get_order(request: Request, order_id: Id, principal: Payer, uow: PaymentUnitOfWorkDep) -> OrderDetailPublic:
    details = await orders.order_details(uow, settings_of(request), principal.subject, order_id.lower(),
                                         client_ip=client_ip(request))  # fmt: skip
    return OrderDetailPublic.of(details)


@router.get(
    "/orders/{order_id}/vietqr.png",
    summary="The VietQR code of an open VietQR order",
    response_class=Response,
    responses={200: binary_content("image/png")},
    operation_id="getVietqrCode",
)
async def get_vietqr(request: Request, order_id: Id, principal: Payer, uow: PaymentUnitOfWorkDep) -> Response:
    png = await orders.vietqr_png(uow, settings_of(request), principal.subject, order_id.lower())
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.post("/orders/{order_id}/cancel", summary="Cancel an open order")
async def cancel_order(order_id: Id, principal: Payer, uow: PaymentUnitOfWorkDep) -> OrderPublic:
    return OrderPublic.model_validate(await orders.cancel(uow, principal.subject, order_id.lower()))


@router.get("/jwks", summary="The keys that sign payment receipts (public)", operation_id="getReceiptSigningKeys")
async def receipt_jwks(response: Response, uow: PaymentUnitOfWorkDep) -> ReceiptKeysPublic:
    response.headers["Cache-Control"] = "public, max-age=300"
    return ReceiptKeysPublic(keys=[dict(key) for key in await receipts.jwks(uow)])


# --- callbacks ------------------------------------------------------------------------------

# What the providers send, declared for the document only: the callbacks read the raw request
# (the signatures cover it as it arrived), and each protocol answers its own way, so nothing here
# is validated by the framework (a refusal there would break the protocol's answers).
_VNPAY_IPN_FIELDS = {
    "vnp_TmnCode": "The merchant's terminal code (another terminal's payment is answered 01).",
    "vnp_Amount": "The amount in dong times 100, in ASCII digits (not the order's amount: answered 04).",
    "vnp_BankCode": "The bank or wallet paid through.",
    "vnp_BankTranNo": "The bank's transaction number.",
    "vnp_CardType": "The kind of card or account paid with.",
    "vnp_PayDate": "When it was paid: yyyyMMddHHmmss in GMT+7.",
    "vnp_OrderInfo": "The order description sent with the payment.",
    "vnp_TransactionNo": "VNPay's transaction number.",
    "vnp_ResponseCode": "00 when the payment was made (with vnp_TransactionStatus 00); other codes: not paid.",
    "vnp_TransactionStatus": "00 when the payment was made; other codes: not paid.",
    "vnp_TxnRef": "The order's merchant reference (an unknown one is answered 01).",
    "vnp_SecureHashType": "The hash algorithm's name (not signed).",
    "vnp_SecureHash": (
        "HMAC-SHA512 in hex of the other vnp_ parameters (sorted, form-encoded, empty ones left out) under the "
        "merchant's hash secret, compared in constant time; a missing or wrong one is answered 97."
    ),
}
VNPAY_IPN_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in _VNPAY_IPN_FIELDS.items()
]
BANK_NOTIFICATION = {
    "parameters": [{
        "name": webhook_header.HEADER, "in": "header", "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": (
            "`t=<unix seconds>,v1=<hex HMAC-SHA256 of t, a dot and the raw body>` under a secret shared with the "
            "bank (several v1 during a rotation), within 5 minutes of the portal's clock; compared in constant "
            "time. Missing, malformed, stale or not matching: 401."
        ),
    }],
    "requestBody": {
        "required": True,
        "description": (
            "The transfer, as JSON, signed as sent. A well-signed body that is not a transfer is acknowledged "
            "(200, result `malformed`) so that the bank does not send it again."
        ),
        "content": {"application/json": {"schema": callbacks.Transfer.model_json_schema()}},
    },
}  # fmt: skip


async def _raw(request: Request) -> RawCallback:
    body = await request.body()
    return RawCallback(
        method=request.method,
        remote_addr=request.client.host if request.client else None,
        query=dict(request.query_params),
        headers=dict(request.headers),
        body=body[:MAX_CALLBACK_BYTES],
    )


@router.get(
    "/callbacks/vnpay/ipn",
    summary="VNPay IPN (public; signed). Answers {RspCode, Message} as VNPay expects",
    responses={200: {"content": {"application/json": {"example": {"RspCode": "00", "Message": "Confirm Success"}}}}},
    operation_id="receiveVnpayIpn",
    description=(
        "VNPay calls it with the payment's outcome in the query, signed (`vnp_SecureHash`), and reads the answer's "
        "`RspCode`: 97 signature not valid, 99 a field missing, 01 no such order, 04 not the order's amount, "
        "02 already confirmed, 00 confirmed. Every call is answered 200 (403 from outside an allow-list): a "
        "refusal is in `RspCode`, as VNPay's protocol has it. Any other `vnp_` parameter is signed too."
    ),
    openapi_extra={"parameters": VNPAY_IPN_PARAMETERS},
)
async def vnpay_ipn(request: Request, uow: PaymentUnitOfWorkDep) -> VnpayIpnAnswer:
    return VnpayIpnAnswer.of(await callbacks.vnpay_ipn(uow, settings_of(request), await _raw(request)))


@router.post("/callbacks/bank", summary="A bank's transfer notification (public; signed t=…,v1=…)",
             operation_id="receiveBankNotification", response_model_exclude_unset=True,
             openapi_extra=BANK_NOTIFICATION)  # fmt: skip
async def bank_notification(request: Request, uow: PaymentUnitOfWorkDep) -> BankNotificationAnswer:
    raw = await _raw(request)
    try:
        return BankNotificationAnswer.of(await callbacks.bank_notification(uow, settings_of(request), raw))
    except callbacks.SignatureInvalid:
        await uow.commit()  # the refused callback stays on record
        raise


# --- operators ------------------------------------------------------------------------------


@router.post("/orders/{order_id}/refund", summary="Record that a paid order was refunded (operators)")
async def refund_order(order_id: Id, body: RefundCreate, principal: Operator, uow: PaymentUnitOfWorkDep) -> OrderPublic:
    return OrderPublic.model_validate(await orders.refund(uow, order_id.lower(), body.reason, principal.subject))


STATEMENT = {
    "required": True,
    "description": (
        "The provider's statement: UTF-8 CSV whose header names at least `transaction_id`, `reference` and "
        "`amount` (whole VND in ASCII digits); a `status` column keeps only the settled lines (empty or `00`). "
        "At most 100000 lines."
    ),
    "content": {"text/csv": {"schema": dict(BINARY)}},
}


@router.post(
    "/reconciliations",
    summary="Reconcile a provider's statement (CSV) with the orders paid in a period",
    operation_id="reconcilePayments",
    openapi_extra={"requestBody": STATEMENT},
)
async def reconcile(
    request: Request,
    principal: Operator,
    uow: PaymentUnitOfWorkDep,
    provider: Annotated[Literal["vnpay", "vietqr"], Query()],
    since: Annotated[datetime, Query(description="Start of the period (included), with its offset.")],
    until: Annotated[
        datetime,
        Query(
            description="End of the period (excluded), with its offset; at or before "
            "`since`, the period is empty: no order is expected in it."
        ),
    ],
) -> ReconciliationPublic:
    body = await request.body()  # bounded by the service's body limit (PAYMENT_MAX_BODY_BYTES): 413 beyond
    if since.tzinfo is None or until.tzinfo is None:
        message = "Give the time zone (e.g. +07:00)."
        raise ValidationFailed([{"field": "query.since", "location": "query", "message": message}])
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = "Not UTF-8 text."
        raise ValidationFailed([{"field": "body", "location": "body", "message": message}]) from exc
    done = await reconciliation.reconcile_statement(uow, text, provider=Provider(provider), since=since, until=until)
    return ReconciliationPublic.of(done)
