"""The one place settings come from: the environment, with the GOVREPORT_ prefix."""

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from worker.errors import ConfigurationError

EMBEDDED_DATABASE = "sqlite:///var/govreport.db"
LOCAL_BROKER = "amqp://guest:guest@localhost:5672/%2F"
# worker.core.DEFAULT_MAX_BYTES (a test keeps them equal): importing the parser here would make
# every command, `--help` included, pay for loading it.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# The settings that may hold a password, and so may also come from a file (GOVREPORT_<NAME>_FILE).
SECRET_SETTINGS = ("database_url", "amqp_url")


def _environment() -> dict[str, str]:
    return dict(os.environ)  # noqa: TID251 - this is the module that reads the settings


def secret_file_variable(name: str) -> str:
    """The variable naming the file a secret setting is read from: `GOVREPORT_AMQP_URL_FILE`."""
    return f"GOVREPORT_{name.upper()}_FILE"


class _SecretFiles(PydanticBaseSettingsSource):
    """Secret settings read from files, as container secrets are mounted (`/run/secrets/...`): the
    file holds the value, a trailing newline is dropped. Setting both the variable and its `_FILE`
    is a mistake that would leave someone wondering which one is used, so it is an error."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002 - the base class signature
        """Unused: `__call__` reads every secret file at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        environment = _environment()
        given = {key.upper() for key in environment}
        for name in SECRET_SETTINGS:
            variable = secret_file_variable(name)
            path = environment.get(variable)
            if not path:
                continue
            if variable.removesuffix("_FILE") in given:
                raise ConfigurationError(f"{variable.removesuffix('_FILE')} and {variable} are both set: set one")
            values[name] = _read_secret(variable, Path(path))
        return values


def _read_secret(variable: str, path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigurationError(f"{variable}: cannot read {path}: {reason}") from error
    if not value:
        raise ConfigurationError(f"{variable}: {path} is empty")
    return value


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
    quiet: float = Field(
        default=2.0,
        gt=0,
        description="Seconds a file must stay unchanged after its writer closed it: longer than a writer's "
        "pauses between open-append-close cycles (an NFS server closes the file after every write).",
    )
    open_quiet: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a file never seen closed (still held open, found by a scan, or polled) must stay "
        "unchanged; at least `quiet`. A file that appeared by a rename is complete and taken at once.",
    )
    rescan_every: float = Field(default=30.0, gt=0, description="Full rescan of the inbox every this many seconds.")
    after: Literal["keep", "move", "delete"] = Field(
        default="keep",
        description="What the watcher does with a file once its outcome is stored (never before): keep it in "
        "the inbox, move it to the archive (done/ or failed/, then the day, then its path in the inbox), or "
        "delete it.",
    )
    archive: Path | None = Field(
        default=None,
        description="The folder files are moved to when GOVREPORT_AFTER=move; unset: `.archive` inside the "
        "inbox (hidden, so never read as input; on the inbox's own file system). Inside the inbox it must have "
        "a hidden name.",
    )
    remember: int = Field(
        default=100_000,
        ge=1,
        description="Handed-over files the watcher remembers in memory; beyond that (and for files gone "
        "from the inbox) it asks the handovers table.",
    )
    message_limit: int = Field(
        default=16 * 1024 * 1024 - 64 * 1024,
        gt=0,
        description="Bytes of the largest file sent inside a broker message (RabbitMQ 4 refuses bodies over "
        "16 MiB by default); a larger file goes by claim check through the claims table. Lowered by itself "
        "when the broker refuses a message as too big.",
    )
    keep_handovers: float = Field(
        default=30 * 24 * 3600.0,
        gt=0,
        description="Seconds a hand-over is remembered in the handovers table (default 30 days); a file still "
        "in the inbox after that is published again at the next start, and stored nothing twice.",
    )
    keep_claims: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="Seconds a claim (a big file's bytes) is kept at most (default 7 days), even if no consumer "
        "took its message: such a message then ends as a stored unreadable failure.",
    )
    claim_grace: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds a claim is kept after its report is stored, for redeliveries still in flight.",
    )
    housekeeping_every: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds between runs of housekeeping (pruning): handovers and claims in the watch role, "
        "published events in the relay role.",
    )
    concurrency: int = Field(default=os.cpu_count() or 1, ge=1, description="Parsing processes per consumer.")
    prefetch: int = Field(default=100, ge=1, description="Unacknowledged deliveries per consumer.")
    batch_size: int = Field(default=50, ge=1, description="Deliveries stored in one transaction, at most.")
    batch_wait: float = Field(default=0.005, gt=0, description="Seconds to wait for more deliveries of a batch.")
    delivery_limit: int = Field(default=5, ge=1, description="Deliveries before a message is dead-lettered.")
    relay_interval: float = Field(default=1.0, gt=0, description="Seconds between outbox polls by the relay.")
    metrics_port: int = Field(
        default=9180,
        ge=0,
        le=65535,
        description="TCP port of /metrics (Prometheus), /healthz and /readyz of `run`, `watch`, `consume` and "
        "`relay`; 0 serves none. Two processes on one host need two ports.",
    )
    heartbeat: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="AMQP heartbeat timeout in seconds asked of RabbitMQ: a connection silent about twice this "
        "long is dropped. Idle connections are kept alive by every worker, so only a lost peer is dropped.",
    )
    keep_events: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="Seconds a published event stays in the outbox before housekeeping deletes it "
        "(default 7 days); unpublished events are always kept.",
    )
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

    @model_validator(mode="after")
    def _open_quiet_covers_quiet(self) -> "Settings":
        if self.open_quiet < self.quiet:
            raise ValueError("GOVREPORT_OPEN_QUIET must be at least GOVREPORT_QUIET")
        return self

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment, then the secrets' `_FILE` variables."""
        return init_settings, env_settings, _SecretFiles(settings_cls), dotenv_settings, file_secret_settings

    def effective(self) -> dict[str, Any]:
        """Every setting with its value, passwords masked: what `govreport config` prints (with the
        file a secret was read from, when it was)."""
        from worker.logging import mask_secrets  # structlog: only when printing

        shown: dict[str, Any] = {}
        environment = _environment()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = mask_secrets(value.get_secret_value())
            shown[f"GOVREPORT_{name.upper()}"] = value
            if name in SECRET_SETTINGS and (path := environment.get(secret_file_variable(name))):
                shown[secret_file_variable(name)] = path
        return shown


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()
