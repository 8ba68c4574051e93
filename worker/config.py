"""The one place settings come from: the environment, with the GOVREPORT_ prefix."""

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.core import DEFAULT_MAX_BYTES
from worker.logging import mask_secrets

EMBEDDED_DATABASE = "sqlite:///var/govreport.db"
LOCAL_BROKER = "amqp://guest:guest@localhost:5672/%2F"


class Settings(BaseSettings):
    """Every setting of govreport; `govreport config` prints the effective values."""

    model_config = SettingsConfigDict(env_prefix="GOVREPORT_", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr(EMBEDDED_DATABASE),
        description="SQLAlchemy URL of the database: the embedded SQLite file under the working "
        "directory by default, or postgresql://user:password@host/db (psycopg 3).",
    )
    inbox: Path = Field(default=Path("inbox"), description="The folder watched for report files.")
    amqp_url: SecretStr = Field(default=SecretStr(LOCAL_BROKER), description="RabbitMQ URL.")
    namespace: str = Field(
        default="govreport",
        pattern=r"^[A-Za-z0-9_.-]{1,100}$",
        description="Prefix of every exchange and queue, so deployments or test runs can share a broker.",
    )
    poll: float | None = Field(
        default=None, gt=0, description="Poll the inbox every this many seconds (network shares) instead of inotify."
    )
    quiet: float = Field(default=0.05, gt=0, description="A file is settled when unchanged this long (seconds).")
    open_quiet: float = Field(
        default=2.0,
        gt=0,
        description="A file never seen closed (moved in, or still held open) is taken when unchanged this long.",
    )
    rescan_every: float = Field(default=30.0, gt=0, description="Full rescan of the inbox every this many seconds.")
    concurrency: int = Field(default=os.cpu_count() or 1, ge=1, description="Parsing processes per consumer.")
    prefetch: int = Field(default=100, ge=1, description="Unacknowledged deliveries per consumer.")
    batch_size: int = Field(default=50, ge=1, description="Deliveries stored in one transaction, at most.")
    batch_wait: float = Field(default=0.005, gt=0, description="Seconds to wait for more deliveries of a batch.")
    delivery_limit: int = Field(default=5, ge=1, description="Deliveries before a message is dead-lettered.")
    relay_interval: float = Field(default=1.0, gt=0, description="Seconds between outbox polls by the relay.")
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0, description="Files larger than this fail as too_large.")
    parse_seconds: float = Field(
        default=60.0, gt=0, description="Seconds one document may take to read before it fails as unreadable."
    )
    parse_memory: int | None = Field(
        default=2 * 1024**3,
        ge=256 * 1024**2,
        description="Bytes of address space per parsing process (unset: no limit); a document needing "
        "more fails alone.",
    )
    log_level: str = Field(
        default="INFO",
        pattern=r"(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
        description="Level of the JSON log lines on stderr.",
    )
    library_log_level: str = Field(
        default="WARNING",
        pattern=r"(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
        description="Level of the libraries' own log lines (pika, watchdog, SQLAlchemy...): their INFO "
        "and DEBUG are noise unless you are debugging them.",
    )

    @property
    def database(self) -> str:
        """The database URL, secret included: for connecting only, never for printing."""
        return self.database_url.get_secret_value()

    @property
    def broker(self) -> str:
        """The broker URL, secret included: for connecting only, never for printing."""
        return self.amqp_url.get_secret_value()

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
