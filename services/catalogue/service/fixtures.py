"""Development fixtures of the catalogue: agencies across the 34 provincial units (each with
its people's committee and five departments, a few communes), the sectors, the procedures
named in the domain guide, their FAQ and the online services several agencies offer.
Idempotent (written through the editors' use cases: unchanged procedures publish nothing, an
existing online service keeps its later versions); refused in production.

Codes follow the observed shapes (agency ``000.00.01.H22``, procedure ``1.001234``); the
pairing of a code with a given province is illustrative, not the official register.
"""

from __future__ import annotations

from typing import TypedDict

from contracts.json import JsonSchema
from services.kit.db import Database
from services.kit.errors import Forbidden
from services.kit.settings import Environment, ServiceSettings

from ..domain.definitions import Editor, FeeInput, ProcedureInput, ServiceInput, service_id
from ..domain.model import Agency, AgencyLevel, OnlineLevel
from . import editor
from .unit_of_work import CatalogueUnitOfWork

__all__ = ["OFFERS", "PROCEDURES", "seed", "service_id"]

MINISTRIES = [
    ("000.00.00.G01", "Bộ Công an"),
    ("000.00.00.G02", "Bộ Xây dựng"),  # absorbed Bộ Giao thông vận tải in 2025
    ("000.00.00.G03", "Bộ Tư pháp"),
    ("000.00.00.G04", "Bộ Công Thương"),
    ("000.00.00.G05", "Bảo hiểm xã hội Việt Nam"),
    ("000.00.00.G06", "Bộ Tài chính"),
]

# province code -> name of the 34 provincial units since 2025-07-01 (6 cities, 28 provinces)
PROVINCES = {
    "H22": "Tỉnh Quảng Ninh",
    "H29": "Thành phố Hà Nội",
    "H79": "Thành phố Hồ Chí Minh",
    "H48": "Thành phố Đà Nẵng",
    "H46": "Thành phố Huế",
    "H92": "Thành phố Cần Thơ",
    "H31": "Thành phố Hải Phòng",
    "H04": "Tỉnh Cao Bằng",
    "H08": "Tỉnh Tuyên Quang",
    "H10": "Tỉnh Lào Cai",
    "H11": "Tỉnh Điện Biên",
    "H12": "Tỉnh Lai Châu",
    "H14": "Tỉnh Sơn La",
    "H19": "Tỉnh Thái Nguyên",
    "H20": "Tỉnh Lạng Sơn",
    "H25": "Tỉnh Phú Thọ",
    "H27": "Tỉnh Bắc Ninh",
    "H33": "Tỉnh Hưng Yên",
    "H37": "Tỉnh Ninh Bình",
    "H38": "Tỉnh Thanh Hóa",
    "H40": "Tỉnh Nghệ An",
    "H42": "Tỉnh Hà Tĩnh",
    "H45": "Tỉnh Quảng Trị",
    "H51": "Tỉnh Quảng Ngãi",
    "H56": "Tỉnh Khánh Hòa",
    "H64": "Tỉnh Gia Lai",
    "H66": "Tỉnh Đắk Lắk",
    "H68": "Tỉnh Lâm Đồng",
    "H72": "Tỉnh Tây Ninh",
    "H75": "Tỉnh Đồng Nai",
    "H86": "Tỉnh Vĩnh Long",
    "H87": "Tỉnh Đồng Tháp",
    "H89": "Tỉnh An Giang",
    "H96": "Tỉnh Cà Mau",
}

# department number -> name; every province above has these Sở
DEPARTMENTS = {
    "01": "Sở Xây dựng",
    "02": "Sở Tư pháp",
    "03": "Sở Tài chính",
    "04": "Sở Công Thương",
    "05": "Công an",
}

COMMUNES = [
    ("000.01.01.H22", "UBND phường Hạ Long", "H22"),
    ("000.01.02.H22", "UBND xã Đầm Hà", "H22"),
    ("000.01.01.H29", "UBND phường Hoàn Kiếm", "H29"),
    ("000.01.02.H29", "UBND phường Đống Đa", "H29"),
    ("000.01.01.H79", "UBND phường Sài Gòn", "H79"),
    ("000.01.01.H48", "UBND phường Hải Châu", "H48"),
]

SECTORS = [
    ("DB", "Đường bộ"),
    ("TM", "Xúc tiến thương mại"),
    ("BHYT", "Bảo hiểm y tế"),
    ("DL", "Điện lực"),
    ("XNK", "Xuất nhập khẩu"),
    ("DKKD", "Thành lập và hoạt động doanh nghiệp"),
    ("HT", "Hộ tịch"),
    ("LLTP", "Lý lịch tư pháp"),
    ("XD", "Hoạt động xây dựng"),
    ("DD", "Đất đai"),
]


# The fixtures are written as an editor's JSON would be, then read by the input models.


class FeeJson(TypedDict):
    code: str
    name: str
    amount: int
    currency: str
    condition: str | None


class DocumentJson(TypedDict):
    code: str
    name: str
    copies: int
    required: bool
    template: str | None


class ProcedureJson(TypedDict):
    """A procedure as an editor writes it, its form and its questions and answers besides."""

    code: str
    name: str
    sector_code: str
    level: str
    processing_days: int
    fees: list[FeeJson]
    documents: list[DocumentJson]
    legal_basis: list[str]
    results: list[str]
    form: JsonSchema
    faq: list[tuple[str, str]]


def _fee(code: str, name: str, amount: int, condition: str | None = None) -> FeeJson:
    return {"code": code, "name": name, "amount": amount, "currency": "VND", "condition": condition}


def _doc(code: str, name: str, copies: int = 1, template: str | None = None, required: bool = True) -> DocumentJson:
    return {"code": code, "name": name, "copies": copies, "required": required, "template": template}


def _form(title: str, properties: JsonSchema, required: list[str]) -> JsonSchema:
    base = {
        "ho_ten": {"type": "string", "title": "Họ và tên", "minLength": 1, "maxLength": 100},
        "so_dinh_danh": {"type": "string", "title": "Số định danh cá nhân", "pattern": "^[0-9]{12}$"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "properties": {**base, **properties},
        "required": ["ho_ten", "so_dinh_danh", *required],
    }


STEPS = [
    "Nộp hồ sơ trực tuyến trên Cổng Dịch vụ công quốc gia",
    "Cơ quan tiếp nhận kiểm tra, tiếp nhận hồ sơ",
    "Giải quyết hồ sơ và trả kết quả",
]

# code, name, sector, level, days, fees, documents, legal basis, results, form, faq
PROCEDURES: list[ProcedureJson] = [
    {
        "code": "1.002804",
        "name": "Cấp đổi giấy phép lái xe",
        "sector_code": "DB",
        "level": "province",
        "processing_days": 5,
        "fees": [
            _fee("LP01", "Lệ phí cấp đổi giấy phép lái xe", 135_000),
            _fee("LP02", "Lệ phí nộp trực tuyến", 115_000, "Nộp hồ sơ trực tuyến"),
        ],
        "documents": [
            _doc("TP01", "Đơn đề nghị đổi giấy phép lái xe", 1, "Mẫu số 01"),
            _doc("TP02", "Giấy khám sức khỏe của người lái xe"),
        ],
        "legal_basis": ["Luật Trật tự, an toàn giao thông đường bộ 2024", "Thông tư 35/2024/TT-BGTVT"],
        "results": ["Giấy phép lái xe"],
        "form": _form(
            "Đơn đề nghị đổi giấy phép lái xe",
            {"so_gplx": {"type": "string", "title": "Số giấy phép lái xe", "pattern": "^[0-9]{12}$"}},
            ["so_gplx"],
        ),
        "faq": [
            ("Giấy phép lái xe hết hạn có được đổi trực tuyến không?", "Được, nếu đã có giấy khám sức khỏe điện tử.")
        ],
    },
    {
        "code": "1.002796",
        "name": "Cấp giấy phép lái xe quốc tế",
        "sector_code": "DB",
        "level": "province",
        "processing_days": 5,
        "fees": [_fee("LP01", "Lệ phí cấp giấy phép lái xe quốc tế", 135_000)],
        "documents": [
            _doc("TP01", "Tờ khai đề nghị cấp giấy phép lái xe quốc tế", 1, "Mẫu số 02"),
            _doc("TP02", "Ảnh 4x6"),
        ],
        "legal_basis": ["Thông tư 35/2024/TT-BGTVT"],
        "results": ["Giấy phép lái xe quốc tế (IDP)"],
        "form": _form(
            "Tờ khai cấp giấy phép lái xe quốc tế",
            {"so_gplx": {"type": "string", "title": "Số giấy phép lái xe", "pattern": "^[0-9]{12}$"}},
            ["so_gplx"],
        ),
        "faq": [
            (
                "Giấy phép lái xe quốc tế có thời hạn bao lâu?",
                "Không quá 03 năm và không vượt quá thời hạn của giấy phép lái xe quốc gia.",
            )
        ],
    },
    {
        "code": "2.000033",
        "name": "Đăng ký thực hiện khuyến mại",
        "sector_code": "TM",
        "level": "province",
        "processing_days": 5,
        "fees": [],
        "documents": [_doc("TP01", "Văn bản đăng ký thực hiện khuyến mại", 1, "Mẫu số 02 Nghị định 81/2018/NĐ-CP")],
        "legal_basis": ["Luật Thương mại 2005", "Nghị định 81/2018/NĐ-CP"],
        "results": ["Văn bản xác nhận đăng ký thực hiện khuyến mại"],
        "form": _form(
            "Đăng ký thực hiện khuyến mại",
            {
                "ten_chuong_trinh": {"type": "string", "title": "Tên chương trình khuyến mại", "maxLength": 200},
                "tong_gia_tri": {"type": "integer", "title": "Tổng giá trị giải thưởng (VND)", "minimum": 0},
            },
            ["ten_chuong_trinh", "tong_gia_tri"],
        ),
        "faq": [],
    },
    {
        "code": "1.000286",
        "name": "Cấp lại thẻ bảo hiểm y tế do bị mất, hỏng",
        "sector_code": "BHYT",
        "level": "central",
        "processing_days": 7,
        "fees": [],
        "documents": [
            _doc("TP01", "Tờ khai tham gia, điều chỉnh thông tin bảo hiểm xã hội, bảo hiểm y tế", 1, "TK1-TS")
        ],
        "legal_basis": ["Luật Bảo hiểm y tế", "Quyết định 595/QĐ-BHXH"],
        "results": ["Thẻ bảo hiểm y tế"],
        "form": _form(
            "Cấp lại thẻ bảo hiểm y tế", {"ma_so_bhxh": {"type": "string", "pattern": "^[0-9]{10}$"}}, ["ma_so_bhxh"]
        ),
        "faq": [("Cấp lại thẻ có mất phí không?", "Không mất phí.")],
    },
    {
        "code": "1.008417",
        "name": "Cấp điện mới từ lưới điện hạ áp",
        "sector_code": "DL",
        "level": "province",
        "processing_days": 4,
        "fees": [],
        "documents": [
            _doc("TP01", "Giấy đề nghị mua điện", 1, "Phụ lục 1"),
            _doc("TP02", "Giấy tờ xác định địa điểm mua điện"),
        ],
        "legal_basis": ["Luật Điện lực 2024", "Thông tư 25/2016/TT-BCT"],
        "results": ["Hợp đồng mua bán điện", "Công tơ điện được lắp đặt"],
        "form": _form(
            "Giấy đề nghị mua điện", {"dia_chi_dung_dien": {"type": "string", "maxLength": 300}}, ["dia_chi_dung_dien"]
        ),
        "faq": [],
    },
    {
        "code": "2.000196",
        "name": "Cấp Giấy chứng nhận xuất xứ hàng hóa (C/O) ưu đãi",
        "sector_code": "XNK",
        "level": "central",
        "processing_days": 1,
        "fees": [],
        "documents": [
            _doc("TP01", "Đơn đề nghị cấp C/O", 1, "Mẫu Phụ lục 01"),
            _doc("TP02", "Tờ khai hải quan xuất khẩu"),
        ],
        "legal_basis": ["Nghị định 31/2018/NĐ-CP", "Thông tư 05/2018/TT-BCT"],
        "results": ["Giấy chứng nhận xuất xứ hàng hóa"],
        "form": _form("Đơn đề nghị cấp C/O", {"so_to_khai": {"type": "string", "maxLength": 20}}, ["so_to_khai"]),
        "faq": [],
    },
    {
        "code": "2.001610",
        "name": "Đăng ký thành lập công ty trách nhiệm hữu hạn một thành viên",
        "sector_code": "DKKD",
        "level": "province",
        "processing_days": 3,
        "fees": [
            _fee("LP01", "Lệ phí đăng ký doanh nghiệp", 50_000),
            _fee("LP02", "Lệ phí đăng ký doanh nghiệp", 0, "Đăng ký qua mạng"),
        ],
        "documents": [
            _doc("TP01", "Giấy đề nghị đăng ký doanh nghiệp", 1, "Phụ lục I-2"),
            _doc("TP02", "Điều lệ công ty"),
        ],
        "legal_basis": ["Luật Doanh nghiệp 2020", "Nghị định 168/2025/NĐ-CP"],
        "results": ["Giấy chứng nhận đăng ký doanh nghiệp"],
        "form": _form(
            "Giấy đề nghị đăng ký doanh nghiệp",
            {
                "ten_doanh_nghiep": {"type": "string", "maxLength": 200},
                "von_dieu_le": {"type": "integer", "minimum": 0},
            },
            ["ten_doanh_nghiep", "von_dieu_le"],
        ),
        "faq": [("Đăng ký qua mạng có mất lệ phí không?", "Được miễn lệ phí khi đăng ký qua mạng.")],
    },
    {
        "code": "1.001193",
        "name": "Đăng ký khai sinh",
        "sector_code": "HT",
        "level": "commune",
        "processing_days": 1,
        "fees": [
            _fee("LP01", "Lệ phí đăng ký khai sinh", 0, "Đăng ký đúng hạn"),
            _fee("LP02", "Lệ phí đăng ký khai sinh quá hạn", 5_000, "Quá hạn 60 ngày"),
        ],
        "documents": [_doc("TP01", "Tờ khai đăng ký khai sinh", 1, "Mẫu TT 04/2020"), _doc("TP02", "Giấy chứng sinh")],
        "legal_basis": ["Luật Hộ tịch 2014", "Nghị định 123/2015/NĐ-CP"],
        "results": ["Giấy khai sinh (bản chính)"],
        "form": _form(
            "Tờ khai đăng ký khai sinh",
            {"ho_ten_tre": {"type": "string", "maxLength": 100}, "ngay_sinh": {"type": "string", "format": "date"}},
            ["ho_ten_tre", "ngay_sinh"],
        ),
        "faq": [("Thời hạn đăng ký khai sinh là bao lâu?", "Trong 60 ngày kể từ ngày sinh con.")],
    },
    {
        "code": "1.004873",
        "name": "Cấp Giấy xác nhận tình trạng hôn nhân",
        "sector_code": "HT",
        "level": "commune",
        "processing_days": 3,
        "fees": [_fee("LP01", "Lệ phí cấp giấy xác nhận tình trạng hôn nhân", 15_000)],
        "documents": [_doc("TP01", "Tờ khai cấp Giấy xác nhận tình trạng hôn nhân", 1, "Mẫu TT 04/2020")],
        "legal_basis": ["Luật Hộ tịch 2014"],
        "results": ["Giấy xác nhận tình trạng hôn nhân"],
        "form": _form("Xác nhận tình trạng hôn nhân", {"muc_dich": {"type": "string", "maxLength": 200}}, ["muc_dich"]),
        "faq": [],
    },
    {
        "code": "2.000488",
        "name": "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
        "sector_code": "LLTP",
        "level": "province",
        "processing_days": 10,
        "fees": [
            _fee("LP01", "Phí cung cấp thông tin lý lịch tư pháp", 200_000),
            _fee("LP02", "Phí cung cấp thông tin lý lịch tư pháp", 100_000, "Sinh viên, người có công"),
        ],
        "documents": [_doc("TP01", "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp", 1, "Mẫu số 03/2013/TT-LLTP")],
        "legal_basis": ["Luật Lý lịch tư pháp 2009"],
        "results": ["Phiếu lý lịch tư pháp số 1 hoặc số 2"],
        "form": _form(
            "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp",
            {"loai_phieu": {"type": "integer", "enum": [1, 2]}},
            ["loai_phieu"],
        ),
        "faq": [
            (
                "Phiếu lý lịch tư pháp số 2 khác số 1 thế nào?",
                "Phiếu số 2 ghi đầy đủ các án tích, kể cả án tích đã được xóa.",
            )
        ],
    },
    {
        "code": "1.009974",
        "name": "Cấp giấy phép xây dựng đối với công trình nhà ở riêng lẻ",
        "sector_code": "XD",
        "level": "commune",
        "processing_days": 15,
        "fees": [_fee("LP01", "Lệ phí cấp giấy phép xây dựng nhà ở riêng lẻ", 75_000)],
        "documents": [
            _doc("TP01", "Đơn đề nghị cấp giấy phép xây dựng", 1, "Mẫu số 01 Phụ lục II"),
            _doc("TP02", "Bản vẽ thiết kế", 2),
        ],
        "legal_basis": ["Luật Xây dựng 2014, sửa đổi 2020", "Nghị định 175/2024/NĐ-CP"],
        "results": ["Giấy phép xây dựng"],
        "form": _form(
            "Đơn đề nghị cấp giấy phép xây dựng",
            {"dien_tich_san": {"type": "number", "exclusiveMinimum": 0}, "so_tang": {"type": "integer", "minimum": 1}},
            ["dien_tich_san", "so_tang"],
        ),
        "faq": [],
    },
    {
        "code": "1.005398",
        "name": "Xác định và nộp nghĩa vụ tài chính về đất đai",
        "sector_code": "DD",
        "level": "province",
        "processing_days": 5,
        "fees": [],
        "documents": [
            _doc("TP01", "Tờ khai tiền sử dụng đất", 1, "Mẫu 01/TSDĐ"),
            _doc("TP02", "Tờ khai lệ phí trước bạ nhà, đất"),
        ],
        "legal_basis": ["Luật Đất đai 2024", "Nghị định 103/2024/NĐ-CP"],
        "results": ["Thông báo nộp tiền", "Chứng từ nộp ngân sách nhà nước"],
        "form": _form("Tờ khai nghĩa vụ tài chính về đất đai", {"so_thua": {"type": "string"}}, ["so_thua"]),
        "faq": [],
    },
]

# procedure code -> (agency codes offering it online, online level)
OFFERS: dict[str, tuple[list[str], str]] = {
    "1.002804": (["000.00.01.H22", "000.00.01.H29", "000.00.01.H79", "000.00.01.H48", "000.00.05.H46"], "full"),
    "1.002796": (["000.00.01.H22", "000.00.01.H29", "000.00.01.H79"], "full"),
    "2.000033": (["000.00.04.H22", "000.00.04.H29", "000.00.04.H92"], "full"),
    "1.000286": (["000.00.00.G05"], "full"),
    "1.008417": (["000.00.04.H22", "000.00.04.H48"], "partial"),
    "2.000196": (["000.00.00.G04"], "full"),
    "2.001610": (["000.00.03.H22", "000.00.03.H29", "000.00.03.H79"], "full"),
    "1.001193": (["000.01.01.H22", "000.01.02.H22", "000.01.01.H29", "000.01.02.H29", "000.01.01.H79"], "full"),
    "1.004873": (["000.01.01.H22", "000.01.01.H29", "000.01.01.H48"], "full"),
    "2.000488": (["000.00.02.H22", "000.00.02.H29", "000.00.02.H79", "000.00.00.G03"], "full"),
    "1.009974": (["000.01.01.H22", "000.01.01.H29", "000.01.01.H79"], "partial"),
    "1.005398": (["000.00.03.H22", "000.00.03.H29"], "partial"),
}


def agency_rows() -> list[Agency]:
    rows = [Agency(c, n, AgencyLevel.MINISTRY) for c, n in MINISTRIES]
    for province, name in PROVINCES.items():
        top = f"000.00.00.{province}"
        rows.append(Agency(top, f"UBND {name}", AgencyLevel.PROVINCE, None, province))
        for number, department in DEPARTMENTS.items():
            short = name.removeprefix("Tỉnh ").removeprefix("Thành phố ")
            label = f"{department} {'tỉnh' if name.startswith('Tỉnh') else 'thành phố'} {short}"
            rows.append(Agency(f"000.00.{number}.{province}", label, AgencyLevel.DEPARTMENT, top, province))
    for code, name, province in COMMUNES:
        rows.append(Agency(code, name, AgencyLevel.COMMUNE, f"000.00.00.{province}", province))
    return rows


FIXTURES_EDITOR = Editor(actor="fixtures", scopes=frozenset({"catalogue:admin"}))


def procedure_inputs() -> list[ProcedureInput]:
    sector_names = dict(SECTORS)
    inputs = []
    for p in PROCEDURES:
        fields = {k: v for k, v in p.items() if k != "form"}
        faq = [{"question": q, "answer": a} for q, a in p["faq"]]
        inputs.append(
            ProcedureInput.model_validate(
                {**fields, "steps": STEPS, "sector_name": sector_names[p["sector_code"]], "faq": faq}
            )
        )
    return inputs


def service_inputs() -> list[ServiceInput]:
    by_code = {p["code"]: p for p in PROCEDURES}
    return [
        ServiceInput(
            procedure_code=code,
            agency_code=agency,
            online_level=OnlineLevel(online_level),
            form_schema=by_code[code]["form"],
            fees=[FeeInput.model_validate(fee) for fee in by_code[code]["fees"]],
            processing_days=by_code[code]["processing_days"],
            routing_target=f"motcua:{agency}",
        )
        for code, (agency_codes, online_level) in OFFERS.items()
        for agency in agency_codes
    ]


async def seed_catalogue(uow: CatalogueUnitOfWork) -> None:
    """Load the fixtures through the editors' own use cases, so they are audited and published
    as events like any change. Services that exist are left as they are (they may have later
    versions)."""
    await uow.agencies.save_all(agency_rows())
    for procedure in procedure_inputs():
        await editor.upsert_procedure(uow, FIXTURES_EDITOR, procedure)
    for service in service_inputs():
        await editor.put_service(uow, FIXTURES_EDITOR, service, keep_existing=True)


async def seed(db: Database, settings: ServiceSettings) -> None:
    if settings.environment == Environment.PRODUCTION:
        raise Forbidden("Development fixtures are refused in production.")
    async with db.transaction() as uow:
        assert isinstance(uow, CatalogueUnitOfWork), "the catalogue's database makes catalogue units"
        await seed_catalogue(uow)
