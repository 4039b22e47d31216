"""The feedback service's public answer search at national scale, next to the baseline measured
in the same run: its own embedded PostgreSQL (a fresh cluster each run), ``--answers`` published
answers (default 1,000,000) generated in SQL, the feedback API and the baseline each served by
one uvicorn process, and a mix of searches at 1 and 8 clients. Target: p95 ≤ 20 ms at 8 clients.

The answers are Vietnamese text built from word lists: a few words in nearly every answer
("hồ sơ", "quy định"), topic words in a share of them (the procedure's name), place names in a
few hundredths and rare terms ("homestay", "flycam") in a few hundred each; about 60 agencies,
2,000 procedures and 30 sectors, published over three years. Each list is kept with its words
folded (:func:`services.feedback.domain.text.fold`) and the SQL picks the same item from both,
so the ``words`` column is the fold of the text, as publishing writes it (checked on a sample).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from deploy.local.components import EmbeddedPostgres, free_port, stop_process
from deploy.local.stack import create_database, database_url
from services.feedback.domain.text import fold
from services.kit.migrations import upgrade

from . import report
from .run import measure, start_server

SEARCH = "/api/v1/feedback/answers"
TARGET_P95_MS = 20.0
TARGET_CLIENTS = 8
DATABASE = "bench_feedback"
DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]  # the package's alias of its default dialect

# --- word lists -----------------------------------------------------------------------------

PROVINCES = [
    "Hà Nội", "Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Thừa Thiên Huế", "Quảng Ninh", "Nghệ An",
    "Thanh Hóa", "Đồng Nai", "Bình Dương", "Khánh Hòa", "Lâm Đồng", "Đắk Lắk", "Gia Lai", "Bắc Ninh",
    "Hải Dương", "Nam Định", "Thái Bình", "Quảng Nam", "Bình Định", "Long An", "Tiền Giang", "Kiên Giang",
    "An Giang", "Cà Mau", "Lào Cai", "Điện Biên", "Sơn La", "Hà Giang",
]  # fmt: skip
OFFICES = ["Sở Tư pháp", "Sở Xây dựng", "Sở Tài nguyên và Môi trường", "Công an tỉnh", "Sở Y tế",
           "Sở Giáo dục và Đào tạo", "Sở Lao động, Thương binh và Xã hội", "Sở Kế hoạch và Đầu tư"]  # fmt: skip
AGENCIES = 60
ACTIONS = ["Cấp", "Cấp lại", "Cấp đổi", "Đăng ký", "Gia hạn", "Điều chỉnh", "Xác nhận", "Thu hồi"]
QUALIFIERS = ["", " cho cá nhân", " cho tổ chức", " có yếu tố nước ngoài", " tại cấp xã"]
# (object of a procedure, its sector's code and name): 50 objects over 30 sectors.
OBJECTS = [
    ("giấy phép xây dựng", "XD", "Xây dựng"), ("chứng chỉ hành nghề xây dựng", "XD", "Xây dựng"),
    ("giấy khai sinh", "HT", "Hộ tịch"), ("giấy chứng nhận kết hôn", "HT", "Hộ tịch"),
    ("trích lục hộ tịch", "HT", "Hộ tịch"), ("giấy xác nhận tình trạng hôn nhân", "HT", "Hộ tịch"),
    ("hộ chiếu phổ thông", "XNC", "Xuất nhập cảnh"), ("thị thực", "XNC", "Xuất nhập cảnh"),
    ("giấy phép lái xe", "DB", "Đường bộ"), ("đăng ký xe", "DB", "Đường bộ"),
    ("giấy chứng nhận quyền sử dụng đất", "DD", "Đất đai"), ("chuyển mục đích sử dụng đất", "DD", "Đất đai"),
    ("giấy phép kinh doanh", "KD", "Thành lập và hoạt động doanh nghiệp"),
    ("đăng ký hộ kinh doanh", "KD", "Thành lập và hoạt động doanh nghiệp"),
    ("thẻ bảo hiểm y tế", "BHXH", "Bảo hiểm xã hội"), ("sổ bảo hiểm xã hội", "BHXH", "Bảo hiểm xã hội"),
    ("trợ cấp thất nghiệp", "LD", "Lao động"), ("giấy phép lao động", "LD", "Lao động"),
    ("chứng chỉ hành nghề dược", "DUOC", "Dược"), ("giấy phép hoạt động khám chữa bệnh", "KCB", "Khám chữa bệnh"),
    ("mã số thuế cá nhân", "THUE", "Thuế"), ("hoàn thuế thu nhập cá nhân", "THUE", "Thuế"),
    ("lý lịch tư pháp", "LLTP", "Lý lịch tư pháp"), ("chứng thực bản sao", "CT", "Chứng thực"),
    ("giấy phép môi trường", "MT", "Môi trường"), ("giấy phép khai thác nước", "MT", "Môi trường"),
    ("giấy phép kinh doanh vận tải", "VT", "Vận tải"), ("đăng ký cư trú", "CTRU", "Cư trú"),
    ("căn cước công dân", "CC", "Căn cước"), ("văn bằng tốt nghiệp", "GD", "Giáo dục"),
    ("công nhận trường chuẩn quốc gia", "GD", "Giáo dục"), ("giấy phép biểu diễn nghệ thuật", "VH", "Văn hóa"),
    ("giấy phép karaoke", "VH", "Văn hóa"), ("chứng nhận an toàn thực phẩm", "ATTP", "An toàn thực phẩm"),
    ("giấy phép nhập khẩu", "XNK", "Xuất nhập khẩu"), ("chứng nhận xuất xứ hàng hóa", "XNK", "Xuất nhập khẩu"),
    ("trợ cấp người có công", "NCC", "Người có công"), ("trợ giúp xã hội", "BTXH", "Bảo trợ xã hội"),
    ("giấy phép quảng cáo", "VH", "Văn hóa"), ("giấy phép xuất bản", "VH", "Văn hóa"),
    ("tần số vô tuyến điện", "VT2", "Viễn thông"), ("giấy phép thành lập hội", "TCPCP", "Tổ chức phi chính phủ"),
    ("công nhận sáng kiến", "KHCN", "Khoa học và công nghệ"), ("đăng ký nhãn hiệu", "SHTT", "Sở hữu trí tuệ"),
    ("giấy phép khai thác khoáng sản", "MT", "Môi trường"), ("chứng nhận kiểm dịch động vật", "NN", "Nông nghiệp"),
    ("giấy phép vận chuyển thuốc bảo vệ thực vật", "NN", "Nông nghiệp"),
    ("đăng ký tàu cá", "TS", "Thủy sản"), ("công nhận làng nghề", "NN", "Nông nghiệp"),
    ("giấy phép đầu tư", "DT", "Đầu tư"),
]  # fmt: skip
OPENERS = ["Hỏi về thủ tục", "Đề nghị hướng dẫn thủ tục", "Phản ánh việc chậm giải quyết hồ sơ",
           "Kiến nghị về thời gian giải quyết thủ tục", "Hỏi về lệ phí", "Hỏi về giấy tờ cần nộp khi"]  # fmt: skip
# The citizen's text: the first sentences very often, the last ones seldom.
ASKING = [
    "Tôi đã nộp hồ sơ trực tuyến trên Cổng Dịch vụ công nhưng chưa nhận được kết quả.",
    "Xin hỏi hồ sơ cần những giấy tờ gì và nộp ở đâu?",
    "Thời hạn giải quyết theo quy định là bao nhiêu ngày làm việc?",
    "Cán bộ tiếp nhận yêu cầu bổ sung giấy tờ nhiều lần.",
    "Đề nghị cơ quan có thẩm quyền xem xét và trả lời.",
    "Tôi có phải nộp bản sao có chứng thực không?",
    "Lệ phí của thủ tục này là bao nhiêu và nộp bằng hình thức nào?",
    "Gia đình tôi ở nước ngoài, có thể ủy quyền cho người thân nộp hồ sơ không?",
    "Hệ thống báo lỗi khi tôi thanh toán trực tuyến.",
    "Tôi muốn biết tình trạng xử lý hồ sơ của mình.",
    "Kết quả trả qua dịch vụ bưu chính công ích có mất thêm phí không?",
    "Tôi bị mất giấy tờ gốc thì làm thế nào?",
    "Người cao tuổi có được ưu tiên khi làm thủ tục không?",
    "Đã quá hạn hẹn trả kết quả mà chưa có thông báo.",
    "Xin hướng dẫn cách kê khai biểu mẫu điện tử.",
    "Tôi là người khuyết tật, có được miễn lệ phí không?",
]
# The agency's answer: the same skew.
ANSWERING = [
    "Căn cứ quy định hiện hành, hồ sơ gồm đơn đề nghị theo mẫu và bản sao giấy tờ tùy thân.",
    "Thời hạn giải quyết là 15 ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ.",
    "Công dân có thể nộp hồ sơ trực tuyến toàn trình trên Cổng Dịch vụ công quốc gia.",
    "Cơ quan đã kiểm tra và hồ sơ của công dân đang được thẩm định.",
    "Đề nghị công dân liên hệ bộ phận một cửa để được hướng dẫn cụ thể.",
    "Lệ phí được nộp trực tuyến hoặc tại bộ phận tiếp nhận và trả kết quả.",
    "Việc ủy quyền thực hiện theo quy định của pháp luật về chứng thực.",
    "Cơ quan xin lỗi vì sự chậm trễ và đã chỉ đạo giải quyết dứt điểm.",
    "Người cao tuổi, người khuyết tật được ưu tiên tiếp nhận và miễn lệ phí theo quy định.",
    "Kết quả được trả qua dịch vụ bưu chính công ích theo yêu cầu của công dân.",
    "Trường hợp mất bản gốc, công dân đề nghị cấp bản sao từ sổ gốc.",
    "Lỗi thanh toán đã được khắc phục, đề nghị công dân thực hiện lại.",
]
REFERENCES = [f"Nghị định số {n}/{2015 + n % 10}/NĐ-CP" for n in range(1, 201)] + [
    f"Thông tư số {n}/{2016 + n % 9}/TT-BTC" for n in range(1, 101)
]
# Communes and wards: a name's words in a few hundredths of the answers, the pair rarer.
PLACES = [
    f"{kind} {name}"
    for kind in ("xã", "phường", "thị trấn")
    for name in ("Tân Phú", "Hòa Bình", "An Khánh", "Phước Long", "Vĩnh Hưng", "Thạnh Mỹ", "Đông Hòa", "Hưng Lợi",
                 "Bình Minh", "Quang Trung", "Nghĩa Đô", "Yên Hòa", "Thủy Xuân", "Cẩm Lệ", "Ea Tu", "Sa Pa")
]  # fmt: skip
# Rare terms: one answer in about 200 holds one of them, so each is in a few hundred of a million.
RARE = ["homestay", "flycam", "pin mặt trời", "xe điện", "nhà trọ", "cây xăng", "trang trại bò sữa", "tàu du lịch",
        "nghĩa trang", "chợ đêm", "đàn yến", "ao tôm", "xưởng gỗ", "lò gạch", "bến đò", "bể bơi", "sân golf",
        "phòng gym", "quán net", "tiệm vàng", "tiệm cầm đồ", "karaoke di động", "thuyền kayak", "xe cứu thương",
        "máy bay không người lái", "điện gió", "rừng ngập mặn", "cá tra", "hồ tiêu", "sầu riêng"]  # fmt: skip
CLOSING = "Trân trọng."


@dataclass(frozen=True)
class Vocabulary:
    """Each list's text and its folded words, item for item (the SQL's arrays)."""

    agency_codes: list[str]
    agency_names: list[str]
    procedure_codes: list[str]
    procedure_names: list[str]
    procedure_sectors: list[str]
    sector_codes: list[str]
    texts: dict[str, list[str]]  # list name -> items, with diacritics
    folded: dict[str, list[str]]  # list name -> the same items folded


def agency_code(i: int) -> str:
    return f"000.00.{i % 8 + 10:02d}.H{i // 8 + 10:02d}"


def procedure_code(i: int) -> str:
    return f"1.{i + 1000:06d}"


def vocabulary() -> Vocabulary:
    agencies = [(agency_code(i), f"{OFFICES[i % len(OFFICES)]} {PROVINCES[i // 2 % len(PROVINCES)]}")
                for i in range(AGENCIES)]  # fmt: skip
    procedures = [
        (f"{action} {obj}{qualifier}", sector)
        for qualifier in QUALIFIERS
        for obj, sector, _ in OBJECTS
        for action in ACTIONS
    ]
    sectors = sorted({sector for _, sector, _ in OBJECTS})
    openers = [f"{opener} {name[0].lower()}{name[1:]}" for opener in OPENERS for name, _ in procedures]
    texts = {"procedure": [name for name, _ in procedures], "title": openers, "asking": ASKING,
             "answering": ANSWERING, "reference": [f"Theo {r}." for r in REFERENCES],
             "place": [f"Tôi cư trú tại {p}." for p in PLACES],
             "rare": [f"Liên quan đến {r}." for r in RARE]}  # fmt: skip
    return Vocabulary(
        agency_codes=[code for code, _ in agencies], agency_names=[name for _, name in agencies],
        procedure_codes=[procedure_code(i) for i in range(len(procedures))],
        procedure_names=texts["procedure"], procedure_sectors=[sector for _, sector in procedures],
        sector_codes=sectors, texts=texts, folded={k: [fold(t) for t in v] for k, v in texts.items()},
    )  # fmt: skip


def published_words(title: str, content: str, answer: str, procedure_name: str | None) -> str:
    """The ``words`` publishing stores for an answer (``service.handling.publish``): its text folded."""
    return fold(" ".join(p for p in (title, content, answer, procedure_name or "") if p))


# Uniform in [0, 1) from a row number and a salt: the same data every run, and a fresh draw per
# row and purpose (random() in a LATERAL subquery may be drawn once for all rows).
UNIFORM = """
CREATE FUNCTION pg_temp.u(g bigint, salt int) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8(g * 97 + salt)::float8 + 2147483648) / 4294967296 $$
"""

# One statement per slice of rows. Skewed picks: floor(n * u^k) favours the first items (k > 1).
# Rows go in in the order they were published (over the last three years), as publishing appends
# them: the table's physical order is its time order, as in production.
# Titles follow the procedure: the opener of its list, then its name; 15% of answers concern no
# procedure (general feedback) and are titled with an opener of a random one.
GENERATE = """
WITH v AS (
    SELECT $3::text[] AS agency_codes, $4::text[] AS agency_names, $5::text[] AS procedure_codes,
           $6::text[] AS procedure_names, $7::text[] AS procedure_sectors,
           $8::text[] AS title, $9::text[] AS title_f, $10::text[] AS asking, $11::text[] AS asking_f,
           $12::text[] AS answering, $13::text[] AS answering_f, $14::text[] AS reference, $15::text[] AS reference_f,
           $16::text[] AS place, $17::text[] AS place_f, $18::text[] AS rare, $19::text[] AS rare_f,
           $20::text[] AS procedure_f
)
INSERT INTO published_answers (feedback_id, code, agency_code, agency_name, procedure_code, procedure_name,
                               sector_code, title, content, answer, answered_at, published_at, words)
SELECT md5('bench-feedback-' || g)::uuid, 'PAKN-' || lpad(g::text, 8, '0'),
       v.agency_codes[i.a], v.agency_names[i.a],
       CASE WHEN i.general THEN NULL ELSE v.procedure_codes[i.p] END,
       CASE WHEN i.general THEN NULL ELSE v.procedure_names[i.p] END,
       CASE WHEN i.general THEN NULL ELSE v.procedure_sectors[i.p] END,
       v.title[i.t], c.content, c.answer, i.published - interval '1 hour' * (1 + 72 * pg_temp.u(g, 9)), i.published,
       v.title_f[i.t] || ' ' || c.content_f || ' ' || c.answer_f
           || CASE WHEN i.general THEN '' ELSE ' ' || v.procedure_f[i.p] END
FROM generate_series($1::bigint, $2::bigint) g
CROSS JOIN v
CROSS JOIN LATERAL (
    SELECT 1 + floor(cardinality(v.agency_codes) * power(pg_temp.u(g, 1), 1.6))::int AS a,
           1 + floor(cardinality(v.procedure_codes) * power(pg_temp.u(g, 2), 2.5))::int AS p,
           pg_temp.u(g, 3) < 0.15 AS general,
           1 + floor(cardinality(v.asking) * power(pg_temp.u(g, 4), 2))::int AS s1,
           1 + floor(cardinality(v.asking) * pg_temp.u(g, 5))::int AS s2,
           1 + floor(cardinality(v.answering) * power(pg_temp.u(g, 6), 2))::int AS r1,
           1 + floor(cardinality(v.answering) * pg_temp.u(g, 7))::int AS r2,
           1 + floor(cardinality(v.reference) * pg_temp.u(g, 8))::int AS ref,
           1 + floor(cardinality(v.place) * pg_temp.u(g, 10))::int AS pl,
           pg_temp.u(g, 11) < 0.3 AS placed,
           1 + floor(cardinality(v.rare) * pg_temp.u(g, 12))::int AS rr,
           pg_temp.u(g, 13) < 0.005 AS rarely,
           now() - interval '3 years' * (1 - (g - pg_temp.u(g, 14)) / $24::float8) AS published,
           1 + floor(cardinality(v.procedure_codes) * pg_temp.u(g, 15))::int AS any_p
) i0
CROSS JOIN LATERAL (
    SELECT i0.*, (CASE WHEN i0.general THEN i0.any_p ELSE i0.p END - 1) % $21::int
                 + $21::int * floor(6 * pg_temp.u(g, 16))::int + 1 AS t
) i
CROSS JOIN LATERAL (
    SELECT v.asking[i.s1] || ' ' || v.asking[i.s2] || CASE WHEN i.placed THEN ' ' || v.place[i.pl] ELSE '' END
               || CASE WHEN i.rarely THEN ' ' || v.rare[i.rr] ELSE '' END AS content,
           v.asking_f[i.s1] || ' ' || v.asking_f[i.s2] || CASE WHEN i.placed THEN ' ' || v.place_f[i.pl] ELSE '' END
               || CASE WHEN i.rarely THEN ' ' || v.rare_f[i.rr] ELSE '' END AS content_f,
           v.answering[i.r1] || ' ' || v.answering[i.r2] || ' ' || v.reference[i.ref] || ' ' || $22::text AS answer,
           v.answering_f[i.r1] || ' ' || v.answering_f[i.r2] || ' ' || v.reference_f[i.ref] || ' ' || $23::text
               AS answer_f
) c
"""
SLICE = 250_000


async def generate(url: str, answers: int) -> dict[str, Any]:
    """``answers`` published answers, then ANALYZE; the seconds each took and a check that the
    words are the fold of the text, as publishing writes them."""
    from services.feedback.adapters.tables import published_answers

    words = vocabulary()
    t, f = words.texts, words.folded
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute(UNIFORM)
        # The indexes are built once the rows are in (as a restore does), the same ones.
        indexes = [i for i in published_answers.indexes]
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index.name}"')
        for start in range(1, answers + 1, SLICE):
            await conn.execute(
                GENERATE, start, min(answers, start + SLICE - 1), words.agency_codes, words.agency_names,
                words.procedure_codes, words.procedure_names, words.procedure_sectors, t["title"], f["title"],
                t["asking"], f["asking"], t["answering"], f["answering"], t["reference"], f["reference"],
                t["place"], f["place"], t["rare"], f["rare"], f["procedure"], len(words.procedure_codes), CLOSING,
                fold(CLOSING), answers,
            )  # fmt: skip
        inserted = time.perf_counter() - started
        for index in indexes:
            await conn.execute(str(CreateIndex(index).compile(dialect=DIALECT)))
        indexed = time.perf_counter() - started - inserted
        # What publishing keeps one answer at a time, counted at once (as migration 0003 does).
        await conn.execute("INSERT INTO answer_words (word, answers) "
                           "SELECT word, ndoc FROM ts_stat('SELECT search FROM published_answers')")  # fmt: skip
        await conn.execute("VACUUM ANALYZE published_answers, answer_words")
        sample = await conn.fetch(
            "SELECT title, content, answer, procedure_name, words FROM published_answers TABLESAMPLE SYSTEM (1) "
            "LIMIT 2000"
        )
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('published_answers'))")
    finally:
        await conn.close()
    wrong = [
        r for r in sample if published_words(r["title"], r["content"], r["answer"], r["procedure_name"]) != r["words"]
    ]
    if wrong:
        raise RuntimeError(f"{len(wrong)} of {len(sample)} sampled answers have words that are not their text folded")
    return {"inserted": inserted, "indexed": indexed, "total": time.perf_counter() - started,
            "checked": len(sample), "size": size}  # fmt: skip


# --- the query mix --------------------------------------------------------------------------

# (kind, parameters); "page2" items are sent with the cursor of their first page.
QUERIES: list[tuple[str, dict[str, str]]] = [
    ("common words", {"q": "ho so"}),
    ("common words", {"q": "giay phep xay dung"}),
    ("common words", {"q": "dang ky khai sinh"}),
    ("common words", {"q": "le phi nop truc tuyen"}),
    ("rare words", {"q": "homestay"}),
    ("rare words", {"q": "pin mat troi"}),
    ("rare words", {"q": "may bay khong nguoi lai"}),
    ("rare words", {"q": "phuong nghia do"}),
    ("words + agency", {"q": "giay phep", "agency": agency_code(3)}),
    ("words + agency", {"q": "ho chieu", "agency": agency_code(45)}),
    ("words + agency", {"q": "flycam", "agency": agency_code(0)}),
    ("procedure", {"procedure": procedure_code(0)}),
    ("procedure", {"procedure": procedure_code(1500)}),
    ("procedure", {"q": "cham giai quyet", "procedure": procedure_code(8)}),
    ("sector + period", {"sector": "XD", "from": "2025-01-01", "to": "2025-03-31"}),
    ("sector + period", {"sector": "DUOC", "from": "2024-06-01", "to": "2024-06-30"}),
    ("sector + period", {"q": "le phi", "sector": "HT", "from": "2025-10-01", "to": "2025-10-31"}),
    ("no words", {}),
    ("no words", {"agency": agency_code(10)}),
    ("page 2", {"q": "ho so"}),
    ("page 2", {"q": "giay khai sinh"}),
    ("page 2", {}),
    ("diacritics", {"q": "Giấy phép xây dựng"}),
    ("diacritics", {"q": "Đăng ký kết hôn"}),
    ("diacritics", {"q": "Hộ chiếu phổ thông"}),
]


def request_plan(queries: list[tuple[str, dict[str, str]]], next_of: Any) -> list[tuple[str, str]]:
    """The load's requests: each query's path; a page-2 query gets its first page's cursor from
    ``next_of(path)`` and is left out when the first page was the last."""
    plan = []
    for kind, params in queries:
        path = f"{SEARCH}?{urlencode(params)}" if params else SEARCH
        if kind == "page 2":
            cursor = next_of(path)
            if cursor is None:
                continue
            path = f"{SEARCH}?{urlencode({**params, 'cursor': cursor})}"
        plan.append((kind, path))
    return plan


def verdict(result: report.Report, target: str, clients: int = TARGET_CLIENTS) -> str:
    """Whether ``target``'s p95 at ``clients`` is within the target, with the baseline's figure."""
    phase = next((p for p in result.phases if p.target == target and p.concurrency == clients), None)
    if phase is None:
        return f"not measured at {clients} clients"
    base = result.baseline_for(phase)
    ok = phase.overall.p95_ms <= TARGET_P95_MS and phase.overall.errors == 0
    versus = ""
    if base is not None:
        versus = (f"; baseline p95 {base.overall.p95_ms} ms, {base.overall.throughput_rps:.0f} req/s (ratio p95 "
                  f"{report.ratio(phase.overall.p95_ms, base.overall.p95_ms)}, req/s "
                  f"{report.ratio(phase.overall.throughput_rps, base.overall.throughput_rps)})")  # fmt: skip
    return (f"p95 {phase.overall.p95_ms} ms {'≤' if ok else '>'} {TARGET_P95_MS:g} ms at {clients} clients "
            f"{'✔' if ok else '✘'} (p50 {phase.overall.p50_ms}, p99 {phase.overall.p99_ms}, "
            f"{phase.overall.throughput_rps:.0f} req/s, {phase.overall.errors} errors){versus}")  # fmt: skip


# --- the run --------------------------------------------------------------------------------


def run_feedback(options: argparse.Namespace) -> report.Report:
    workdir = options.out / "feedback"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh cluster every run
    workdir.mkdir(parents=True)
    started = time.monotonic()
    postgres = EmbeddedPostgres(workdir / "postgres", free_port(), fast=True)
    servers: list[subprocess.Popen[bytes]] = []
    result = report.Report(f"Feedback: public answer search among {options.answers:,} published answers", {})
    try:
        postgres.start()
        assert postgres.proc is not None
        url = database_url(postgres.url(), DATABASE)
        asyncio.run(create_database(postgres.url(), DATABASE))
        from services.feedback.app import SERVICE

        upgrade(SERVICE.migrations, url)
        print(f"generating {options.answers:,} published answers ...", flush=True)
        made = asyncio.run(generate(url.replace("+asyncpg", ""), options.answers))
        print(f"  {made}", flush=True)
        result.setup.update({
            "data": f"{options.answers:,} published answers ({made['size']} with indexes), {AGENCIES} agencies, "
            f"{len(vocabulary().procedure_codes):,} procedures, {len(vocabulary().sector_codes)} sectors, published "
            f"over 3 years; generated in SQL in {made['inserted']:.0f} s, indexed in {made['indexed']:.0f} s; "
            f"words checked to be the text folded on {made['checked']} sampled answers",
            "machine": f"{os.cpu_count()} CPUs shared with other work; PostgreSQL 18 embedded (fsync off), server "
            "and load on loopback",
            "servers": "uvicorn, one process each; the feedback API with its production middleware and logging",
            "baseline": "bare FastAPI endpoint, one `SELECT 1` through an asyncpg pool, served the same way",
            "load": f"closed loop, {options.seconds:.0f} s per phase after 2 s warm-up, at most "
            f"{options.max_requests} requests; the {len(QUERIES)} searches of the mix in turn",
        })  # fmt: skip
        log = workdir / "servers.log"
        concurrencies = sorted({*(int(c) for c in options.concurrency.split(",")), TARGET_CLIENTS})
        port = free_port()
        server = start_server(["-m", "bench.baseline", "--port", str(port), "--workers", "1"],
                              {"BENCH_DATABASE_URL": url}, port, log)  # fmt: skip
        servers.append(server)
        for c in concurrencies:
            result.phases.append(measure("baseline, 1 worker", f"http://127.0.0.1:{port}", [("baseline", "/baseline")],
                                         [server.pid], postgres.proc.pid, c, options))  # fmt: skip
        stop_process(server)
        port = free_port()
        # Search is public: the token settings are never used, the broker never reached by the API.
        env = {"FEEDBACK_DATABASE_URL": url, "FEEDBACK_PORT": str(port), "FEEDBACK_HOST": "127.0.0.1",
               "PORTAL_ENVIRONMENT": "development", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}  # fmt: skip
        server = start_server(["-m", "services.feedback", "api", "--workers", "1"], env, port, log)
        servers.append(server)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=60) as client:

            def next_of(path: str) -> str | None:
                answer = client.get(path)
                answer.raise_for_status()
                return answer.json()["next"]  # type: ignore[no-any-return]

            plan = request_plan(QUERIES, next_of)
        for c in concurrencies:
            result.phases.append(measure("feedback search, 1 worker", base, plan, [server.pid], postgres.proc.pid, c,
                                         options))  # fmt: skip
        stop_process(server)
    finally:
        for server in servers:
            stop_process(server)
        postgres.destroy()
    result.setup["target"] = verdict(result, "feedback search, 1 worker")
    result.setup["total run"] = f"{time.monotonic() - started:.0f} s"
    return result
