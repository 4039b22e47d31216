"""What the dossier use-case tests share: a fake unit of work that knows one online service, the
callers, and the use cases' settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.dossier.domain.access import Caller
from services.dossier.domain.catalogue_view import OfferedFee, OfferedVersion, RequiredDocument, ServiceStatus
from services.dossier.domain.dossier import Applicant, Attachment
from services.dossier.service import intake
from services.kit.calendar import WorkingCalendar
from services.kit.ids import new_id
from tests.dossier.fakes import FakeDossierUnitOfWork

SERVICE_ID = "5f0c9a8e-0000-4000-8000-000000000001"
AGENCY = "000.00.01.H22"
OTHER_AGENCY = "000.00.02.H22"
LIMITS = intake.Limits(max_attachment_bytes=1_000_000, max_attachments=5, max_form_bytes=4096, max_drafts=2)
CALENDAR = WorkingCalendar(frozenset())
ISSUER = intake.Issuer("portal", "https://portal.test/tra-cuu", "applicant-key-secret-for-tests-0123456789")
FORM = {
    "type": "object",
    "required": ["ho_ten"],
    "properties": {"ho_ten": {"type": "string", "minLength": 1}},
    "additionalProperties": False,
}
FEES = (
    OfferedFee(code="LP01", name="Lệ phí cấp đổi", amount=135_000),
    OfferedFee(code="PH02", name="Phí chuyển phát", amount=25_000, condition="Bưu chính"),
)
DOCUMENTS = (
    RequiredDocument(code="TP01", name="Đơn đề nghị", required=True),
    RequiredDocument(code="TP02", name="Giấy khám sức khỏe", required=False),
)
APPLICANT = Applicant(kind="citizen", identifier="001099012345", name="Nguyễn Văn An")


def offered(version: int = 1, revision: int = 1, **changes: Any) -> OfferedVersion:
    values: dict[str, Any] = {
        "service_id": SERVICE_ID, "version": version, "service_status": ServiceStatus.PUBLISHED,
        "current_version": version, "online_level": "full",
        "procedure_code": "1.002804", "procedure_name": "Cấp đổi giấy phép lái xe", "results": ("Giấy phép lái xe",),
        "agency_code": AGENCY, "agency_name": "Sở Xây dựng", "form_schema": FORM, "fees": FEES,
        "documents": DOCUMENTS, "processing_days": 5, "routing_target": "one-stop.h22",
        "published_at": datetime(2025, 7, 1, tzinfo=UTC), "revision": revision, **changes,
    }  # fmt: skip
    return OfferedVersion(**values)


def world() -> FakeDossierUnitOfWork:
    uow = FakeDossierUnitOfWork()
    uow.offered.publish(offered())
    return uow


def citizen(subject: str = "citizen-a", applicant_key: str | None = None) -> Caller:
    claims = {"applicant_key": applicant_key} if applicant_key else {}
    return Caller.of(subject, {"dossier:submit", "dossier:read"}, claims)


def official(*agencies: str) -> Caller:
    return Caller.of("official-1", {"dossier:read", "dossier:process"}, {"agencies": list(agencies)})


def uploaded(uow: FakeDossierUnitOfWork, owner: str = "citizen-a") -> str:
    """An attachment the owner uploaded (not yet bound)."""
    attachment_id = new_id()
    uow.attachments.rows[attachment_id] = Attachment(
        id=attachment_id, owner=owner, filename="don.pdf", content_type="application/pdf", size=10, sha256="0" * 64,
        storage_key=new_id(),
    )  # fmt: skip
    return attachment_id


def submission(*attachments: tuple[str, str], **changes: Any) -> intake.Submission:
    values: dict[str, Any] = {
        "service_id": SERVICE_ID, "applicant": APPLICANT, "form": {"ho_ten": "Nguyễn Văn An"},
        "attachments": [intake.AttachmentRef(id=i, component_code=c) for i, c in attachments], **changes,
    }  # fmt: skip
    return intake.Submission(**values)


async def submit(uow: FakeDossierUnitOfWork, caller: Caller | None = None, *, key: str | None = None,
                 **changes: Any) -> tuple[intake.Receipt, bool]:  # fmt: skip
    """File a complete dossier (its required document uploaded first) and commit."""
    who = caller or citizen()
    async with uow:
        body = changes.pop("body", None) or submission((uploaded(uow, who.subject), "TP01"), **changes)
        answer = await intake.submit(uow, who, body, idempotency_key=key, limits=LIMITS, calendar=CALENDAR,
                                     issuer=ISSUER)  # fmt: skip
        await uow.commit()
    return answer
