"""Housekeeping: the handovers table pruned by age (on SQLite and PostgreSQL), the periodic job,
and what a pruned hand-over means for a file still in the inbox (published again, stored once)."""

import itertools
import os
import shutil
import threading
import time
from collections.abc import Iterator, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.support.pipeline_kit import AMQP, EventSink, delete_namespace, new_namespace, wait_until
from tests.support.servers import require
from worker import runner as runner_module
from worker.adapters import handovers as handovers_module
from worker.adapters.db import DatabaseUnavailable, make_engine
from worker.adapters.handovers import Handovers
from worker.adapters.store import HANDOVERS, Store
from worker.config import Settings
from worker.housekeeping import THREAD, Housekeeping, Task, default_tasks, prune_handovers
from worker.models import utcnow
from worker.runner import Roles, run

Logs = list[MutableMapping[str, Any]]
SEED = sorted((Path(__file__).parent / "fixtures" / "corpus" / "seeds").glob("*.txt"))[0]


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    yield Store(engine)
    engine.dispose()


def handed_over(store: Store, names: list[str], *, age: timedelta) -> None:
    Handovers(store).record([(f"/inbox/{name}", 1, 1, "0" * 64) for name in names])
    with store.begin() as connection:
        connection.execute(
            HANDOVERS.update()
            .where(HANDOVERS.c.path.in_([f"/inbox/{name}" for name in names]))
            .values(handed_over_at=utcnow() - age)
        )


def paths(store: Store) -> list[str]:
    with store.engine.connect() as connection:
        return sorted(path for (path,) in connection.exec_driver_sql("SELECT path FROM handovers"))


def test_handovers_older_than_the_maximum_age_are_pruned_in_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handovers_module, "_PRUNE_CHUNK", 3)
    handed_over(store, [f"old-{i}.pdf" for i in range(7)], age=timedelta(days=31))
    handed_over(store, ["recent.pdf"], age=timedelta(days=29))
    handed_over(store, ["new.pdf"], age=timedelta(0))
    assert prune_handovers(store, timedelta(days=30)) == 7
    assert paths(store) == ["/inbox/new.pdf", "/inbox/recent.pdf"]
    assert not Handovers(store).seen("/inbox/old-0.pdf", 1, 1) and Handovers(store).seen("/inbox/new.pdf", 1, 1)
    assert prune_handovers(store, timedelta(days=30)) == 0


def test_one_run_prunes_every_table_and_logs_the_counts(store: Store) -> None:
    handed_over(store, ["old.pdf"], age=timedelta(days=40))
    calls: list[str] = []

    def down() -> int:
        calls.append("down")
        raise DatabaseUnavailable("database unavailable: OperationalError")

    def bug() -> int:
        calls.append("bug")
        raise RuntimeError("a bug in a pruning function")

    tasks = [Task("down", down), Task("buggy", bug), *default_tasks(store)]
    with capture_logs() as logs:
        pruned = Housekeeping(tasks, stop=threading.Event()).run_once()
    assert pruned == {"handovers": 1, "claims": 0} and calls == ["down", "bug"]
    [unavailable] = [e for e in logs if e["event"] == "housekeeping.unavailable"]
    assert unavailable["log_level"] == "warning" and unavailable["table"] == "down" and "retry_in" in unavailable
    [failed] = [e for e in logs if e["event"] == "housekeeping.failed"]
    assert failed["log_level"] == "error" and failed["exc_info"] is True
    [done] = [e for e in logs if e["event"] == "housekeeping.pruned"]
    assert done["rows"] == {"handovers": 1, "claims": 0}


def test_the_job_runs_at_start_then_every_interval_until_stopped() -> None:
    runs: list[float] = []
    third = threading.Event()

    def count() -> int:
        runs.append(time.monotonic())
        if len(runs) >= 3:
            third.set()
        return 0

    stop = threading.Event()
    housekeeping = Housekeeping([Task("counted", count)], stop=stop, interval=0.2)
    thread = housekeeping.start()
    assert thread.name == THREAD
    assert third.wait(10)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(runs))
    with pytest.raises(RuntimeError):
        housekeeping.start()
    with pytest.raises(ValueError, match="interval"):
        Housekeeping([], stop=stop, interval=0)


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_a_file_whose_hand_over_was_pruned_is_published_again_and_stored_once(tmp_path: Path) -> None:
    require("127.0.0.1", 5672, "RabbitMQ")
    namespace = new_namespace()
    settings = Settings(
        inbox=tmp_path / "inbox",
        amqp_url=AMQP,
        namespace=namespace,
        database_url=f"sqlite:///{tmp_path / 'govreport.db'}",
        quiet=0.1,
        open_quiet=0.3,
        concurrency=1,
        relay_interval=0.2,
        housekeeping_every=0.2,
        keep_handovers=0.5,  # seconds: every hand-over is pruned soon after it is made
    )
    settings.inbox.mkdir()
    shutil.copy(SEED, settings.inbox / "report.txt")
    sink = EventSink(namespace)
    store = Store(make_engine(settings.database))
    try:
        for attempt in range(2):
            stop = threading.Event()
            pipeline = threading.Thread(target=run, args=(settings, Roles(), stop), daemon=True)
            with capture_logs() as logs:
                pipeline.start()
                assert wait_until(lambda: any(e["event"] == "file.handed_over" for e in list(logs)), timeout=30)
                # Pruned by the running housekeeping: while the watcher runs, its memory still knows the file.
                assert wait_until(lambda: _count(store, "handovers") == 0, timeout=30)
                time.sleep(1.0)
                stop.set()
                pipeline.join(30)
            assert not pipeline.is_alive()
            assert len([e for e in logs if e["event"] == "file.handed_over"]) == 1, attempt
            assert any(e["event"] == "housekeeping.pruned" and e["rows"].get("handovers") for e in logs)
        assert wait_until(lambda: _count(store, "sightings") == 1 and len(sink.events) == 1, timeout=30)
        time.sleep(1.0)
        # Published twice, stored once and announced once: the consumer knows the content by its SHA-256.
        assert (_count(store, "reports"), len(sink.events)) == (1, 1)
    finally:
        sink.close()
        store.engine.dispose()
        delete_namespace(namespace)
    assert os.listdir(settings.inbox) == ["report.txt"]


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


@pytest.mark.parametrize(
    ("roles", "tables"),
    [
        (Roles(watch=True, consume=False, relay=False), {"handovers", "claims"}),
        (Roles(watch=False, consume=False, relay=True), {"outbox"}),
        (Roles(), {"handovers", "claims", "outbox"}),
    ],
)
def test_each_role_prunes_the_tables_it_finishes(store: Store, roles: Roles, tables: set[str]) -> None:
    settings = Settings(database_url=store.engine.url.render_as_string(hide_password=False))
    pruned = runner_module._housekeeping(settings, roles, store, threading.Event()).run_once()
    assert set(pruned) == tables
