"""The payment API: orders for the owner (``payment:pay``), the providers' callbacks (public,
protected by their signatures and optional address allow-lists), and the receipts' JWKS."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from services.kit.app import UnitOfWorkDep
from services.kit.auth import Principal, require_scopes
from services.kit.errors import ValidationFailed
from services.kit.openapi import BINARY, binary_content, json_object
from services.kit.schemas import StrictModel

from ..service import callbacks, orders, receipts, reconciliation
from ..settings import PaymentSettings

router = APIRouter(tags=["payment"])

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
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


class OrderBody(StrictModel):
    dossier_id: Annotated[str, Field(pattern=UUID_PATTERN)]
    provider: Literal["vnpay", "vietqr"]


@router.post(
    "/orders",
    status_code=201,
    summary="Create a payment order for a dossier's assessed fees",
    responses={
        200: {
            "description": "The order made before with the same Idempotency-Key (Idempotent-Replayed)",
            **json_object(),
        }
    },
)
async def create_order(
    request: Request, body: OrderBody, principal: Payer, uow: UnitOfWorkDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    view, created = await orders.create_order(
        uow, settings_of(request), principal.subject, body.model_dump(), idempotency_key=idempotency_key,
        client_ip=client_ip(request),
    )  # fmt: skip
    headers = {"Location": f"{request.url.path}/{view['id']}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(view, status_code=201 if created else 200, headers=headers)


@router.get("/orders/{order_id}", summary="An order: state, how to pay, receipt, history")
async def get_order(request: Request, order_id: Id, principal: Payer, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await orders.order_view(uow, settings_of(request), principal.subject, order_id.lower(),
                                   client_ip=client_ip(request))  # fmt: skip


@router.get(
    "/orders/{order_id}/vietqr.png",
    summary="The VietQR code of an open VietQR order",
    response_class=Response,
    responses={200: binary_content("image/png")},
    operation_id="getVietqrCode",
)
async def get_vietqr(request: Request, order_id: Id, principal: Payer, uow: UnitOfWorkDep) -> Response:
    png = await orders.vietqr_png(uow, settings_of(request), principal.subject, order_id.lower())
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.post("/orders/{order_id}/cancel", summary="Cancel an open order")
async def cancel_order(order_id: Id, principal: Payer, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await orders.cancel(uow, principal.subject, order_id.lower())


@router.get("/jwks", summary="The keys that sign payment receipts (public)", operation_id="getReceiptSigningKeys")
async def receipt_jwks(uow: UnitOfWorkDep) -> JSONResponse:
    return JSONResponse(await receipts.jwks(uow), headers={"Cache-Control": "public, max-age=300"})


# --- callbacks ------------------------------------------------------------------------------


async def _raw(request: Request) -> callbacks.RawCallback:
    body = await request.body()
    return callbacks.RawCallback(
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
)
async def vnpay_ipn(request: Request, uow: UnitOfWorkDep) -> dict[str, str]:
    return await callbacks.vnpay_ipn(uow, settings_of(request), await _raw(request))


@router.post("/callbacks/bank", summary="A bank's transfer notification (public; signed t=…,v1=…)",
             operation_id="receiveBankNotification")  # fmt: skip
async def bank_notification(request: Request, uow: UnitOfWorkDep) -> dict[str, Any]:
    raw = await _raw(request)
    try:
        return await callbacks.bank_notification(uow, settings_of(request), raw)
    except callbacks.SignatureInvalid:
        await uow.commit()  # the refused callback stays on record
        raise


# --- operators ------------------------------------------------------------------------------


class RefundBody(StrictModel):
    reason: Annotated[str, Field(min_length=3, max_length=500)]


@router.post("/orders/{order_id}/refund", summary="Record that a paid order was refunded (operators)")
async def refund_order(order_id: Id, body: RefundBody, principal: Operator, uow: UnitOfWorkDep) -> dict[str, Any]:
    return await orders.refund(uow, order_id.lower(), body.reason, principal.subject)


@router.post(
    "/reconciliations",
    summary="Reconcile a provider's statement (CSV) with the orders paid in a period",
    operation_id="reconcilePayments",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": dict(BINARY)}}}},
)
async def reconcile(
    request: Request,
    principal: Operator,
    uow: UnitOfWorkDep,
    provider: Annotated[Literal["vnpay", "vietqr"], Query()],
    since: Annotated[datetime, Query()],
    until: Annotated[datetime, Query()],
) -> dict[str, Any]:
    body = await request.body()  # bounded by the service's body limit (PAYMENT_MAX_BODY_BYTES): 413 beyond
    if since.tzinfo is None or until.tzinfo is None:
        message = "Give the time zone (e.g. +07:00)."
        raise ValidationFailed([{"field": "query.since", "location": "query", "message": message}])
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = "Not UTF-8 text."
        raise ValidationFailed([{"field": "body", "location": "body", "message": message}]) from exc
    return await reconciliation.reconcile_statement(uow, text, provider=provider, since=since, until=until)
