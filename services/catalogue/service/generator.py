"""A catalogue at national scale, made up but shaped like the real one, for benchmarks: the 34
provincial units with their departments and communes, sectors, thousands of procedures with
Vietnamese names of varied vocabulary (so searches have realistic selectivity) and published
online services with versions. Deterministic for a seed; refused in production.

Everything is written with COPY in one transaction (100,000 services in seconds), then the
search documents are rebuilt. The rows are additive: procedure codes are in the 1.1xxxxx and
2.1xxxxx ranges the development fixtures do not use, agencies and sectors that already exist
are kept, and service ids are derived from the seed, so running twice with one seed adds
nothing the second time.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.kit.errors import Forbidden
from services.kit.settings import Environment, ServiceSettings

from ..domain.model import FormSchema
from .unit_of_work import BulkCatalogue, CatalogueUnitOfWork

NAMESPACE = uuid.UUID("0b8a3f0e-3c1d-4d57-a7a4-1f7d2a9e6b55")
FIRST_PUBLISHED = datetime(2024, 1, 1, tzinfo=UTC)

# The 34 provincial units since 2025-07-01: code -> (kind, name). Codes are illustrative.
PROVINCES: dict[str, tuple[str, str]] = {
    "H29": ("Thành phố", "Hà Nội"), "H46": ("Thành phố", "Huế"), "H31": ("Thành phố", "Hải Phòng"),
    "H48": ("Thành phố", "Đà Nẵng"), "H79": ("Thành phố", "Hồ Chí Minh"), "H92": ("Thành phố", "Cần Thơ"),
    "H12": ("Tỉnh", "Lai Châu"), "H11": ("Tỉnh", "Điện Biên"), "H14": ("Tỉnh", "Sơn La"),
    "H20": ("Tỉnh", "Lạng Sơn"), "H22": ("Tỉnh", "Quảng Ninh"), "H38": ("Tỉnh", "Thanh Hóa"),
    "H40": ("Tỉnh", "Nghệ An"), "H42": ("Tỉnh", "Hà Tĩnh"), "H04": ("Tỉnh", "Cao Bằng"),
    "H08": ("Tỉnh", "Tuyên Quang"), "H10": ("Tỉnh", "Lào Cai"), "H19": ("Tỉnh", "Thái Nguyên"),
    "H25": ("Tỉnh", "Phú Thọ"), "H27": ("Tỉnh", "Bắc Ninh"), "H33": ("Tỉnh", "Hưng Yên"),
    "H37": ("Tỉnh", "Ninh Bình"), "H45": ("Tỉnh", "Quảng Trị"), "H51": ("Tỉnh", "Quảng Ngãi"),
    "H64": ("Tỉnh", "Gia Lai"), "H56": ("Tỉnh", "Khánh Hòa"), "H68": ("Tỉnh", "Lâm Đồng"),
    "H66": ("Tỉnh", "Đắk Lắk"), "H75": ("Tỉnh", "Đồng Nai"), "H72": ("Tỉnh", "Tây Ninh"),
    "H86": ("Tỉnh", "Vĩnh Long"), "H87": ("Tỉnh", "Đồng Tháp"), "H96": ("Tỉnh", "Cà Mau"),
    "H89": ("Tỉnh", "An Giang"),
}  # fmt: skip

MINISTRIES = [
    ("000.00.00.G01", "Bộ Công an"), ("000.00.00.G02", "Bộ Xây dựng"), ("000.00.00.G03", "Bộ Tư pháp"),
    ("000.00.00.G04", "Bộ Công Thương"), ("000.00.00.G05", "Bảo hiểm xã hội Việt Nam"),
    ("000.00.00.G06", "Bộ Tài chính"), ("000.00.00.G07", "Bộ Y tế"), ("000.00.00.G08", "Bộ Giáo dục và Đào tạo"),
    ("000.00.00.G09", "Bộ Nông nghiệp và Môi trường"), ("000.00.00.G10", "Bộ Nội vụ"),
    ("000.00.00.G11", "Bộ Văn hóa, Thể thao và Du lịch"), ("000.00.00.G12", "Bộ Khoa học và Công nghệ"),
    ("000.00.00.G13", "Bộ Ngoại giao"), ("000.00.00.G14", "Ngân hàng Nhà nước Việt Nam"),
]  # fmt: skip

# department number -> name (every province has them); sectors name the one they belong to.
DEPARTMENTS = {
    "01": "Sở Xây dựng", "02": "Sở Tư pháp", "03": "Sở Tài chính", "04": "Sở Công Thương", "05": "Công an",
    "06": "Sở Y tế", "07": "Sở Giáo dục và Đào tạo", "08": "Sở Nông nghiệp và Môi trường", "09": "Sở Nội vụ",
    "10": "Sở Văn hóa, Thể thao và Du lịch", "11": "Sở Khoa học và Công nghệ", "12": "Bảo hiểm xã hội",
}  # fmt: skip

# sector code -> (name, department number, ministry, objects of its procedures)
SECTORS: dict[str, tuple[str, str, str, list[str]]] = {
    "DB": ("Đường bộ", "01", "G02", [
        "giấy phép lái xe", "giấy phép lái xe quốc tế", "giấy phép kinh doanh vận tải bằng xe ô tô",
        "phù hiệu xe ô tô kinh doanh vận tải", "giấy chứng nhận đăng ký xe máy chuyên dùng",
        "giấy phép vận tải đường bộ quốc tế", "biển hiệu xe ô tô vận chuyển khách du lịch",
        "giấy phép thi công công trình đường bộ", "giấy phép lưu hành xe quá tải trọng",
        "chứng chỉ sát hạch viên", "giấy phép xe tập lái", "giấy phép đào tạo lái xe ô tô"]),
    "DK": ("Đăng kiểm", "01", "G02", [
        "giấy chứng nhận kiểm định an toàn kỹ thuật xe cơ giới", "tem kiểm định phương tiện",
        "giấy chứng nhận cơ sở bảo hành, bảo dưỡng xe", "giấy chứng nhận chất lượng xe cải tạo"]),
    "XD": ("Hoạt động xây dựng", "01", "G02", [
        "giấy phép xây dựng", "giấy phép xây dựng có thời hạn", "chứng chỉ hành nghề hoạt động xây dựng",
        "chứng chỉ năng lực hoạt động xây dựng", "giấy phép di dời công trình",
        "giấy phép sửa chữa, cải tạo công trình",
        "thẩm định báo cáo nghiên cứu khả thi đầu tư xây dựng",
        "thẩm định thiết kế xây dựng triển khai sau thiết kế cơ sở",
        "văn bản chấp thuận kết quả nghiệm thu công trình"]),
    "NO": ("Nhà ở", "01", "G02", [
        "giấy chứng nhận quyền sở hữu nhà ở", "chính sách hỗ trợ nhà ở xã hội", "hợp đồng thuê nhà ở công vụ",
        "văn bản thông báo nhà ở hình thành trong tương lai đủ điều kiện được bán"]),
    "HT": ("Hộ tịch", "02", "G03", [
        "khai sinh", "khai tử", "kết hôn", "nhận cha, mẹ, con", "giám hộ", "thay đổi, cải chính hộ tịch",
        "xác định lại dân tộc", "giấy xác nhận tình trạng hôn nhân", "trích lục hộ tịch",
        "khai sinh có yếu tố nước ngoài",
        "kết hôn có yếu tố nước ngoài", "chấm dứt giám hộ", "ly hôn ở nước ngoài"]),
    "CT": ("Chứng thực", "02", "G03", [
        "bản sao từ bản chính", "chữ ký trong các giấy tờ, văn bản", "hợp đồng, giao dịch liên quan đến tài sản",
        "văn bản thỏa thuận phân chia di sản", "di chúc", "chữ ký người dịch"]),
    "LLTP": ("Lý lịch tư pháp", "02", "G03", [
        "phiếu lý lịch tư pháp cho công dân Việt Nam", "phiếu lý lịch tư pháp cho người nước ngoài",
        "phiếu lý lịch tư pháp cho cơ quan nhà nước, tổ chức chính trị"]),
    "CC": ("Công chứng", "02", "G03", [
        "văn phòng công chứng", "thẻ công chứng viên", "hợp đồng mua bán nhà ở", "bản dịch giấy tờ"]),
    "DKKD": ("Thành lập và hoạt động doanh nghiệp", "03", "G06", [
        "thành lập công ty trách nhiệm hữu hạn một thành viên",
        "thành lập công ty trách nhiệm hữu hạn hai thành viên trở lên",
        "thành lập công ty cổ phần", "thành lập doanh nghiệp tư nhân", "thành lập công ty hợp danh",
        "chi nhánh, văn phòng đại diện", "địa điểm kinh doanh", "giải thể doanh nghiệp",
        "tạm ngừng kinh doanh", "thay đổi người đại diện theo pháp luật", "thay đổi vốn điều lệ",
        "chuyển đổi loại hình doanh nghiệp", "hộ kinh doanh", "hợp tác xã", "liên hiệp hợp tác xã"]),
    "DT": ("Đầu tư", "03", "G06", [
        "giấy chứng nhận đăng ký đầu tư", "chủ trương đầu tư dự án", "dự án đầu tư theo hình thức đối tác công tư",
        "hợp đồng hợp tác kinh doanh", "văn phòng điều hành của nhà đầu tư nước ngoài"]),
    "THUE": ("Thuế", "03", "G06", [
        "mã số thuế", "hoàn thuế giá trị gia tăng", "quyết toán thuế thu nhập cá nhân", "lệ phí trước bạ nhà, đất",
        "hóa đơn điện tử", "tiền thuê đất, thuê mặt nước", "miễn, giảm tiền sử dụng đất"]),
    "TM": ("Xúc tiến thương mại", "04", "G04", [
        "khuyến mại", "hội chợ, triển lãm thương mại", "chương trình khuyến mại mang tính may rủi",
        "giấy phép kinh doanh bán lẻ", "văn phòng đại diện của thương nhân nước ngoài"]),
    "DL": ("Điện lực", "04", "G04", [
        "điện mới từ lưới điện hạ áp", "điện mới từ lưới điện trung áp", "giấy phép hoạt động điện lực",
        "thẻ an toàn điện", "chứng nhận huấn luyện kỹ thuật an toàn điện"]),
    "XNK": ("Xuất nhập khẩu", "04", "G04", [
        "giấy chứng nhận xuất xứ hàng hóa (C/O) ưu đãi", "giấy chứng nhận xuất xứ hàng hóa không ưu đãi",
        "giấy phép nhập khẩu tự động", "giấy phép tạm nhập, tái xuất", "mã số thương nhân xuất khẩu gạo"]),
    "HC": ("Hóa chất", "04", "G04", [
        "giấy chứng nhận đủ điều kiện sản xuất hóa chất", "giấy phép kinh doanh tiền chất công nghiệp",
        "phiếu kiểm soát mua, bán hóa chất độc", "giấy chứng nhận huấn luyện an toàn hóa chất"]),
    "ATTP": ("An toàn thực phẩm", "06", "G07", [
        "giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "bản công bố sản phẩm thực phẩm",
        "giấy xác nhận nội dung quảng cáo thực phẩm", "giấy chứng nhận sức khỏe của chủ cơ sở"]),
    "DUOC": ("Dược phẩm", "06", "G07", [
        "chứng chỉ hành nghề dược", "giấy chứng nhận đủ điều kiện kinh doanh dược", "giấy đăng ký lưu hành thuốc",
        "giấy phép nhập khẩu thuốc", "giấy xác nhận nội dung thông tin thuốc"]),
    "KCB": ("Khám bệnh, chữa bệnh", "06", "G07", [
        "giấy phép hành nghề khám bệnh, chữa bệnh", "giấy phép hoạt động phòng khám đa khoa",
        "giấy phép hoạt động phòng khám chuyên khoa", "giấy khám sức khỏe của người lái xe",
        "giấy chứng nhận bệnh viện đạt tiêu chuẩn chất lượng"]),
    "BHYT": ("Bảo hiểm y tế", "12", "G05", [
        "thẻ bảo hiểm y tế", "thẻ bảo hiểm y tế do bị mất, hỏng",
        "thanh toán trực tiếp chi phí khám chữa bệnh bảo hiểm y tế",
        "mức hưởng bảo hiểm y tế"]),
    "BHXH": ("Bảo hiểm xã hội", "12", "G05", [
        "sổ bảo hiểm xã hội", "chế độ thai sản", "chế độ ốm đau", "lương hưu", "trợ cấp bảo hiểm xã hội một lần",
        "chế độ tử tuất", "bảo hiểm thất nghiệp", "bảo hiểm xã hội tự nguyện"]),
    "GDDT": ("Giáo dục và đào tạo", "07", "G08", [
        "bằng tốt nghiệp trung học phổ thông", "bản sao văn bằng, chứng chỉ", "trường mầm non tư thục",
        "trường trung học phổ thông", "trung tâm ngoại ngữ, tin học", "giấy phép dạy thêm, học thêm",
        "học bổng chính sách", "miễn, giảm học phí", "chuyển trường đối với học sinh trung học cơ sở",
        "công nhận văn bằng do cơ sở nước ngoài cấp"]),
    "DD": ("Đất đai", "08", "G09", [
        "giấy chứng nhận quyền sử dụng đất", "quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
        "chuyển mục đích sử dụng đất", "giao đất, cho thuê đất", "tách thửa, hợp thửa đất", "thu hồi đất",
        "nghĩa vụ tài chính về đất đai", "biến động đất đai", "đính chính giấy chứng nhận đã cấp"]),
    "MT": ("Môi trường", "08", "G09", [
        "giấy phép môi trường", "báo cáo đánh giá tác động môi trường", "giấy phép xả thải vào nguồn nước",
        "chủ nguồn thải chất thải nguy hại", "giấy phép khai thác nước dưới đất", "giấy phép khai thác khoáng sản"]),
    "NN": ("Nông nghiệp", "08", "G09", [
        "giấy chứng nhận cơ sở đủ điều kiện buôn bán thuốc bảo vệ thực vật", "giấy chứng nhận kiểm dịch động vật",
        "giấy phép khai thác thủy sản", "giấy chứng nhận an toàn dịch bệnh động vật", "mã số vùng trồng",
        "giấy chứng nhận đăng ký tàu cá", "chứng chỉ hành nghề thú y", "phân bón"]),
    "NV": ("Công chức, viên chức", "09", "G10", [
        "tuyển dụng công chức", "nâng ngạch công chức", "thăng hạng viên chức", "thi đua, khen thưởng",
        "tổ chức tôn giáo", "hội, quỹ xã hội", "chế độ người có công với cách mạng", "trợ cấp xã hội hằng tháng"]),
    "LD": ("Lao động, việc làm", "09", "G10", [
        "giấy phép lao động cho người nước ngoài", "trợ cấp thất nghiệp", "giấy phép hoạt động dịch vụ việc làm",
        "nội quy lao động", "thang lương, bảng lương", "giấy phép cho thuê lại lao động"]),
    "VH": ("Văn hóa", "10", "G11", [
        "giấy phép tổ chức biểu diễn nghệ thuật", "giấy phép kinh doanh karaoke", "giấy phép quảng cáo",
        "di tích lịch sử - văn hóa", "giấy phép tổ chức lễ hội", "giấy phép kinh doanh dịch vụ lữ hành",
        "thẻ hướng dẫn viên du lịch", "cơ sở lưu trú du lịch"]),
    "KHCN": ("Khoa học và công nghệ", "11", "G12", [
        "giấy chứng nhận doanh nghiệp khoa học và công nghệ", "bằng độc quyền sáng chế", "nhãn hiệu",
        "giấy phép tiến hành công việc bức xạ", "chứng chỉ nhân viên bức xạ", "chuyển giao công nghệ",
        "giấy phép thiết lập mạng viễn thông", "giấy phép cung cấp dịch vụ viễn thông", "chữ ký số công cộng"]),
    "XNC": ("Xuất nhập cảnh", "05", "G01", [
        "hộ chiếu phổ thông", "thị thực cho người nước ngoài", "thẻ tạm trú cho người nước ngoài",
        "giấy thông hành", "thẻ thường trú"]),
    "CTR": ("Đăng ký, quản lý cư trú", "05", "G01", [
        "thường trú", "tạm trú", "lưu trú", "xóa đăng ký thường trú", "xác nhận thông tin về cư trú",
        "tách hộ"]),
    "CCCD": ("Căn cước", "05", "G01", [
        "thẻ căn cước", "giấy chứng nhận căn cước", "tài khoản định danh điện tử", "xác nhận số chứng minh nhân dân"]),
    "PCCC": ("Phòng cháy, chữa cháy", "05", "G01", [
        "thiết kế về phòng cháy và chữa cháy", "kết quả nghiệm thu về phòng cháy và chữa cháy",
        "giấy chứng nhận huấn luyện nghiệp vụ phòng cháy",
        "giấy chứng nhận đủ điều kiện kinh doanh dịch vụ phòng cháy"]),
    "ANTT": ("An ninh trật tự", "05", "G01", [
        "giấy chứng nhận đủ điều kiện về an ninh, trật tự", "giấy phép sử dụng vũ khí thô sơ",
        "con dấu", "đăng ký xe mô tô, xe gắn máy", "đăng ký xe ô tô", "biển số xe"]),
    "NH": ("Ngân hàng", "03", "G14", [
        "giấy phép hoạt động ngoại hối", "khoản vay nước ngoài", "giấy phép hoạt động của quỹ tín dụng nhân dân"]),
    "NG": ("Lãnh sự", "02", "G13", [
        "hợp pháp hóa lãnh sự", "chứng nhận lãnh sự", "quốc tịch Việt Nam", "thôi quốc tịch Việt Nam"]),
}  # fmt: skip

# What is done with the object (the verb of the name); a sector draws from all of them.
ACTIONS = [
    "Cấp", "Cấp lại", "Cấp đổi", "Cấp mới", "Gia hạn", "Điều chỉnh", "Thu hồi", "Đăng ký", "Đăng ký lại",
    "Đăng ký thay đổi", "Xác nhận", "Thẩm định", "Phê duyệt", "Công nhận", "Chấp thuận", "Giải quyết",
    "Cho phép", "Thông báo", "Công bố", "Chứng thực", "Hủy bỏ", "Sửa đổi, bổ sung", "Đề nghị", "Tạm dừng",
    "Chuyển nhượng", "Khai báo", "Kiểm tra", "Xét duyệt", "Miễn", "Giảm", "Hỗ trợ", "Đính chính",
]  # fmt: skip

QUALIFIERS = [
    "", "", "", "", "đối với doanh nghiệp", "đối với cá nhân", "cho người nước ngoài", "do bị mất, hỏng",
    "trong trường hợp thay đổi thông tin", "tại cấp tỉnh", "tại cấp xã", "trên môi trường điện tử",
    "đối với hộ gia đình", "cho tổ chức", "có yếu tố nước ngoài", "do hết hạn sử dụng", "lần đầu",
    "theo thủ tục rút gọn", "cho người dưới 14 tuổi", "đối với khu công nghiệp", "trong khu kinh tế",
    "cho hợp tác xã", "đối với công trình nhà ở riêng lẻ", "tại vùng biên giới", "cho người có công",
]  # fmt: skip

# Syllables of made-up commune names (the register has some 3,300 communes and wards).
PLACE_SYLLABLES = [
    "An", "Bình", "Hòa", "Phú", "Tân", "Long", "Thạnh", "Đông", "Tây", "Nam", "Bắc", "Trung", "Hưng", "Thành",
    "Vĩnh", "Phước", "Mỹ", "Lộc", "Hải", "Sơn", "Lâm", "Quang", "Minh", "Định", "Xuân", "Thái", "Cẩm", "Ngọc",
    "Hương", "Kim", "Đức", "Thuận", "Lợi", "Khánh", "Yên", "Hà", "Giang", "Châu", "Điền", "Lạc", "Mai",
]  # fmt: skip

LEVELS = ["central", "province", "commune"]


@dataclass(frozen=True)
class Plan:
    procedures: int = 7_000
    services: int = 100_000
    seed: int = 1
    communes_per_province: int = 100


@dataclass
class Generated:
    """What was made: counts, and the published services (id, agency) for later generators."""

    agencies: int = 0
    sectors: int = 0
    procedures: int = 0
    services: int = 0
    versions: int = 0
    service_ids: list[str] = field(default_factory=list)


# --- rows (pure) ----------------------------------------------------------------------------


def province_agencies(plan: Plan, rng: random.Random) -> tuple[list[tuple[Any, ...]], dict[str, list[str]]]:
    """(code, name, level, parent_code, province_code) rows, and the commune codes by province."""
    rows: list[tuple[Any, ...]] = [(code, name, "ministry", None, None) for code, name in MINISTRIES]
    communes: dict[str, list[str]] = {}
    for province, (kind, name) in PROVINCES.items():
        top = f"000.00.00.{province}"
        rows.append((top, f"UBND {kind} {name}", "province", None, province))
        for number, department in DEPARTMENTS.items():
            rows.append(
                (f"000.00.{number}.{province}", f"{department} {kind.lower()} {name}", "department", top, province)
            )
        names: set[str] = set()
        while len(names) < plan.communes_per_province:
            names.add(" ".join(rng.sample(PLACE_SYLLABLES, 2)))
        communes[province] = []
        for index, place in enumerate(sorted(names), start=1):
            code = f"000.{index // 100 + 1:02d}.{index % 100:02d}.{province}"
            kind_of = "phường" if kind == "Thành phố" and index % 3 else "xã"
            rows.append((code, f"UBND {kind_of} {place}", "commune", top, province))
            communes[province].append(code)
    return rows, communes


def procedure_rows(plan: Plan, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(code, name, sector_code, level) of distinct procedures: action + object + qualifier."""
    names: dict[str, tuple[str, str]] = {}
    sectors = list(SECTORS)
    attempts = 0
    while len(names) < plan.procedures:
        attempts += 1
        if attempts > plan.procedures * 50:
            raise ValueError("the vocabulary cannot make that many distinct procedure names")
        sector = rng.choice(sectors)
        obj = rng.choice(SECTORS[sector][3])
        qualifier = rng.choice(QUALIFIERS)
        name = " ".join(part for part in (rng.choice(ACTIONS), obj, qualifier) if part)
        if name not in names:
            names[name] = (sector, rng.choices(LEVELS, weights=(2, 5, 3))[0])
    rows = []
    for index, (name, (sector, level)) in enumerate(names.items()):
        code = f"{1 + index % 2}.{100_000 + index:06d}"
        rows.append((code, name, sector, level))
    return rows


def offers(
    plan: Plan, rng: random.Random, procs: Sequence[tuple[str, str, str, str]], communes: dict[str, list[str]]
) -> list[tuple[str, str]]:
    """(procedure code, agency code) of distinct online services: a few procedures are offered
    everywhere (a skewed popularity), most by a handful of agencies of their level."""
    provinces = list(PROVINCES)
    all_communes = [c for province in provinces for c in communes[province]]
    # Zipf-like popularity over a shuffled order, so popular procedures are in every sector.
    order = list(range(len(procs)))
    rng.shuffle(order)
    weights = [0.0] * len(procs)
    for rank, index in enumerate(order, start=1):
        weights[index] = 1.0 / rank**0.7
    chosen: set[tuple[str, str]] = set()
    result: list[tuple[str, str]] = []
    picks = rng.choices(range(len(procs)), weights=weights, k=plan.services * 3)
    for index in picks:
        if len(result) == plan.services:
            break
        code, _name, sector, level = procs[index]
        if level == "central":
            agency = f"000.00.00.{SECTORS[sector][2]}" if rng.random() < 0.5 else None
            if agency is None:  # central procedures are often handled by provincial branches
                agency = f"000.00.{SECTORS[sector][1]}.{rng.choice(provinces)}"
        elif level == "province":
            agency = f"000.00.{SECTORS[sector][1]}.{rng.choice(provinces)}"
        else:
            agency = rng.choice(all_communes)
        if (code, agency) not in chosen:
            chosen.add((code, agency))
            result.append((code, agency))
    return result


def form_schema(name: str) -> FormSchema:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ho_ten": {"type": "string", "title": "Họ và tên", "minLength": 1, "maxLength": 100},
            "so_dinh_danh": {"type": "string", "title": "Số định danh cá nhân", "pattern": "^[0-9]{12}$"},
            "noi_dung": {"type": "string", "title": "Nội dung đề nghị", "maxLength": 2000},
        },
        "required": ["ho_ten", "so_dinh_danh"],
    }


# --- writing --------------------------------------------------------------------------------


async def generate_catalogue(uow: CatalogueUnitOfWork, plan: Plan) -> Generated:
    """Write a generated catalogue in the unit of work's transaction and rebuild search."""
    rng = random.Random(plan.seed)  # noqa: S311 - reproducible test data, not secrets
    agency_rows, communes = province_agencies(plan, rng)
    procs = procedure_rows(plan, rng)
    pairs = offers(plan, rng, procs, communes)
    names = {code: name for code, name, _s, _l in procs}
    # JSON travels as text: the same few documents serialised once.
    steps = json.dumps(["Nộp hồ sơ trực tuyến", "Tiếp nhận và kiểm tra hồ sơ", "Giải quyết và trả kết quả"])
    documents = json.dumps([{"code": "TP01", "name": "Đơn đề nghị", "copies": 1, "required": True,
                             "template": "Mẫu số 01"}])  # fmt: skip
    legal = json.dumps(["Nghị định 118/2025/NĐ-CP"])
    results = json.dumps(["Văn bản giải quyết thủ tục hành chính"])
    no_fees = json.dumps([])
    fee = json.dumps([{"code": "LP01", "name": "Lệ phí", "amount": 50_000, "currency": "VND", "condition": None}])
    procedures = [
        (code, name, sector, level, steps, documents, 1 + rng.randrange(20), fee if rng.random() < 0.4 else no_fees,
         legal, results, "active") for code, name, sector, level in procs
    ]  # fmt: skip
    services, versions, ids = [], [], []
    for number, (code, agency) in enumerate(pairs):
        sid = str(uuid.uuid5(NAMESPACE, f"{plan.seed}:{number}"))
        latest = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
        ids.append(sid)
        services.append((sid, code, agency, "published", latest))
        schema = json.dumps(form_schema(names[code]), ensure_ascii=False)
        level = "full" if rng.random() < 0.7 else "partial"
        for version in range(1, latest + 1):
            at = FIRST_PUBLISHED + timedelta(days=rng.randrange(500) + 90 * version)
            versions.append((sid, version, level, schema, no_fees, 1 + rng.randrange(15), f"motcua:{agency}", at))
    sectors = [(code, s[0]) for code, s in SECTORS.items()]
    await uow.bulk.load(BulkCatalogue(agency_rows, sectors, procedures, services, versions))
    return Generated(len(agency_rows), len(SECTORS), len(procs), len(services), len(versions), ids)


def refuse_in_production(settings: ServiceSettings) -> None:
    if settings.environment == Environment.PRODUCTION:
        raise Forbidden("Generated catalogues are refused in production.")


async def generate(uow: CatalogueUnitOfWork, settings: ServiceSettings, plan: Plan) -> Generated:
    """The use case: a generated catalogue, never in production."""
    refuse_in_production(settings)
    return await generate_catalogue(uow, plan)
