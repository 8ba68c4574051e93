"""The one place settings come from: the environment, with the GOVREPORT_ prefix."""

from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.core import DEFAULT_MAX_BYTES
from worker.logging import mask_secrets

EMBEDDED_DATABASE = "sqlite:///var/govreport.db"


class Settings(BaseSettings):
    """Every setting of govreport; `govreport config` prints the effective values."""

    model_config = SettingsConfigDict(env_prefix="GOVREPORT_", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr(EMBEDDED_DATABASE),
        description="SQLAlchemy URL of the database: the embedded SQLite file under the working "
        "directory by default, or postgresql://user:password@host/db (psycopg 3).",
    )
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0, description="Files larger than this fail as too_large.")
    log_level: str = Field(default="INFO", description="Level of the JSON log lines on stderr.")

    @property
    def database(self) -> str:
        """The database URL, secret included: for connecting only, never for printing."""
        return self.database_url.get_secret_value()

    @property
    def embedded_database(self) -> bool:
        """Whether the database is the embedded SQLite file (then it is migrated on start)."""
        return self.database.startswith("sqlite")

    def effective(self) -> dict[str, Any]:
        """Every setting with its value, passwords masked: what `govreport config` prints."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = mask_secrets(value.get_secret_value())
            shown[f"GOVREPORT_{name.upper()}"] = value
        return shown


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()
