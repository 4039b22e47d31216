"""Settings of the dossier service, read from ``DOSSIER_*`` environment variables."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class DossierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DOSSIER_", extra="ignore")

    service_name: ClassVar[str] = "dossier"

    port: int = Field(default=8003, ge=0, le=65535)
