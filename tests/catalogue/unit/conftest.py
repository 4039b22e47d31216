"""Use cases of the catalogue on the in-memory unit of work: no database, no server."""

from __future__ import annotations

from typing import Any

import pytest

from services.catalogue.domain.definitions import Editor, ProcedureInput, ServiceInput
from services.catalogue.domain.model import Agency, AgencyLevel
from tests.catalogue.fakes import FakeCatalogueUnitOfWork

ADMIN = Editor(actor="admin-1", scopes=frozenset({"catalogue:admin"}))
H22_TRANSPORT = "000.00.01.H22"
H29_TRANSPORT = "000.00.01.H29"
OFFICIAL_H22 = Editor(actor="official-1", scopes=frozenset({"catalogue:edit"}), agencies=frozenset({H22_TRANSPORT}))


def procedure_input(code: str = "1.002804", **changes: Any) -> ProcedureInput:
    values: dict[str, Any] = {
        "code": code, "name": "Cấp đổi giấy phép lái xe", "sector_code": "DB", "sector_name": "Đường bộ",
        "level": "province", "steps": ["Nộp hồ sơ", "Trả kết quả"], "processing_days": 5,
        "documents": [{"code": "TP01", "name": "Đơn đề nghị", "copies": 1}],
        "fees": [{"code": "LP01", "name": "Lệ phí", "amount": 135_000}],
        "legal_basis": ["Thông tư 35/2024/TT-BGTVT"], "results": ["Giấy phép lái xe"],
        "faq": [{"question": "Bao lâu?", "answer": "5 ngày."}],
    }  # fmt: skip
    return ProcedureInput.model_validate({**values, **changes})


FORM = {"type": "object", "properties": {"ho_ten": {"type": "string"}}, "required": ["ho_ten"]}


def service_input(agency: str = H22_TRANSPORT, procedure: str = "1.002804", **changes: Any) -> ServiceInput:
    values: dict[str, Any] = {
        "procedure_code": procedure, "agency_code": agency, "online_level": "full", "form_schema": FORM,
        "fees": [{"code": "LP01", "name": "Lệ phí", "amount": 135_000}], "processing_days": 5,
        "routing_target": f"motcua:{agency}",
    }  # fmt: skip
    return ServiceInput.model_validate({**values, **changes})


@pytest.fixture
def uow() -> FakeCatalogueUnitOfWork:
    """A fake catalogue holding two transport departments."""
    unit = FakeCatalogueUnitOfWork()
    for code, name, province in ((H22_TRANSPORT, "Sở Xây dựng tỉnh Quảng Ninh", "H22"),
                                 (H29_TRANSPORT, "Sở Xây dựng thành phố Hà Nội", "H29")):  # fmt: skip
        unit.state.agencies[code] = Agency(code, name, AgencyLevel.DEPARTMENT, None, province)
    return unit
