"""Settings of the dossier service, read from ``DOSSIER_*`` environment variables."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ApplicantKeySettings, CalendarSettings, S3Bucket, ServiceSettings, StorageSettings

MIB = 1024 * 1024


class DossierSettings(ServiceSettings, ApplicantKeySettings, CalendarSettings, StorageSettings):
    """The kit's mixins are read with this prefix too: the working days of ``CalendarSettings``
    as ``DOSSIER_HOLIDAYS``, ``DOSSIER_HOLIDAYS_REPLACE`` and ``DOSSIER_WORKING_DAYS``, the file
    store of ``StorageSettings`` as ``DOSSIER_STORAGE``, ``DOSSIER_STORAGE_DIR``, ``DOSSIER_S3_*``."""

    model_config = SettingsConfigDict(env_prefix="DOSSIER_", extra="ignore")

    service_name: ClassVar[str] = "dossier"

    port: int = Field(default=8003, ge=0, le=65535)
    # One attachment at most 20 MiB; the body limit leaves room for the multipart framing.
    max_attachment_bytes: int = Field(default=20 * MIB, ge=1024)
    max_body_bytes: int = Field(default=21 * MIB, ge=1024)
    max_attachments_per_dossier: int = Field(default=20, ge=1, le=200)
    # Form data as JSON, bounded before it is validated against the service's schema.
    max_form_bytes: int = Field(default=256 * 1024, ge=1024)
    # Where attachments are kept (the kit's StorageSettings): dossier's own folder and bucket.
    storage_dir: Path = Path(".data/dossier-files")
    s3_bucket: S3Bucket = "dossier-files"
    # The system named in receipts' QR codes, and where a QR's lookup link points (default: the
    # public lookup behind the gateway, whose URL is the issuer's).
    source_system: str = Field(default="DVCQG", max_length=40)
    lookup_url: str | None = None
    # Drafts kept per account, and dossiers a page may list.
    max_drafts_per_owner: int = Field(default=50, ge=1)
    # Wrong public lookups allowed per dossier code (whatever the address) and per client address
    # (an IPv6 address's /64) in a window; beyond, 429 until the window ends (service.lookup).
    lookup_max_failures_per_code: int = Field(default=5, ge=1, le=1000)
    lookup_max_failures_per_address: int = Field(default=30, ge=1, le=100_000)
    lookup_window_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    @model_validator(mode="after")
    def _coherent(self) -> "DossierSettings":
        if self.max_body_bytes < self.max_attachment_bytes:
            raise ValueError("max_body_bytes must hold one whole attachment (max_attachment_bytes)")
        return self

    @property
    def public_lookup_url(self) -> str:
        return self.lookup_url or f"{self.oidc_issuer.rstrip('/')}/api/v1/dossier/lookup"
