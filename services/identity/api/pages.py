"""The server-rendered pages of the sign-in flow: Vietnamese first, English available."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "lang": "vi", "title": "Đăng nhập – Cổng Dịch vụ công quốc gia", "heading": "Đăng nhập",
        "for_client": "để tiếp tục tới",
        "login": "Số định danh cá nhân, mã số thuế, số điện thoại hoặc tên đăng nhập cán bộ",
        "login_hint": "Ví dụ: 001099012345", "password": "Mật khẩu", "totp": "Mã xác thực (6 chữ số)",
        "totp_hint": "Mở ứng dụng xác thực để lấy mã.", "submit": "Đăng nhập", "other_lang": "en",
        "other_lang_name": "English", "error_title": "Không thể tiếp tục",
        "bad_credentials": "Thông tin đăng nhập không đúng.",
        "need_totp": "Vui lòng nhập mã xác thực từ ứng dụng của bạn.",
        "expired": "Phiên đăng nhập đã hết hạn, vui lòng thử lại.",
        "invalid-credentials": "Thông tin đăng nhập không đúng.",
        "account-locked": "Tài khoản tạm khóa do đăng nhập sai nhiều lần. Vui lòng thử lại sau {seconds} giây.",
        "too-many-attempts": "Quá nhiều lần đăng nhập từ địa chỉ này. Vui lòng thử lại sau {seconds} giây.",
        "second-factor-required": "Mã xác thực không đúng, vui lòng nhập mã mới.",
        "second-factor-not-enrolled": (
            "Tài khoản này cần xác thực hai lớp nhưng chưa được thiết lập. Vui lòng liên hệ quản trị."
        ),
        "account-disabled": "Tài khoản đã bị khóa hoặc ngừng hoạt động.",
        "continue_title": "Đang quay lại ứng dụng…", "continue_link": "Tiếp tục",
        "eid_button": "Đăng nhập bằng VNeID", "eid_or": "hoặc đăng nhập bằng tài khoản của Cổng",
        "sign-in-with-eid": "Công dân và doanh nghiệp đăng nhập bằng tài khoản định danh điện tử VNeID.",
        "eid-unavailable": "Hệ thống định danh điện tử quốc gia (VNeID) tạm thời không phản hồi. Vui lòng thử lại sau.",
        "eid-answer-refused": "Không xác minh được kết quả đăng nhập từ VNeID. Vui lòng đăng nhập lại.",
        "eid-sign-in-expired": "Phiên đăng nhập VNeID đã kết thúc hoặc không bắt đầu từ trình duyệt này. "
                               "Vui lòng đăng nhập lại.",
        "eid-declined": "Đăng nhập VNeID chưa hoàn tất.",
        "eid-identifier-mismatch": "Tài khoản VNeID này không khớp với tài khoản đã liên kết trên Cổng. "
                                   "Vui lòng liên hệ bộ phận hỗ trợ.",
        "eid-bad-request": "Yêu cầu không hợp lệ.", "eid-off": "Đăng nhập bằng VNeID chưa được bật.",
        "step_up_mfa": "Dịch vụ này yêu cầu xác thực hai lớp: đăng nhập lại với mã từ ứng dụng xác thực.",
        "step_up_in_person": (
            "Dịch vụ này yêu cầu tài khoản định danh điện tử mức độ 2 (VNeID): đăng nhập bằng VNeID mức độ 2, "
            "hoặc bằng tài khoản đã xác minh trực tiếp cùng mã xác thực."
        ),
    },
    "en": {
        "lang": "en", "title": "Sign in – National Public Service Portal", "heading": "Sign in",
        "for_client": "to continue to",
        "login": "Personal identification number, tax code, phone number or official's username",
        "login_hint": "For example: 001099012345", "password": "Password", "totp": "Verification code (6 digits)",
        "totp_hint": "Open your authenticator app to get the code.", "submit": "Sign in", "other_lang": "vi",
        "other_lang_name": "Tiếng Việt", "error_title": "Cannot continue",
        "bad_credentials": "The sign-in details are not correct.",
        "need_totp": "Please enter the code from your authenticator app.",
        "expired": "The sign-in form expired, please try again.",
        "invalid-credentials": "The sign-in details are not correct.",
        "account-locked": "The account is locked after repeated failed sign-ins. Try again in {seconds} seconds.",
        "too-many-attempts": "Too many sign-ins from this address. Try again in {seconds} seconds.",
        "second-factor-required": "The verification code is not correct, please enter a new one.",
        "second-factor-not-enrolled": "This account needs two-step verification, which is not set up. Contact support.",
        "account-disabled": "The account is locked or disabled.",
        "continue_title": "Returning to the application…", "continue_link": "Continue",
        "eid_button": "Sign in with VNeID", "eid_or": "or sign in with a portal account",
        "sign-in-with-eid": "Citizens and enterprises sign in with their VNeID electronic identification account.",
        "eid-unavailable": "The national e-ID (VNeID) is not answering at the moment. Please try again later.",
        "eid-answer-refused": "The sign-in result from VNeID could not be verified. Please sign in again.",
        "eid-sign-in-expired": "The VNeID sign-in is over, or was not started in this browser. Please sign in again.",
        "eid-declined": "The VNeID sign-in was not completed.",
        "eid-identifier-mismatch": "This VNeID account does not match the portal account linked to it. "
                                   "Please contact support.",
        "eid-bad-request": "The request is not valid.", "eid-off": "Sign-in with VNeID is not enabled.",
        "step_up_mfa": "This service needs two-step verification: sign in again with your authenticator code.",
        "step_up_in_person": (
            "This service needs a level 2 national e-ID (VNeID): sign in with VNeID level 2, or with an account "
            "verified in person and its authenticator code."
        ),
    },
}  # fmt: skip

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)


def language(ui_locales: str | None) -> str:
    """The first supported language in ``ui_locales``; Vietnamese by default."""
    for tag in (ui_locales or "").split():
        if tag.split("-")[0].lower() in TEXTS:
            return tag.split("-")[0].lower()
    return "vi"


def texts(lang: str) -> dict[str, str]:
    return TEXTS[lang]


def refusal(lang: str, problem_type: str, retry_after: str | None, fallback: str) -> str:
    """A sign-in refusal in the page's language, saying when to retry where a wait applies."""
    text = TEXTS[lang].get(problem_type)
    return text.format(seconds=retry_after or "?") if text else fallback


def render(template: str, lang: str, **context: Any) -> str:
    return _env.get_template(template).render(t=TEXTS[lang], **context)
