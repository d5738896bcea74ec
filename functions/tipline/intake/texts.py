"""What the OA says back to citizens, in Vietnamese. Per-OA overrides live in the OA registry."""

from __future__ import annotations

import unicodedata

EMERGENCY = "Trường hợp khẩn cấp, hãy gọi ngay 113."

STATUS_LABELS = {
    "new": "đã tiếp nhận, đang chờ xử lý",
    "in_progress": "đang được xác minh, xử lý",
    "resolved": "đã xử lý xong",
    "rejected": "đã được xem xét và khép lại",
    "spam": "đã được xem xét và khép lại",
}

# Menu sections of the OA ("Tin tức", "Dịch vụ công", "Liên hệ") and their # keywords.
MENU_KEYWORDS = {
    "news": ("tin tức", "tin tuc", "#tintuc"),
    "public_services": ("dịch vụ công", "dich vu cong", "#dichvucong"),
    "contact": ("liên hệ", "lien he", "#lienhe"),
}

DEFAULT_MENU_ANSWERS = {
    "news": "Tin tức, cảnh báo về tội phạm và thủ đoạn lừa đảo mới được đăng trên trang của Công an tỉnh. "
    "Mời bạn theo dõi OA để nhận cảnh báo sớm nhất.",
    "public_services": "Dịch vụ công trực tuyến: https://dichvucong.bocongan.gov.vn. "
    "Bạn có thể nộp hồ sơ cư trú, căn cước, xử lý vi phạm giao thông tại đây.",
    "contact": "Liên hệ: gọi 113 khi khẩn cấp, 114 khi cháy nổ, 115 khi cần cấp cứu. "
    "Bạn cũng có thể nhắn tin tố giác tại đây, thông tin được giữ bí mật tuyệt đối.",
}

OPT_OUT_KEYWORDS = ("huy", "hủy", "dừng nhận tin", "dung nhan tin")
OPT_IN_KEYWORDS = ("nhận tin", "nhan tin", "dang ky", "đăng ký")


def fold(text: str) -> str:
    """Lower-case, NFC-normalised, single-spaced: the form keywords are matched against."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def ack_new_tip(code: str) -> str:
    return (
        f"Công an đã tiếp nhận tin báo của bạn. Mã tin báo: {code}. "
        "Thông tin của bạn được giữ bí mật tuyệt đối. "
        "Bạn có thể nhắn thêm thông tin, hình ảnh vào cuộc trò chuyện này, "
        f"hoặc gửi mã tin báo để biết tình trạng xử lý. {EMERGENCY}"
    )


def ack_follow_up(code: str) -> str:
    return f"Đã nhận thêm thông tin cho tin báo {code}. Cảm ơn bạn. {EMERGENCY}"


def status_answer(code: str, status: str) -> str:
    label = STATUS_LABELS.get(status, "đang được xử lý")
    return f"Tin báo {code}: {label}. {EMERGENCY}"


def unknown_code(code: str) -> str:
    return f"Không tìm thấy tin báo có mã {code} trong cuộc trò chuyện này. {EMERGENCY}"


OPTED_OUT = "Bạn đã dừng nhận tin cảnh báo. Nhắn 'NHẬN TIN' để nhận lại bất cứ lúc nào."
OPTED_IN = "Bạn sẽ nhận được tin cảnh báo tội phạm, lừa đảo từ OA này."
# Zalo lets the OA write to a non-follower only within 7 days of their last message.
OPTED_IN_NOT_FOLLOWING = (
    "Bạn sẽ nhận được tin cảnh báo tội phạm, lừa đảo từ OA này trong 7 ngày sau mỗi lần bạn nhắn tin. "
    "Hãy quan tâm OA để luôn nhận được cảnh báo."
)
