"""Version 1 of each kind's template, saved when the service first starts (``seed_templates``):
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
DIGEST = _schema(agency={"type": "string", "maxLength": 200}, dossiers={"type": "integer", "minimum": 0},
                 feedback={"type": "integer", "minimum": 0}, link=_LINK)  # fmt: skip


def _texts(subject: str, sms: str, body: str) -> dict[str, str]:
    """One notice's texts from its subject, its SMS and its body (e-mail, push and inbox)."""
    return {
        "subject": subject, "email_text": body + "\n\n{{ link }}",
        "email_html": "<p>" + body + '</p><p><a href="{{ link }}">{{ link }}</a></p>',
        "sms": sms, "push_title": subject, "push_body": body, "inbox_title": subject, "inbox_body": body,
    }  # fmt: skip


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
    Kind.OFFICIAL_DIGEST: (_texts(
        "{{ agency }}: hồ sơ và phản ánh sắp đến hạn",
        "DVCQG: {{ dossiers }} ho so, {{ feedback }} phan anh sap/da qua han.",
        "{{ agency }}: {{ dossiers }} hồ sơ và {{ feedback }} phản ánh sắp đến hạn hoặc đã quá hạn.",
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
