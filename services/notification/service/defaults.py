"""The portal's own template of each kind, saved when the service starts (``seed_templates``):
Vietnamese for every kind, English for some. Operators add later versions through the API."""

from __future__ import annotations

from typing import Any

from ..domain.notices import Kind

_CODE = {"type": "string", "minLength": 1, "maxLength": 40}
_NAME = {"type": "string", "minLength": 1, "maxLength": 500}
_DATE = {"type": "string", "format": "date", "maxLength": 10}
_LINK = {"type": "string", "maxLength": 500}


def _schema(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": sorted(properties), "additionalProperties": False}


DOSSIER = _schema(code=_CODE, procedure=_NAME, link=_LINK)
DOSSIER_DATED = _schema(code=_CODE, procedure=_NAME, link=_LINK, appointment=_DATE)
PAYMENT = _schema(code=_CODE, amount={"type": "string", "maxLength": 40}, link=_LINK)
FEEDBACK = _schema(code=_CODE, link=_LINK)
_COUNT = {"type": "integer", "minimum": 0}
DIGEST = _schema(agency=_CODE, dossiers_past=_COUNT, dossiers_near=_COUNT, feedback_past=_COUNT,
                 feedback_near=_COUNT, days={"type": "integer", "minimum": 0, "maximum": 30},
                 codes={"type": "array", "items": _CODE, "maxItems": 20}, link=_LINK)  # fmt: skip


def _texts(subject: str, sms: str, body: str) -> dict[str, str]:
    """One notice's texts from its subject, its SMS and its body (e-mail, push and inbox)."""
    return {
        "subject": subject, "email_text": body + "\n\n{{ link }}",
        "email_html": "<p>" + body + '</p><p><a href="{{ link }}">{{ link }}</a></p>',
        "sms": sms, "push_title": subject, "push_body": body, "inbox_title": subject, "inbox_body": body,
    }  # fmt: skip


def _digest_texts(subject: str, sms: str, summary: str, codes: str) -> dict[str, str]:
    """The digest's texts: the summary everywhere, the codes too where there is room (not in a push)."""
    return {**_texts(subject, sms, summary + codes), "push_body": summary}


VIETNAMESE: dict[Kind, tuple[dict[str, str], dict[str, Any]]] = {
    Kind.DOSSIER_RECEIVED: (_texts(
        "Hồ sơ {{ code }} đã được tiếp nhận",
        "DVCQG: Ho so {{ code }} da duoc tiep nhan, hen tra ket qua {{ appointment }}.",
        "Hồ sơ {{ code }} ({{ procedure }}) đã được tiếp nhận. Ngày hẹn trả kết quả: {{ appointment }}.",
    ), DOSSIER_DATED),
    Kind.SUPPLEMENT_REQUESTED: (_texts(
        "Hồ sơ {{ code }} cần bổ sung giấy tờ",
        "DVCQG: Ho so {{ code }} can bo sung giay to. Vui long xem chi tiet tren Cong DVC.",
        "Cơ quan giải quyết yêu cầu bổ sung giấy tờ cho hồ sơ {{ code }} ({{ procedure }}).",
    ), DOSSIER),
    Kind.DOSSIER_IN_PROCESSING: (_texts(
        "Hồ sơ {{ code }} đang được xử lý",
        "DVCQG: Ho so {{ code }} dang duoc xu ly.",
        "Hồ sơ {{ code }} ({{ procedure }}) đang được cơ quan giải quyết xử lý.",
    ), DOSSIER),
    Kind.DOSSIER_PROCESSED: (_texts(
        "Hồ sơ {{ code }} đã xử lý xong",
        "DVCQG: Ho so {{ code }} da xu ly xong.",
        "Hồ sơ {{ code }} ({{ procedure }}) đã được xử lý xong; kết quả sẽ được trả theo hình thức bạn đã chọn.",
    ), DOSSIER),
    Kind.RESULT_RETURNED: (_texts(
        "Đã trả kết quả hồ sơ {{ code }}",
        "DVCQG: Da tra ket qua ho so {{ code }}.",
        "Kết quả giải quyết hồ sơ {{ code }} ({{ procedure }}) đã được trả.",
    ), DOSSIER),
    Kind.APPOINTMENT_CHANGED: (_texts(
        "Ngày hẹn trả kết quả hồ sơ {{ code }} đã thay đổi",
        "DVCQG: Ngay hen tra ket qua ho so {{ code }} doi sang {{ appointment }}.",
        "Ngày hẹn trả kết quả hồ sơ {{ code }} ({{ procedure }}) đổi sang {{ appointment }}.",
    ), DOSSIER_DATED),
    Kind.PAYMENT_SUCCEEDED: (_texts(
        "Đã thanh toán lệ phí hồ sơ {{ code }}",
        "DVCQG: Da thanh toan {{ amount }} cho ho so {{ code }}.",
        "Khoản thanh toán {{ amount }} cho hồ sơ {{ code }} đã thành công.",
    ), PAYMENT),
    Kind.PAYMENT_FAILED: (_texts(
        "Thanh toán lệ phí hồ sơ {{ code }} không thành công",
        "DVCQG: Thanh toan cho ho so {{ code }} khong thanh cong. Vui long thu lai.",
        "Khoản thanh toán {{ amount }} cho hồ sơ {{ code }} không thành công. Vui lòng thử lại.",
    ), PAYMENT),
    Kind.PAYMENT_EXPIRING: (_texts(
        "Yêu cầu thanh toán hồ sơ {{ code }} sắp hết hạn",
        "DVCQG: Yeu cau thanh toan {{ amount }} cho ho so {{ code }} sap het han.",
        "Yêu cầu thanh toán {{ amount }} cho hồ sơ {{ code }} sắp hết hạn.",
    ), PAYMENT),
    Kind.FEEDBACK_INFORMATION_REQUESTED: (_texts(
        "Phản ánh {{ code }} cần bổ sung thông tin",
        "DVCQG: Phan anh {{ code }} can bo sung thong tin.",
        "Cơ quan xử lý đề nghị bổ sung thông tin cho phản ánh, kiến nghị {{ code }}.",
    ), FEEDBACK),
    Kind.FEEDBACK_ANSWERED: (_texts(
        "Phản ánh {{ code }} đã được trả lời",
        "DVCQG: Phan anh {{ code }} da duoc tra loi.",
        "Phản ánh, kiến nghị {{ code }} đã được cơ quan có thẩm quyền trả lời.",
    ), FEEDBACK),
    # Not sent by SMS (domain/notices.py); its SMS text is there because every template has one.
    Kind.OFFICIAL_DIGEST: (_digest_texts(
        "{{ agency }}: hồ sơ, phản ánh quá hạn và sắp đến hạn",
        "DVCQG: {{ agency }} co {{ dossiers_past }} ho so qua han, {{ dossiers_near }} sap den han; "
        "{{ feedback_past }} phan anh qua han, {{ feedback_near }} sap den han.",
        "Cơ quan {{ agency }}: {{ dossiers_past }} hồ sơ đã quá hạn, {{ dossiers_near }} hồ sơ đến hạn trong "
        "{{ days }} ngày tới; {{ feedback_past }} phản ánh, kiến nghị đã quá hạn, {{ feedback_near }} đến hạn "
        "trong {{ days }} ngày tới.",
        "{% if codes %} Cần xử lý trước: {{ codes | join(', ') }}.{% endif %}",
    ), DIGEST),
}  # fmt: skip

ENGLISH: dict[Kind, tuple[dict[str, str], dict[str, Any]]] = {
    Kind.DOSSIER_RECEIVED: (_texts(
        "Dossier {{ code }} received",
        "DVCQG: Dossier {{ code }} received, result due {{ appointment }}.",
        "Dossier {{ code }} ({{ procedure }}) was received. The result is due on {{ appointment }}.",
    ), DOSSIER_DATED),
    Kind.RESULT_RETURNED: (_texts(
        "Result of dossier {{ code }} returned",
        "DVCQG: The result of dossier {{ code }} was returned.",
        "The result of dossier {{ code }} ({{ procedure }}) was returned.",
    ), DOSSIER),
}  # fmt: skip
