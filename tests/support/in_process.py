"""`govreport run` in the test's own process (its roles as threads): quicker to start than a
subprocess, for tests that need the whole pipeline but no signals or process boundaries."""

import threading
from pathlib import Path
from typing import Any

from tests.support.pipeline_kit import AMQP
from worker.adapters.db import make_engine
from worker.config import Settings
from worker.runner import Roles, run


def quick_settings(namespace: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test's pipeline: its own namespace, inbox and SQLite file, short waits, and
    no metrics port (tests run side by side)."""
    values: dict[str, Any] = {
        "inbox": tmp_path / "inbox",
        "amqp_url": AMQP,
        "namespace": namespace,
        "database_url": f"sqlite:///{tmp_path / 'db' / 'govreport.db'}",
        "quiet": 0.1,
        "open_quiet": 0.5,
        "rescan_every": 1.0,
        "concurrency": 1,
        "relay_interval": 0.2,
        "metrics_port": 0,
        **overrides,
    }
    return Settings(**values)


class Pipeline:
    """`govreport run` on threads, stopped at the end of the `with` block."""

    def __init__(self, settings: Settings, roles: Roles | None = None) -> None:
        self.settings, self.roles = settings, roles or Roles()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run, args=(settings, self.roles, self.stop), daemon=True)

    def __enter__(self) -> "Pipeline":
        self.settings.inbox.mkdir(parents=True, exist_ok=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the pipeline did not stop"

    def count(self, sql: str) -> int:
        """The one number a query gives, read from the pipeline's database."""
        engine = make_engine(self.settings.database)
        with engine.connect() as connection:
            value = int(connection.exec_driver_sql(sql).scalar_one())
        engine.dispose()
        return value
