"""Settings of the feedback service, read from ``FEEDBACK_*`` environment variables."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import CalendarSettings, ServiceSettings


class FeedbackSettings(ServiceSettings, CalendarSettings):
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
    # How often the worker flags feedback past its deadlines.
    overdue_every_seconds: float = Field(default=300.0, ge=1.0, le=86_400)
    # Development and tests only: the clock moved by the seconds written in this file.
    dev_clock_offset_file: Path | None = None
