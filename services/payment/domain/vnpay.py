"""VNPay payment gateway, version 2.1.0: the signed redirect URL, the decision on an IPN and the status query.

The citizen is sent to VNPay with a signed URL; VNPay then calls the portal's IPN URL (a GET whose
query carries the outcome, signed the same way) and expects a JSON answer. The rules:

1. **The signature** is HMAC-SHA512 under the merchant's hash secret, in lower-case hex, over the
   parameters less ``vnp_SecureHash``, ``vnp_SecureHashType`` and those with an empty value, sorted
   by name and joined as ``name=value`` pairs with ``&``, each side form-encoded (``quote_plus``:
   a space is ``+``). The redirect URL's query is that same text plus ``vnp_SecureHash``, so what
   VNPay checks is exactly what was signed. A received hash is compared in constant time, in either
   case of hex.
2. **Amounts are whole dong**; VNPay carries them times 100 (``vnp_Amount=1500000`` is 15,000 VND).
3. **Times are local**: ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh (GMT+7). A time without a time zone
   is refused rather than guessed; times read back are aware and in UTC.
4. **An IPN is judged in a fixed order** (:func:`decide_ipn`), each step answering VNPay with its
   own code: the signature (97), the fields needed to judge it (99), the order exists (01), the
   amount is the order's (04, and the order is flagged for review, never changed: the amount in a
   callback is never trusted over the order's), the order is not final yet (02). Then the callback
   is confirmed (00) and the order moves: paid only when both ``vnp_ResponseCode`` and
   ``vnp_TransactionStatus`` are ``00``, failed otherwise.
5. **A repeated callback is a no-op**: once an order is final, every later IPN for it answers 02
   and changes nothing. A *successful* payment reported for an order that already failed, expired
   or was cancelled is still 02, but flagged ``late-payment``: money was taken for a closed order
   and someone must look at it (refund it or reopen the dossier's payment).
6. **The status query** (``querydr``, on the merchant web API) is a JSON POST whose
   ``vnp_SecureHash`` is HMAC-SHA512 over a fixed list of fields joined with ``|`` (not the sorted
   form-encoding of rule 1); VNPay's answer is signed the same way over its own list, in which the
   promotion fields are signed as empty strings when absent. An answer is believed only when its
   signature holds and it names our merchant, our order and the command we sent
   (:func:`read_querydr`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote_plus, urlsplit
from zoneinfo import ZoneInfo

from .orders import TERMINAL, OrderState

VERSION = "2.1.0"
VIETNAM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DATE_FORMAT = "%Y%m%d%H%M%S"
HASH_FIELDS = frozenset({"vnp_SecureHash", "vnp_SecureHashType"})
LOCALES = frozenset({"vn", "en"})

FLAG_AMOUNT_MISMATCH = "amount-mismatch"
FLAG_LATE_PAYMENT = "late-payment"

# What an IPN must carry for the order and its outcome to be judged (besides the signature).
REQUIRED_IPN_FIELDS = ("vnp_TxnRef", "vnp_Amount", "vnp_ResponseCode", "vnp_TransactionStatus")

_DIGITS = re.compile(r"[0-9]+")
_PAY_DATE = re.compile(r"[0-9]{14}")
_TXN_REF = re.compile(r"[A-Za-z0-9]{1,100}")


def _sign_data(params: Mapping[str, str]) -> str:
    signed = sorted((k, v) for k, v in params.items() if k not in HASH_FIELDS and v is not None and v != "")
    return "&".join(f"{quote_plus(str(k))}={quote_plus(str(v))}" for k, v in signed)


def sign(params: Mapping[str, str], secret: str) -> str:
    """The ``vnp_SecureHash`` of ``params``: HMAC-SHA512 in lower-case hex (see the module's rule 1)."""
    return hmac.new(secret.encode(), _sign_data(params).encode(), hashlib.sha512).hexdigest()


def verify(params: Mapping[str, str], secret: str) -> bool:
    """True when ``params`` carry a ``vnp_SecureHash`` (either case of hex) that :func:`sign` gives
    for them under ``secret``; compared in constant time."""
    received = params.get("vnp_SecureHash")
    if not isinstance(received, str) or not received:
        return False
    expected = sign(params, secret)
    return hmac.compare_digest(received.lower().encode("utf-8", "replace"), expected.encode())


def _local_time(value: datetime, name: str) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a datetime with a time zone, not {value!r}.")
    return value.astimezone(VIETNAM_TZ).strftime(DATE_FORMAT)


def payment_url(
    base_url: str,
    *,
    tmn_code: str,
    secret: str,
    txn_ref: str,
    amount_vnd: int,
    order_info: str,
    return_url: str,
    ip_addr: str,
    created_at: datetime,
    expires_at: datetime,
    locale: str = "vn",
    bank_code: str | None = None,
) -> str:
    """The signed URL to send the citizen to VNPay with, for ``amount_vnd`` whole dong.

    ValueError for an amount that is not a positive whole number, a base URL that already has a
    query or fragment (those parameters would not be signed), an empty merchant code, order
    description, return URL or IP address, a reference that is not 1–100 ASCII letters and digits,
    an unknown locale, times without a time zone, or an expiry that is not after the creation."""
    if isinstance(amount_vnd, bool) or not isinstance(amount_vnd, int) or amount_vnd <= 0:
        raise ValueError(f"The amount is a positive whole number of dong, not {amount_vnd!r}.")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"The VNPay URL must be an http(s) URL without query or fragment, not {base_url!r}.")
    if not isinstance(txn_ref, str) or not _TXN_REF.fullmatch(txn_ref):
        raise ValueError(f"The merchant reference is 1–100 ASCII letters and digits, not {txn_ref!r}.")
    for name, value in (
        ("tmn_code", tmn_code),
        ("order_info", order_info),
        ("return_url", return_url),
        ("ip_addr", ip_addr),
    ):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must not be empty.")
    if locale not in LOCALES:
        raise ValueError(f"The locale is one of {sorted(LOCALES)}, not {locale!r}.")
    create_date = _local_time(created_at, "created_at")
    expire_date = _local_time(expires_at, "expires_at")
    if expires_at <= created_at:
        raise ValueError("The payment must expire after it is created.")
    params = {
        "vnp_Version": VERSION,
        "vnp_Command": "pay",
        "vnp_TmnCode": tmn_code,
        "vnp_Amount": str(amount_vnd * 100),
        "vnp_CurrCode": "VND",
        "vnp_TxnRef": txn_ref,
        "vnp_OrderInfo": order_info,
        "vnp_OrderType": "other",
        "vnp_Locale": locale,
        "vnp_ReturnUrl": return_url,
        "vnp_IpAddr": ip_addr,
        "vnp_CreateDate": create_date,
        "vnp_ExpireDate": expire_date,
    }
    if bank_code:
        params["vnp_BankCode"] = bank_code
    query = _sign_data(params)
    return f"{base_url}?{query}&vnp_SecureHash={sign(params, secret)}"


def parse_pay_date(value: str) -> datetime:
    """A VNPay time (``yyyyMMddHHmmss`` in GMT+7) as an aware UTC datetime; ValueError if malformed."""
    if not isinstance(value, str) or not _PAY_DATE.fullmatch(value):
        raise ValueError(f"A VNPay time is 14 digits yyyyMMddHHmmss, not {value!r}.")
    local = datetime.strptime(value, DATE_FORMAT).replace(tzinfo=VIETNAM_TZ)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class IpnAnswer:
    """What the portal answers VNPay's IPN call with."""

    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"RspCode": self.code, "Message": self.message}


CONFIRM_SUCCESS = IpnAnswer("00", "Confirm Success")
ORDER_NOT_FOUND = IpnAnswer("01", "Order not found")
ALREADY_CONFIRMED = IpnAnswer("02", "Order already confirmed")
INVALID_AMOUNT = IpnAnswer("04", "Invalid amount")
INVALID_SIGNATURE = IpnAnswer("97", "Invalid signature")
UNKNOWN_ERROR = IpnAnswer("99", "Unknown error")


@dataclass(frozen=True)
class OrderView:
    """What :func:`decide_ipn` needs to know of the order named by ``vnp_TxnRef``."""

    reference: str
    amount_vnd: int
    state: OrderState


@dataclass(frozen=True)
class IpnOutcome:
    """The answer to give VNPay, the state the order moves to (None: unchanged) and a flag asking
    for review (None: nothing to review)."""

    answer: IpnAnswer
    new_state: OrderState | None
    flag: str | None


def is_success(params: Mapping[str, str]) -> bool:
    """True when VNPay reports the payment made: both the response code and the status are ``00``."""
    return params.get("vnp_ResponseCode") == "00" and params.get("vnp_TransactionStatus") == "00"


def decide_ipn(
    params: Mapping[str, str], *, secret: str, order: OrderView | None, tmn_code: str | None = None
) -> IpnOutcome:
    """Judge one IPN call. ``order`` is the order whose reference is the call's ``vnp_TxnRef``, or
    None when there is none. The checks, in order (the module's rule 4): signature, fields, order
    (and, given ``tmn_code``, that the call is about our merchant: another terminal's payment is
    not one of our orders, whatever its reference), amount, finality; then the outcome.

    An order still ``created`` (never marked pending) is judged like a pending one: a success then
    takes it through ``pending`` to ``succeeded`` (two allowed steps), which is the caller's to apply.
    """
    if not verify(params, secret):
        return IpnOutcome(INVALID_SIGNATURE, None, None)
    if any(not isinstance(params.get(name), str) or not params.get(name) for name in REQUIRED_IPN_FIELDS):
        return IpnOutcome(UNKNOWN_ERROR, None, None)
    if order is None or order.reference != params["vnp_TxnRef"]:
        return IpnOutcome(ORDER_NOT_FOUND, None, None)
    if tmn_code is not None and params.get("vnp_TmnCode") != tmn_code:
        return IpnOutcome(ORDER_NOT_FOUND, None, None)
    amount = params["vnp_Amount"]
    if not _DIGITS.fullmatch(amount) or int(amount) != order.amount_vnd * 100:
        return IpnOutcome(INVALID_AMOUNT, None, FLAG_AMOUNT_MISMATCH)
    success = is_success(params)
    if OrderState(order.state) in TERMINAL:
        late = success and order.state in (OrderState.FAILED, OrderState.EXPIRED, OrderState.CANCELLED)
        return IpnOutcome(ALREADY_CONFIRMED, None, FLAG_LATE_PAYMENT if late else None)
    return IpnOutcome(CONFIRM_SUCCESS, OrderState.SUCCEEDED if success else OrderState.FAILED, None)


# The status query (querydr), VNPay merchant web API 2.1.0.

QUERYDR_REQUEST_FIELDS = (
    "vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef", "vnp_TransactionDate",
    "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo",
)  # fmt: skip
QUERYDR_RESPONSE_FIELDS = (
    "vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode", "vnp_TxnRef", "vnp_Amount",
    "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo", "vnp_TransactionType", "vnp_TransactionStatus",
    "vnp_OrderInfo", "vnp_PromotionCode", "vnp_PromotionAmount",
)  # fmt: skip
_REQUEST_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def pipe_sign(values: Mapping[str, Any], fields: tuple[str, ...], secret: str) -> str:
    """HMAC-SHA512 (lower-case hex) over ``fields`` of ``values`` joined with ``|``, an absent one
    as the empty string (rule 6)."""
    text = "|".join("" if values.get(name) is None else str(values[name]) for name in fields)
    return hmac.new(secret.encode(), text.encode(), hashlib.sha512).hexdigest()


def pipe_verify(values: Mapping[str, Any], fields: tuple[str, ...], secret: str) -> bool:
    """True when ``values`` carry the ``vnp_SecureHash`` :func:`pipe_sign` gives; constant time."""
    received = values.get("vnp_SecureHash")
    if not isinstance(received, str) or not received:
        return False
    expected = pipe_sign(values, fields, secret)
    return hmac.compare_digest(received.lower().encode("utf-8", "replace"), expected.encode())


def querydr_request(
    *, request_id: str, tmn_code: str, secret: str, txn_ref: str, transaction_date: datetime, now: datetime,
    ip_addr: str,
) -> dict[str, str]:  # fmt: skip
    """The signed JSON body asking VNPay what became of order ``txn_ref``, whose payment URL was
    made at ``transaction_date`` (its ``vnp_CreateDate``). ``request_id`` is unique per day (1–32
    ASCII letters and digits). ValueError for malformed inputs."""
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(f"The request id is 1–32 ASCII letters and digits, not {request_id!r}.")
    if not isinstance(txn_ref, str) or not _TXN_REF.fullmatch(txn_ref):
        raise ValueError(f"The merchant reference is 1–100 ASCII letters and digits, not {txn_ref!r}.")
    if not tmn_code or not ip_addr:
        raise ValueError("The merchant code and the server's IP address must not be empty.")
    body = {
        "vnp_RequestId": request_id,
        "vnp_Version": VERSION,
        "vnp_Command": "querydr",
        "vnp_TmnCode": tmn_code,
        "vnp_TxnRef": txn_ref,
        "vnp_OrderInfo": f"Truy van giao dich {txn_ref}",
        "vnp_TransactionDate": _local_time(transaction_date, "transaction_date"),
        "vnp_CreateDate": _local_time(now, "now"),
        "vnp_IpAddr": ip_addr,
    }
    body["vnp_SecureHash"] = pipe_sign(body, QUERYDR_REQUEST_FIELDS, secret)
    return body


@dataclass(frozen=True)
class QueryAnswer:
    """What a status query says of a payment: ``paid`` (with VNPay's transaction number, the
    amount in whole dong and when it was paid), ``declined``, ``pending`` (the payer has not finished), or ``unknown``
    (not found, refunded, reversed, held for fraud review, or an answer that cannot be believed),
    with the reason."""

    status: Literal["paid", "declined", "pending", "unknown"]
    transaction: str | None = None
    amount_vnd: int | None = None
    reason: str = ""
    paid_at: datetime | None = None


def read_querydr(body: Any, *, request: Mapping[str, str], secret: str) -> QueryAnswer:
    """Judge VNPay's answer ``body`` to the querydr ``request`` we sent. Never raises: an answer
        that is not a JSON object of strings, is not signed with ``secret`` (constant time), or names
        another merchant, order or command is ``unknown`` with the reason. Paid needs both the response
        code and the transaction status ``00``, a payment (not refund) transaction, a whole-dong amount
    and a well-formed pay date (the order's payment time, not the time of asking)."""
    if not isinstance(body, dict) or any(not isinstance(v, str | int) or isinstance(v, bool) for v in body.values()):
        return QueryAnswer("unknown", reason="not a JSON object of strings")
    values = {str(k): str(v) for k, v in body.items()}
    if not pipe_verify(values, QUERYDR_RESPONSE_FIELDS, secret):
        return QueryAnswer("unknown", reason=f"signature not valid (response code {values.get('vnp_ResponseCode')!r})")
    for name in ("vnp_TmnCode", "vnp_TxnRef", "vnp_Command"):
        if values.get(name) != request.get(name):
            return QueryAnswer("unknown", reason=f"{name} is not the one asked about")
    if values.get("vnp_ResponseCode") != "00":
        return QueryAnswer("unknown", reason=f"query answered {values.get('vnp_ResponseCode')!r}")
    status = values.get("vnp_TransactionStatus")
    if status == "00":
        if values.get("vnp_TransactionType") != "01":  # 02/03 are refunds: a success of those is no payment
            return QueryAnswer("unknown", reason=f"transaction type {values.get('vnp_TransactionType')!r}")
        amount = values.get("vnp_Amount", "")
        if not _DIGITS.fullmatch(amount) or int(amount) % 100:
            return QueryAnswer("unknown", reason=f"paid, but the amount {amount!r} is not whole dong")
        try:
            paid_at = parse_pay_date(values.get("vnp_PayDate", ""))
        except ValueError:
            return QueryAnswer("unknown", reason=f"paid, but the pay date {values.get('vnp_PayDate')!r} is malformed")
        return QueryAnswer("paid", values.get("vnp_TransactionNo") or None, int(amount) // 100, paid_at=paid_at)
    if status == "01":
        return QueryAnswer("pending")
    if status == "02":
        return QueryAnswer("declined", values.get("vnp_TransactionNo") or None)
    return QueryAnswer("unknown", reason=f"transaction status {status!r}")
