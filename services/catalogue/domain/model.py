"""The catalogue's vocabulary: agency levels, implementing levels, online levels, statuses
and the bounds of a page. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AgencyLevel(StrEnum):
    """Where an agency sits in the hierarchy (held in data, so the 2025 reorganisation into
    34 provinces and no districts needs no code change)."""

    MINISTRY = "ministry"  # Bộ, cơ quan ngang bộ
    PROVINCE = "province"  # UBND tỉnh / thành phố
    DEPARTMENT = "department"  # Sở
    COMMUNE = "commune"  # UBND xã / phường


class ImplementingLevel(StrEnum):
    """The level of government that carries a procedure out (cấp thực hiện)."""

    CENTRAL = "central"
    PROVINCE = "province"
    COMMUNE = "commune"


class OnlineLevel(StrEnum):
    FULL = "full"  # dịch vụ công trực tuyến toàn trình
    PARTIAL = "partial"  # dịch vụ công trực tuyến một phần


class ProcedureStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class ServiceStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class SearchFilters:
    """What a search asks for: words (matched without diacritics) and exact filters."""

    q: str | None = None
    agency: str | None = None
    province: str | None = None
    sector: str | None = None
    level: str | None = None
    online_level: str | None = None
