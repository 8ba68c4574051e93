"""The one place settings come from: the environment, with the GOVREPORT_ prefix."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.core import DEFAULT_MAX_BYTES


class Settings(BaseSettings):
    """Every setting of govreport; `govreport config` prints the effective values."""

    model_config = SettingsConfigDict(env_prefix="GOVREPORT_", extra="ignore")

    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, gt=0, description="Files larger than this fail as too_large (bytes)."
    )
    log_level: str = Field(default="INFO", description="Level of the JSON log lines on stderr.")


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()
