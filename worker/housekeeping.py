"""Housekeeping: a thread that prunes the tables that only grow, every `interval` seconds.

Each table has its own pruning function (`prune_handovers` here, `worker.claims.prune_claims`, and
whatever other modules add): a `Task` names the table and calls the function with its settings.
One run prunes every table and logs the counts; a database outage is a warning and the next run
tries again; a bug in one task is logged with its traceback and the others still run.
"""

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import structlog

from worker.adapters.db import DatabaseUnavailable
from worker.adapters.handovers import HANDOVER_MAX_AGE, Handovers
from worker.adapters.store import Store
from worker.claims import CLAIM_GRACE, CLAIM_MAX_AGE, prune_claims

log = structlog.get_logger("worker.housekeeping")
THREAD = "govreport-housekeeping"
INTERVAL = 3600.0


@dataclass(frozen=True, slots=True)
class Task:
    """One table's pruning: a name for the logs, and a call that prunes and says how many rows went."""

    table: str
    prune: Callable[[], int]


def prune_handovers(store: Store, max_age: timedelta = HANDOVER_MAX_AGE) -> int:
    """Forget hand-overs older than `max_age` (such a file still in the inbox is published again at
    the next start-up, and stored nothing twice: see `worker.adapters.handovers`)."""
    return Handovers(store).prune(max_age)


def default_tasks(
    store: Store,
    *,
    handover_max_age: timedelta = HANDOVER_MAX_AGE,
    claim_grace: timedelta = CLAIM_GRACE,
    claim_max_age: timedelta = CLAIM_MAX_AGE,
) -> list[Task]:
    """The pruning of the tables the watch role writes: handovers and claims."""
    return [
        Task("handovers", partial(prune_handovers, store, handover_max_age)),
        Task("claims", partial(prune_claims, store, grace=claim_grace, max_age=claim_max_age)),
    ]


class Housekeeping:
    """Runs its tasks at start and then every `interval` seconds, until `stop` is set."""

    def __init__(self, tasks: Sequence[Task], *, stop: threading.Event, interval: float = INTERVAL) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.tasks = list(tasks)
        self.stop = stop
        self.interval = interval
        self.thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        """Prune every table once; the rows deleted per table (tables that could not be pruned left out)."""
        started = time.monotonic()
        pruned: dict[str, int] = {}
        for task in self.tasks:
            if self.stop.is_set():
                break
            try:
                pruned[task.table] = task.prune()
            except DatabaseUnavailable as error:
                log.warning("housekeeping.unavailable", table=task.table, error=str(error), retry_in=self.interval)
            except Exception:  # a bug in one task must not stop the others, nor the thread
                log.exception("housekeeping.failed", table=task.table)
        log.info("housekeeping.pruned", rows=pruned, duration_ms=round((time.monotonic() - started) * 1000, 1))
        return pruned

    def run(self) -> None:
        """Run until `stop` is set."""
        while not self.stop.is_set():
            self.run_once()
            self.stop.wait(self.interval)

    def start(self) -> threading.Thread:
        """Run in a daemon thread of its own (joined by the caller after setting `stop`)."""
        if self.thread is not None:
            raise RuntimeError("housekeeping can be started only once")
        self.thread = threading.Thread(target=self.run, name=THREAD, daemon=True)
        self.thread.start()
        return self.thread
