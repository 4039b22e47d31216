"""VNPay 2.1.0: signatures checked against an independent implementation both ways, the redirect URL
read back as VNPay would, and every path of the IPN decision in its order."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.payment.domain import vnpay
from services.payment.domain.orders import TERMINAL, OrderState
from services.payment.domain.vnpay import IpnAnswer, IpnOutcome, OrderView, decide_ipn
from tests.support.payment_protocols import (
    QUERYDR_REQUEST,
    QUERYDR_RESPONSE,
    vnpay_check,
    vnpay_hash,
    vnpay_ipn,
    vnpay_pipe_hash,
    vnpay_query,
    vnpay_querydr_answer,
    vnpay_sign_text,
    vnpay_signed,
)

SECRET = "KH0NGTIETLO2025SECRETKEYFORTESTS"
REF = "DVC25120300000042"
AMOUNT = 150_000
GMT7 = timezone(timedelta(hours=7))

PARAMS = {
    "vnp_TmnCode": "PORTAL01",
    "vnp_Amount": "15000000",
    "vnp_OrderInfo": "Thanh toan phi ho so G01.123-251203-0001 & le phi: 150.000d",
    "vnp_ReturnUrl": "https://dichvucong.example.vn/thanh-toan/ket-qua?lang=vi&x=1",
    "vnp_TxnRef": REF,
    "vnp_IpAddr": "203.0.113.7",
}


def pending(amount: int = AMOUNT, state: OrderState = OrderState.PENDING) -> OrderView:
    return OrderView(reference=REF, amount_vnd=amount, state=state)


# Signatures


def test_sign_matches_the_independent_implementation() -> None:
    assert vnpay.sign(PARAMS, SECRET) == vnpay_hash(PARAMS, SECRET)
    assert len(vnpay.sign(PARAMS, SECRET)) == 128
    assert vnpay.sign(PARAMS, SECRET) == vnpay.sign(PARAMS, SECRET).lower()


def test_the_signed_text_is_form_encoded_and_sorted() -> None:
    text = vnpay_sign_text(PARAMS)
    assert text.startswith("vnp_Amount=15000000&vnp_IpAddr=203.0.113.7&vnp_OrderInfo=Thanh+toan+phi+ho+so")
    assert "%26+le+phi%3A+150.000d" in text
    expected = hmac.new(SECRET.encode(), text.encode(), hashlib.sha512).hexdigest()
    assert vnpay.sign(PARAMS, SECRET) == expected


def test_a_callback_signed_by_the_provider_is_verified() -> None:
    assert vnpay.verify(vnpay_signed(PARAMS, SECRET), SECRET)


def test_what_the_domain_signs_the_provider_accepts() -> None:
    assert vnpay_check({**PARAMS, "vnp_SecureHash": vnpay.sign(PARAMS, SECRET)}, SECRET)


def test_the_hash_fields_and_empty_values_are_not_signed() -> None:
    signed = vnpay.sign(PARAMS, SECRET)
    assert vnpay.sign({**PARAMS, "vnp_SecureHashType": "HmacSHA512", "vnp_BankCode": ""}, SECRET) == signed
    assert vnpay.sign({**PARAMS, "vnp_SecureHash": "ab" * 64}, SECRET) == signed
    assert vnpay.verify({**vnpay_signed(PARAMS, SECRET), "vnp_SecureHashType": "HmacSHA512"}, SECRET)


def test_the_order_of_the_parameters_does_not_matter() -> None:
    assert vnpay.sign(dict(reversed(PARAMS.items())), SECRET) == vnpay.sign(PARAMS, SECRET)


def test_a_tampered_amount_fails() -> None:
    params = vnpay_signed(PARAMS, SECRET)
    params["vnp_Amount"] = "1500000"
    assert not vnpay.verify(params, SECRET)


def test_any_added_parameter_fails() -> None:
    params = vnpay_signed(PARAMS, SECRET)
    params["vnp_BankCode"] = "NCB"
    assert not vnpay.verify(params, SECRET)


def test_another_secret_fails() -> None:
    assert not vnpay.verify(vnpay_signed(PARAMS, "another-secret"), SECRET)


def test_an_upper_case_hash_is_accepted() -> None:
    params = {**PARAMS, "vnp_SecureHash": vnpay_hash(PARAMS, SECRET).upper()}
    assert vnpay.verify(params, SECRET)


@pytest.mark.parametrize("hash_value", [None, "", "not-hex", "ab" * 64, "tiếng việt"])
def test_a_missing_or_wrong_hash_fails(hash_value: str | None) -> None:
    params = dict(PARAMS)
    if hash_value is not None:
        params["vnp_SecureHash"] = hash_value
    assert not vnpay.verify(params, SECRET)


# The redirect URL


def make_url(**overrides: object) -> str:
    values: dict[str, object] = {
        "tmn_code": "PORTAL01",
        "secret": SECRET,
        "txn_ref": REF,
        "amount_vnd": AMOUNT,
        "order_info": "Thanh toan phi ho so G01.123-251203-0001",
        "return_url": "https://dichvucong.example.vn/thanh-toan/ket-qua?lang=vi",
        "ip_addr": "203.0.113.7",
        "created_at": datetime(2025, 12, 3, 2, 15, 30, tzinfo=UTC),
        "expires_at": datetime(2025, 12, 3, 2, 30, 30, tzinfo=UTC),
    }
    values.update(overrides)
    return vnpay.payment_url("https://sandbox.vnpayment.vn/paymentv2/vpcpay.html", **values)  # type: ignore[arg-type]


def test_the_url_round_trips() -> None:
    url = make_url()
    assert url.startswith("https://sandbox.vnpayment.vn/paymentv2/vpcpay.html?")
    params = vnpay_query(url)
    assert vnpay_check(params, SECRET)
    assert vnpay.verify(params, SECRET)
    del params["vnp_SecureHash"]
    assert params == {
        "vnp_Version": "2.1.0",
        "vnp_Command": "pay",
        "vnp_TmnCode": "PORTAL01",
        "vnp_Amount": "15000000",
        "vnp_CurrCode": "VND",
        "vnp_TxnRef": REF,
        "vnp_OrderInfo": "Thanh toan phi ho so G01.123-251203-0001",
        "vnp_OrderType": "other",
        "vnp_Locale": "vn",
        "vnp_ReturnUrl": "https://dichvucong.example.vn/thanh-toan/ket-qua?lang=vi",
        "vnp_IpAddr": "203.0.113.7",
        # 02:15:30 UTC is 09:15:30 in Vietnam.
        "vnp_CreateDate": "20251203091530",
        "vnp_ExpireDate": "20251203093030",
    }


def test_the_query_is_the_signed_text_then_the_hash() -> None:
    url = make_url()
    query = url.split("?", 1)[1]
    params = vnpay_query(url)
    assert query == vnpay_sign_text(params) + "&vnp_SecureHash=" + params["vnp_SecureHash"]


def test_dates_are_local_whatever_zone_they_come_in() -> None:
    created = datetime(2025, 12, 31, 23, 50, tzinfo=timezone(timedelta(hours=-5)))  # 1 Jan 11:50 in Vietnam
    params = vnpay_query(make_url(created_at=created, expires_at=created + timedelta(minutes=15)))
    assert params["vnp_CreateDate"] == "20260101115000"
    assert params["vnp_ExpireDate"] == "20260101120500"


def test_the_locale_and_bank_code() -> None:
    params = vnpay_query(make_url(locale="en", bank_code="VNBANK"))
    assert params["vnp_Locale"] == "en" and params["vnp_BankCode"] == "VNBANK"
    assert vnpay_check(params, SECRET)
    assert "vnp_BankCode" not in vnpay_query(make_url())


@pytest.mark.parametrize("amount", [0, -1, 1.5, 150_000.0, "150000", True, None])
def test_an_amount_that_is_not_a_positive_whole_number_is_refused(amount: object) -> None:
    with pytest.raises(ValueError, match="amount"):
        make_url(amount_vnd=amount)


@pytest.mark.parametrize(
    "overrides",
    [
        {"created_at": datetime(2025, 12, 3, 9, 15)},  # no time zone
        {"expires_at": datetime(2025, 12, 3, 9, 30)},
        {"expires_at": datetime(2025, 12, 3, 2, 15, 30, tzinfo=UTC)},  # not after creation
        {"locale": "vi"},
        {"txn_ref": "DVC-2512"},
        {"txn_ref": ""},
        {"order_info": " "},
        {"tmn_code": ""},
        {"return_url": ""},
        {"ip_addr": ""},
    ],
)
def test_bad_url_inputs_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_url(**overrides)


@pytest.mark.parametrize(
    "base", ["https://pay.example/vpcpay.html?x=1", "https://pay.example/p#f", "ftp://pay.example/"]
)
def test_a_base_url_with_its_own_query_is_refused(base: str) -> None:
    with pytest.raises(ValueError):
        vnpay.payment_url(
            base,
            tmn_code="PORTAL01",
            secret=SECRET,
            txn_ref=REF,
            amount_vnd=1,
            order_info="x",
            return_url="https://r.example/",
            ip_addr="127.0.0.1",
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
            expires_at=datetime(2025, 1, 2, tzinfo=UTC),
        )


# Pay dates


def test_a_pay_date_is_read_in_vietnam_time() -> None:
    paid = vnpay.parse_pay_date("20251203093005")
    assert paid == datetime(2025, 12, 3, 2, 30, 5, tzinfo=UTC)
    assert paid.utcoffset() == timedelta(0)
    assert vnpay.parse_pay_date("20260101000000") == datetime(2025, 12, 31, 17, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "2025120309300", "202512030930050", "20251303093005", "2025-12-03 09:30", None])
def test_a_malformed_pay_date_is_refused(value: str | None) -> None:
    with pytest.raises(ValueError):
        vnpay.parse_pay_date(value)  # type: ignore[arg-type]


# Answers


def test_the_answers_are_the_protocol_s() -> None:
    assert [
        (a.code, a.message)
        for a in (
            vnpay.CONFIRM_SUCCESS,
            vnpay.ORDER_NOT_FOUND,
            vnpay.ALREADY_CONFIRMED,
            vnpay.INVALID_AMOUNT,
            vnpay.INVALID_SIGNATURE,
            vnpay.UNKNOWN_ERROR,
        )
    ] == [
        ("00", "Confirm Success"),
        ("01", "Order not found"),
        ("02", "Order already confirmed"),
        ("04", "Invalid amount"),
        ("97", "Invalid signature"),
        ("99", "Unknown error"),
    ]
    assert vnpay.CONFIRM_SUCCESS.as_json() == {"RspCode": "00", "Message": "Confirm Success"}
    assert IpnAnswer("97", "Invalid signature") == vnpay.INVALID_SIGNATURE


# The IPN decision


def test_a_successful_payment_is_confirmed_and_the_order_succeeds() -> None:
    outcome = decide_ipn(vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT), secret=SECRET, order=pending())
    assert outcome == IpnOutcome(vnpay.CONFIRM_SUCCESS, OrderState.SUCCEEDED, None)


def test_an_order_still_created_is_judged_like_a_pending_one() -> None:
    outcome = decide_ipn(
        vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT), secret=SECRET, order=pending(state=OrderState.CREATED)
    )
    assert outcome == IpnOutcome(vnpay.CONFIRM_SUCCESS, OrderState.SUCCEEDED, None)


@pytest.mark.parametrize(
    ("response_code", "transaction_status"),
    [("24", "02"), ("00", "02"), ("07", "00"), ("51", "02"), ("00", "01"), ("99", "99")],
)
def test_anything_but_both_00_fails_the_order_and_is_confirmed(response_code: str, transaction_status: str) -> None:
    params = vnpay_ipn(
        SECRET, txn_ref=REF, amount_vnd=AMOUNT, response_code=response_code, transaction_status=transaction_status
    )
    assert decide_ipn(params, secret=SECRET, order=pending()) == IpnOutcome(
        vnpay.CONFIRM_SUCCESS, OrderState.FAILED, None
    )


def test_a_bad_signature_is_97() -> None:
    params = vnpay_ipn("not-our-secret", txn_ref=REF, amount_vnd=AMOUNT)
    assert decide_ipn(params, secret=SECRET, order=pending()) == IpnOutcome(vnpay.INVALID_SIGNATURE, None, None)


def test_a_tampered_ipn_is_97() -> None:
    params = vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT, response_code="24", transaction_status="02")
    params["vnp_ResponseCode"] = params["vnp_TransactionStatus"] = "00"
    assert decide_ipn(params, secret=SECRET, order=pending()).answer == vnpay.INVALID_SIGNATURE


def test_a_missing_signature_is_97_even_with_missing_fields() -> None:
    params = vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT)
    del params["vnp_SecureHash"]
    assert decide_ipn(params, secret=SECRET, order=pending()).answer == vnpay.INVALID_SIGNATURE
    assert decide_ipn({}, secret=SECRET, order=None).answer == vnpay.INVALID_SIGNATURE


def test_a_bad_signature_on_an_unknown_order_is_97() -> None:
    params = vnpay_ipn("not-our-secret", txn_ref="DVC25120399999999", amount_vnd=1)
    assert decide_ipn(params, secret=SECRET, order=None).answer == vnpay.INVALID_SIGNATURE


def test_an_unknown_order_is_01() -> None:
    params = vnpay_ipn(SECRET, txn_ref="DVC25120399999999", amount_vnd=AMOUNT)
    assert decide_ipn(params, secret=SECRET, order=None) == IpnOutcome(vnpay.ORDER_NOT_FOUND, None, None)


def test_an_unknown_order_with_a_wrong_amount_is_01() -> None:
    params = vnpay_ipn(SECRET, txn_ref="DVC25120399999999", amount_vnd=1)
    assert decide_ipn(params, secret=SECRET, order=None).answer == vnpay.ORDER_NOT_FOUND


def test_an_order_other_than_the_one_named_is_01() -> None:
    params = vnpay_ipn(SECRET, txn_ref="DVC25120399999999", amount_vnd=AMOUNT)
    assert decide_ipn(params, secret=SECRET, order=pending()).answer == vnpay.ORDER_NOT_FOUND


@pytest.mark.parametrize("paid", [AMOUNT - 1, AMOUNT + 1, AMOUNT * 100, 1])
def test_another_amount_is_04_flagged_and_changes_nothing(paid: int) -> None:
    params = vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=paid)
    assert decide_ipn(params, secret=SECRET, order=pending()) == IpnOutcome(
        vnpay.INVALID_AMOUNT, None, "amount-mismatch"
    )


@pytest.mark.parametrize(
    "raw", ["15000000.00", "1.5e7", "-15000000", " 15000000", "15000000 ", "1500000O", "15,000,000"]
)
def test_an_amount_that_is_not_an_integer_string_is_04(raw: str) -> None:
    params = vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT, vnp_Amount=raw)
    assert decide_ipn(params, secret=SECRET, order=pending()) == IpnOutcome(
        vnpay.INVALID_AMOUNT, None, "amount-mismatch"
    )


def test_a_wrong_amount_on_a_final_order_is_still_04() -> None:
    params = vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT + 1)
    order = pending(state=OrderState.SUCCEEDED)
    assert decide_ipn(params, secret=SECRET, order=order).answer == vnpay.INVALID_AMOUNT


@pytest.mark.parametrize("state", sorted(TERMINAL))
@pytest.mark.parametrize(("response_code", "transaction_status"), [("00", "00"), ("24", "02")])
def test_a_final_order_answers_02_and_does_not_move(
    state: OrderState, response_code: str, transaction_status: str
) -> None:
    params = vnpay_ipn(
        SECRET, txn_ref=REF, amount_vnd=AMOUNT, response_code=response_code, transaction_status=transaction_status
    )
    outcome = decide_ipn(params, secret=SECRET, order=pending(state=state))
    assert outcome.answer == vnpay.ALREADY_CONFIRMED
    assert outcome.new_state is None
    late = response_code == "00" and state in (OrderState.FAILED, OrderState.EXPIRED, OrderState.CANCELLED)
    assert outcome.flag == ("late-payment" if late else None)


def test_a_repeated_success_is_02() -> None:
    params = vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT)
    first = decide_ipn(params, secret=SECRET, order=pending())
    assert first.new_state is OrderState.SUCCEEDED
    again = decide_ipn(params, secret=SECRET, order=pending(state=first.new_state))
    assert again == IpnOutcome(vnpay.ALREADY_CONFIRMED, None, None)


@pytest.mark.parametrize("missing", ["vnp_TxnRef", "vnp_Amount", "vnp_ResponseCode", "vnp_TransactionStatus"])
def test_a_validly_signed_ipn_missing_a_field_is_99(missing: str) -> None:
    params = vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT)
    del params[missing], params["vnp_SecureHash"]
    params = vnpay_signed(params, SECRET)
    assert decide_ipn(params, secret=SECRET, order=pending()) == IpnOutcome(vnpay.UNKNOWN_ERROR, None, None)
    assert decide_ipn(params, secret=SECRET, order=None).answer == vnpay.UNKNOWN_ERROR


def test_an_ipn_paid_at_is_read_back() -> None:
    paid = datetime(2025, 12, 3, 23, 59, 59, tzinfo=GMT7)
    params = vnpay_ipn(SECRET, txn_ref=REF, amount_vnd=AMOUNT, paid_at=paid)
    assert vnpay.parse_pay_date(params["vnp_PayDate"]) == paid


# The status query (querydr)

QUERY_AT = datetime(2025, 12, 3, 10, 0, 0, tzinfo=GMT7)


def querydr(**overrides: object) -> dict[str, str]:
    arguments: dict = {
        "request_id": "a1b2c3", "tmn_code": "PORTAL01", "secret": SECRET, "txn_ref": REF,
        "transaction_date": datetime(2025, 12, 3, 2, 15, 0, tzinfo=UTC), "now": QUERY_AT, "ip_addr": "203.0.113.9",
    }  # fmt: skip
    return vnpay.querydr_request(**(arguments | overrides))


def test_a_querydr_request_is_signed_over_its_fields_joined_with_pipes() -> None:
    body = querydr()
    text = f"a1b2c3|2.1.0|querydr|PORTAL01|{REF}|20251203091500|20251203100000|203.0.113.9|{body['vnp_OrderInfo']}"
    assert body["vnp_SecureHash"] == hmac.new(SECRET.encode(), text.encode(), hashlib.sha512).hexdigest()
    assert body["vnp_SecureHash"] == vnpay_pipe_hash(body, QUERYDR_REQUEST, SECRET)
    assert body["vnp_TransactionDate"] == "20251203091500"  # the order's creation, in Vietnam time


@pytest.mark.parametrize(
    "overrides",
    [
        {"request_id": ""},
        {"request_id": "x" * 33},
        {"request_id": "a-b"},
        {"txn_ref": "DVC 1"},
        {"tmn_code": ""},
        {"ip_addr": ""},
        {"now": datetime(2025, 12, 3, 10, 0)},
    ],
)
def test_a_malformed_querydr_request_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        querydr(**overrides)


def read(answer: object, request: dict[str, str] | None = None) -> vnpay.QueryAnswer:
    return vnpay.read_querydr(answer, request=request or querydr(), secret=SECRET)


def test_a_paid_answer_gives_the_transaction_the_amount_in_dong_and_when_it_was_paid() -> None:
    request = querydr()
    answer = vnpay_querydr_answer(SECRET, request, amount_vnd=AMOUNT)
    paid_at = datetime(2025, 12, 3, 9, 30, 5, tzinfo=GMT7)  # vnp_PayDate 20251203093005, Hanoi time
    assert read(answer, request) == vnpay.QueryAnswer("paid", "15283345", AMOUNT, paid_at=paid_at)


@pytest.mark.parametrize("kind", ["02", "03", ""])
def test_a_successful_refund_is_not_a_payment(kind: str) -> None:
    request = querydr()
    answer = read(vnpay_querydr_answer(SECRET, request, vnp_TransactionType=kind), request)
    assert answer.status == "unknown" and "transaction type" in answer.reason


def test_a_paid_answer_with_a_malformed_pay_date_is_not_believed() -> None:
    request = querydr()
    assert read(vnpay_querydr_answer(SECRET, request, vnp_PayDate="2025-12-03"), request).status == "unknown"


def test_the_promotion_fields_are_signed_even_when_present() -> None:
    request = querydr()
    answer = vnpay_querydr_answer(SECRET, request, vnp_PromotionCode="TET2026", vnp_PromotionAmount="1000000")
    assert read(answer, request).status == "paid"
    without = {k: v for k, v in answer.items() if k != "vnp_PromotionCode"}
    assert read(without, request).status == "unknown"


@pytest.mark.parametrize(("status", "expected"), [("01", "pending"), ("02", "declined"), ("04", "unknown"),
                                                  ("05", "unknown"), ("07", "unknown"), ("09", "unknown")])  # fmt: skip
def test_each_transaction_status_has_its_meaning(status: str, expected: str) -> None:
    request = querydr()
    assert read(vnpay_querydr_answer(SECRET, request, transaction_status=status), request).status == expected


@pytest.mark.parametrize("code", ["91", "94", "97", "99", "02"])
def test_a_query_that_did_not_succeed_is_unknown_whatever_the_status_says(code: str) -> None:
    request = querydr()
    answer = read(vnpay_querydr_answer(SECRET, request, response_code=code), request)
    assert answer.status == "unknown" and code in answer.reason


def test_an_answer_signed_with_another_secret_or_tampered_is_not_believed() -> None:
    request = querydr()
    assert read(vnpay_querydr_answer("another-secret", request), request).status == "unknown"
    tampered = vnpay_querydr_answer(SECRET, request, amount_vnd=AMOUNT) | {"vnp_Amount": str(AMOUNT * 10 * 100)}
    assert read(tampered, request).reason.startswith("signature not valid")
    assert read({k: v for k, v in vnpay_querydr_answer(SECRET, request).items() if k != "vnp_SecureHash"}).status == (
        "unknown"
    )


@pytest.mark.parametrize("name", ["vnp_TmnCode", "vnp_TxnRef", "vnp_Command"])
def test_an_answer_about_another_merchant_order_or_command_is_not_believed(name: str) -> None:
    request = querydr()
    other = dict(request) | {name: "OTHER2"}
    answer = read(vnpay_querydr_answer(SECRET, other), request)
    assert answer.status == "unknown" and name in answer.reason


@pytest.mark.parametrize("body", [None, [], "00", {"vnp_Amount": True}, {"vnp_Amount": 1.5}, {"a": None}])
def test_an_answer_that_is_not_an_object_of_strings_is_unknown(body: object) -> None:
    assert read(body).status == "unknown"


def test_a_paid_amount_that_is_not_whole_dong_is_unknown() -> None:
    request = querydr()
    answer = vnpay_querydr_answer(SECRET, request)
    answer = answer | {"vnp_Amount": "15000050"}
    answer["vnp_SecureHash"] = vnpay_pipe_hash(answer, QUERYDR_RESPONSE, SECRET)
    assert read(answer, request).status == "unknown"
