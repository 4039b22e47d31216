"""Settings of the catalogue service, read from ``CATALOGUE_*`` environment variables."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class CatalogueSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOGUE_", extra="ignore")

    service_name: ClassVar[str] = "catalogue"

    port: int = Field(default=8002, ge=0, le=65535)
    # Bulk imports are the largest bodies the catalogue takes (at most 2,000 rows each).
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
