"""The payment protocols as a provider would speak them, written for the tests from the protocol
description alone (``shared/guide/domain.md``), independently of ``services/payment``.

It is deliberately built another way than the service's domain code, so that the two check each
other: HMAC is computed here from its definition (RFC 2104) over ``hashlib`` instead of with the
``hmac`` module, and VNPay's signed text is made by ``urllib.parse.urlencode`` over the sorted
items instead of by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit

GMT7 = timezone(timedelta(hours=7))


def hmac_hex(algorithm: str, key: bytes, message: bytes) -> str:
    """HMAC (RFC 2104) of ``message`` under ``key`` with the hash ``algorithm``, in lower-case hex."""
    block = hashlib.new(algorithm).block_size
    if len(key) > block:
        key = hashlib.new(algorithm, key).digest()
    key = key.ljust(block, b"\x00")
    inner = hashlib.new(algorithm, bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.new(algorithm, bytes(b ^ 0x5C for b in key) + inner).hexdigest()


# VNPay 2.1.0


def vnpay_sign_text(params: Mapping[str, str]) -> str:
    """The text VNPay signs: every parameter but the hash ones and the empty ones, by name, form-encoded."""
    kept = {k: v for k, v in params.items() if k not in ("vnp_SecureHash", "vnp_SecureHashType") and v}
    return urlencode(sorted(kept.items()))


def vnpay_hash(params: Mapping[str, str], secret: str) -> str:
    return hmac_hex("sha512", secret.encode(), vnpay_sign_text(params).encode())


def vnpay_signed(params: Mapping[str, str], secret: str) -> dict[str, str]:
    """``params`` with their ``vnp_SecureHash`` added."""
    return {**params, "vnp_SecureHash": vnpay_hash(params, secret)}


def vnpay_check(params: Mapping[str, str], secret: str) -> bool:
    """What VNPay does with a merchant's URL: recompute the hash and compare."""
    return params.get("vnp_SecureHash", "").lower() == vnpay_hash(params, secret)


def vnpay_query(url: str) -> dict[str, str]:
    """The parameters of a URL's query, each name once."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    params = dict(pairs)
    assert len(params) == len(pairs), "a parameter appears twice"
    return params


def vnpay_ipn(
    secret: str,
    *,
    txn_ref: str,
    amount_vnd: int,
    response_code: str = "00",
    transaction_status: str = "00",
    tmn_code: str = "PORTAL01",
    paid_at: datetime | None = None,
    **extra: str,
) -> dict[str, str]:
    """The query of an IPN call as VNPay sends it, signed with ``secret``."""
    paid_at = paid_at or datetime(2025, 12, 3, 9, 30, 5, tzinfo=GMT7)
    params = {
        "vnp_TmnCode": tmn_code,
        "vnp_Amount": str(amount_vnd * 100),
        "vnp_BankCode": "NCB",
        "vnp_BankTranNo": "VNP15283345",
        "vnp_CardType": "ATM",
        "vnp_OrderInfo": f"Thanh toan phi ho so {txn_ref}",
        "vnp_PayDate": paid_at.astimezone(GMT7).strftime("%Y%m%d%H%M%S"),
        "vnp_ResponseCode": response_code,
        "vnp_TransactionNo": "15283345",
        "vnp_TransactionStatus": transaction_status,
        "vnp_TxnRef": txn_ref,
        **extra,
    }
    return vnpay_signed(params, secret)


def vnpay_pipe_hash(values: Mapping[str, str], order: str, secret: str) -> str:
    """VNPay's merchant web API signature: the values of the fields named in ``order`` (written
    ``a|b|c`` as in VNPay's documentation), joined with ``|``, an absent one empty."""
    text = "|".join(values.get(name, "") for name in order.split("|"))
    return hmac_hex("sha512", secret.encode(), text.encode())


QUERYDR_REQUEST = (
    "vnp_RequestId|vnp_Version|vnp_Command|vnp_TmnCode|vnp_TxnRef|vnp_TransactionDate|vnp_CreateDate|vnp_IpAddr"
    "|vnp_OrderInfo"
)
QUERYDR_RESPONSE = (
    "vnp_ResponseId|vnp_Command|vnp_ResponseCode|vnp_Message|vnp_TmnCode|vnp_TxnRef|vnp_Amount|vnp_BankCode"
    "|vnp_PayDate|vnp_TransactionNo|vnp_TransactionType|vnp_TransactionStatus|vnp_OrderInfo|vnp_PromotionCode"
    "|vnp_PromotionAmount"
)


def vnpay_querydr_answer(
    secret: str, request: Mapping[str, str], *, response_code: str = "00", transaction_status: str = "00",
    amount_vnd: int = 150_000, **extra: str,
) -> dict[str, str]:  # fmt: skip
    """VNPay's signed answer to the querydr ``request``."""
    answer = {
        "vnp_ResponseId": "4f0c1d9a2b3c4d5e", "vnp_Command": request["vnp_Command"], "vnp_ResponseCode": response_code,
        "vnp_Message": "QueryDR Success", "vnp_TmnCode": request["vnp_TmnCode"], "vnp_TxnRef": request["vnp_TxnRef"],
        "vnp_Amount": str(amount_vnd * 100), "vnp_OrderInfo": request["vnp_OrderInfo"], "vnp_BankCode": "NCB",
        "vnp_PayDate": "20251203093005", "vnp_TransactionNo": "15283345", "vnp_TransactionType": "01",
        "vnp_TransactionStatus": transaction_status, **extra,
    }  # fmt: skip
    return {**answer, "vnp_SecureHash": vnpay_pipe_hash(answer, QUERYDR_RESPONSE, secret)}


# The bank's transfer notification


def bank_signature(body: bytes, secret: str, timestamp: int) -> str:
    """The ``X-Signature`` header a bank sends with ``body``: ``t=<seconds>,v1=<hex>``."""
    mac = hmac_hex("sha256", secret.encode(), str(timestamp).encode() + b"." + body)
    return f"t={timestamp},v1={mac}"
