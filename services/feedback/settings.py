"""Settings of the feedback service, read from ``FEEDBACK_*`` environment variables."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.settings import CalendarSettings, S3Bucket, ServiceSettings, StorageSettings

MIB = 1024 * 1024


class FeedbackSettings(ServiceSettings, CalendarSettings, StorageSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_", extra="ignore")

    service_name: ClassVar[str] = "feedback"

    port: int = Field(default=8006, ge=0, le=65535)
    # The office that receives feedback no agency is named for, classifies it and transfers it
    # (on the national portal, the Government Office).
    receiving_agency: str = Field(default="000.00.00.G22", min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.]+$")
    # Time limits in working days (docs/feedback.md: where they come from).
    classify_days: int = Field(default=5, ge=1, le=30)
    answer_days: int = Field(default=20, ge=1, le=90)
    # Feedback one account may send a day (Vietnam time), and files one piece may carry.
    max_per_account_per_day: int = Field(default=5, ge=1, le=1000)
    max_attachments: int = Field(default=5, ge=0, le=20)
    # One file's bytes, a request's (a file and its form), and the files an account may upload a day.
    max_attachment_bytes: int = Field(default=10 * MIB, ge=1024)
    max_body_bytes: int = Field(default=11 * MIB, ge=1024)
    max_uploads_per_account_per_day: int = Field(default=30, ge=1, le=10_000)
    # Where the files are kept (the kit's StorageSettings): this service's own folder and bucket.
    storage_dir: Path = Path(".data/feedback-files")
    s3_bucket: S3Bucket = "feedback-files"
    # How often the worker flags feedback past its deadlines.
    overdue_every_seconds: float = Field(default=300.0, ge=1.0, le=86_400)
    # Development and tests only: the clock moved by the seconds written in this file.
    dev_clock_offset_file: Path | None = None

    @model_validator(mode="after")
    def _one_file_fits(self) -> "FeedbackSettings":
        if self.max_body_bytes < self.max_attachment_bytes:
            raise ValueError("max_body_bytes must hold one whole attachment (max_attachment_bytes)")
        return self
