"""`govreport run` and friends: the pipeline's workers in threads of one process.

Start: the database, then every worker's broker connection; `govreport.started` is logged once they
are all up. An outage meanwhile is retried (warnings that say so); a refusal (credentials, vhost,
permission) or a database URL that cannot be parsed stops the command at once, with one line.

Stop, on SIGTERM or Ctrl-C: intake first; the consumer stores what has finished, abandons the parses
in progress (their processes killed) and gives every other delivery back to the queue; all within a
few seconds. A second signal exits at once.
"""

import os
import re
import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from types import FrameType

import sqlalchemy as sa
import structlog

from worker.adapters.broker import Broker, Topology
from worker.adapters.db import DatabaseUnavailable, ensure_schema, make_engine
from worker.adapters.outbox import prune_published
from worker.adapters.serviced_broker import ServicedBroker
from worker.adapters.store import Store
from worker.adapters.watch import DroppedFile, Watcher
from worker.archive import Archiver
from worker.config import Settings
from worker.consumer import Consumer
from worker.errors import ConfigurationError, GovReportError, TransientError
from worker.exporter import exporting
from worker.housekeeping import Housekeeping, Task, default_tasks
from worker.intake import Intake
from worker.jobs import parse_timed
from worker.logging import mask_secrets
from worker.parsing import ParsePool, pool_settings
from worker.relay import Relay
from worker.retry import retrying

log = structlog.get_logger("worker.runner")
# Seconds the workers get to stop, all together: SIGTERM must end the process within 5 s.
_STOP_BUDGET = 3.5
# A server that answered and refused: bad password or role, no such database, no pg_hba.conf entry
# (libpq gives no SQLSTATE for a refused connection, only its FATAL message).
_DATABASE_REFUSAL = re.compile(
    r"FATAL:\s+(password authentication failed|role \".*\" does not exist|database \".*\" does not exist"
    r"|no pg_hba\.conf entry)"
    # sslmode=require (or verify-*) against a server without TLS, or a certificate that fails: settings.
    r"|server does not support SSL|certificate verify failed|root certificate file .* does not exist"
)


class WorkerFailed(GovReportError):
    """Raised when a worker thread stopped on a bug (its traceback is in the log)."""


@dataclass(frozen=True, slots=True)
class Roles:
    """Which workers this process runs."""

    watch: bool = True
    consume: bool = True
    relay: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        """The roles' names, as metrics label them."""
        chosen = (("watcher", self.watch), ("consumer", self.consume), ("relay", self.relay))
        return tuple(name for name, on in chosen if on)


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT (Ctrl-C) ask for an orderly stop; a second one exits at once."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            # The parsing processes die with the fork server, which exits with this process.
            log.warning("govreport.forced_exit", signal=name)
            os._exit(128 + signum)
        log.info("govreport.signal", signal=name, then="stopping; a second signal exits at once")
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class _Worker:
    """A worker's thread: it says when its connection is up, and keeps the error that ended it."""

    def __init__(self, name: str, stop: threading.Event, *, lasting: bool = True) -> None:
        self.name, self.stop, self.lasting = name, stop, lasting
        self.ready = threading.Event()
        self.wake: Callable[[], None] = lambda: None  # makes it see a stop at once
        self.error: GovReportError | None = None
        self.thread: threading.Thread | None = None

    def start(self, target: Callable[[], None]) -> None:
        self.thread = threading.Thread(target=self._run, args=(target,), name=f"govreport-{self.name}", daemon=True)
        self.thread.start()

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        except GovReportError as error:  # a refusal: the command says it in one line
            self.error = error
        except Exception:  # a bug: the one case for a traceback
            log.exception(f"{self.name}.failed")
            self.error = WorkerFailed(f"the {self.name} stopped on a bug (see the log)")
        finally:
            if self.error is not None:
                self.stop.set()

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def open_store(settings: Settings, stop: threading.Event) -> Store:
    """The store, with the embedded database migrated and a server's schema checked. A server that
    cannot be reached is waited for (until `stop`); a URL that cannot be parsed, or a server that
    refuses the credentials or has no such database, is a ConfigurationError."""
    try:
        engine = make_engine(settings.database)
    except (sa.exc.ArgumentError, ValueError, OSError) as error:
        raise ConfigurationError(mask_secrets(f"GOVREPORT_DATABASE_URL cannot be used: {error}")) from error
    try:
        for attempt in retrying(stop, on=DatabaseUnavailable, event="store.retrying"):
            with attempt:
                _ensure_schema(engine, settings)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def _ensure_schema(engine: sa.Engine, settings: Settings) -> None:
    try:
        ensure_schema(engine, migrate=settings.embedded_database)
    except DatabaseUnavailable as error:
        # The embedded file does not come back by waiting; nor do a password or a database.
        if settings.embedded_database or _DATABASE_REFUSAL.search(str(error)):
            raise ConfigurationError(mask_secrets(str(error))) from error
        raise


def run(settings: Settings, roles: Roles, stop: threading.Event) -> None:
    """Run the workers until `stop` is set, serving metrics and health meanwhile (from before the
    database is reached: /readyz says what is awaited); see `_run`."""
    with exporting(settings, roles.names):
        _run(settings, roles, stop)


def _run(settings: Settings, roles: Roles, stop: threading.Event) -> None:
    """Run the workers until `stop` is set; return once they have stopped. Raises the error that
    stopped them (a refusal, a bug) after they have."""
    store = open_store(settings, stop)
    topology = Topology(settings.namespace, settings.delivery_limit)
    wake = threading.Event()
    pool = _pool(settings) if roles.consume else None
    workers: list[_Worker] = []
    intake_broker = ServicedBroker(
        Broker(settings.broker, "govreport-watcher", heartbeat=settings.heartbeat, transactional=True)
    )
    watcher = housekeeping = None
    archiver: Archiver | None = None
    started = False
    try:
        # First: a setting that cannot work stops the command before any worker starts.
        archiver = _archiver(settings, store, stop) if roles.watch else None
        workers += _start_workers(settings, roles, store, topology, stop, wake, pool)
        if roles.watch:
            connecting = _Worker("watcher", stop, lasting=False)
            connecting.start(lambda: _connect(intake_broker, topology, stop, connecting.ready))
            workers.append(connecting)
            watcher = _watcher(settings, _intake(settings, intake_broker, store, topology), archiver)
        if roles.watch or roles.relay:
            housekeeping = _housekeeping(settings, roles, store, stop)
        if pool is not None:
            pool.warm()  # while the workers connect
        started = _wait_until_ready(workers, stop)
        if started:
            if watcher is not None:
                watcher.start()
            if housekeeping is not None:
                housekeeping.start()
            if archiver is not None:
                archiver.start()
            log.info(
                "govreport.started",
                namespace=settings.namespace,
                inbox=str(settings.inbox.resolve()) if roles.watch else None,
                watch=roles.watch,
                consume=roles.consume,
                relay=roles.relay,
            )
            _supervise(workers, stop)
    finally:
        deadline = time.monotonic() + _STOP_BUDGET
        stop.set()
        if started:
            log.info("govreport.stopping", workers=[w.name for w in workers])
        wake.set()  # the relay is waiting for a commit or its interval: let it see the stop now
        for worker in workers:
            worker.wake()
        if archiver is not None:
            archiver.wake()
        if watcher is not None and started:
            watcher.stop(timeout=_left(deadline, 1.0))
        intake_broker.close(timeout=_left(deadline, 0.5))
        for worker in workers:
            if worker.thread is not None:
                worker.thread.join(_left(deadline))
        if housekeeping is not None and housekeeping.thread is not None:
            housekeeping.thread.join(_left(deadline))
        if archiver is not None and archiver.thread is not None:
            archiver.thread.join(_left(deadline))
        if pool is not None:
            pool.shutdown()
        store.engine.dispose()
        if started:
            log.info("govreport.stopped", still_running=[w.name for w in workers if w.alive] or None)
    error = next((w.error for w in workers if w.error is not None), None)
    if error is not None:
        raise error


def _intake(settings: Settings, broker: ServicedBroker, store: Store, topology: Topology) -> Intake:
    return Intake(
        broker,
        store,
        topology,
        settings.max_bytes,
        inbox=settings.inbox.resolve(),
        message_limit=settings.message_limit,
    )


def _left(deadline: float, at_least: float = 0.0) -> float:
    return max(at_least, deadline - time.monotonic())


def _connect(broker: ServicedBroker, topology: Topology, stop: threading.Event, ready: threading.Event) -> None:
    """Connect the watcher's broker (declaring the topology) before anything is watched."""
    with suppress(TransientError):  # raised only once stopped while the broker was away
        for attempt in retrying(stop, event="watcher.retrying"):
            with attempt:
                broker.declare(topology)
        ready.set()


def _wait_until_ready(workers: list["_Worker"], stop: threading.Event) -> bool:
    """Whether every worker connected before a stop (or a worker's refusal, which sets it)."""
    while not all(worker.ready.is_set() for worker in workers):
        if stop.wait(0.05):
            return False
    return True


def _supervise(workers: list["_Worker"], stop: threading.Event) -> None:
    """Wait for a stop; a worker that ended without one (nor an error) is a bug that stops the rest."""
    while not stop.wait(0.5):
        for worker in workers:
            if worker.lasting and not worker.alive and worker.error is None:
                log.error("govreport.worker_ended", worker=worker.name)
                worker.error = WorkerFailed(f"the {worker.name} ended by itself")
                stop.set()


def _pool(settings: Settings) -> ParsePool:
    # Always processes, even one: a document that crashes or hangs native code must not take
    # the consumer down with it.
    return ParsePool(pool_settings(settings), parse=parse_timed)  # timed in the process: parse metrics


def _start_workers(
    settings: Settings,
    roles: Roles,
    store: Store,
    topology: Topology,
    stop: threading.Event,
    wake: threading.Event,
    pool: ParsePool | None,
) -> list[_Worker]:
    workers = []
    if roles.consume:
        consuming = _Worker("consumer", stop)
        consumer = Consumer(
            Broker(settings.broker, "govreport-consumer", heartbeat=settings.heartbeat),
            store,
            topology,
            pool=pool,
            stop=stop,
            max_bytes=settings.max_bytes,
            prefetch=settings.prefetch,
            batch_size=settings.batch_size,
            batch_wait=settings.batch_wait,
            committed=wake.set,
            on_ready=consuming.ready.set,
        )
        consuming.wake = consumer.broker.wake
        consuming.start(consumer.run)
        workers.append(consuming)
    if roles.relay:
        relaying = _Worker("relay", stop)
        relay = Relay(
            Broker(settings.broker, "govreport-relay", heartbeat=settings.heartbeat, transactional=True),
            store,
            topology,
            stop=stop,
            wake=wake,
            interval=settings.relay_interval,
            on_ready=relaying.ready.set,
        )
        relaying.start(relay.run)
        workers.append(relaying)
    return workers


def _watcher(settings: Settings, intake: Intake, archiver: Archiver | None = None) -> Watcher:
    settings.inbox.mkdir(parents=True, exist_ok=True)
    on_settled: Callable[[list[DroppedFile]], None] = intake if archiver is None else archiver.waking(intake)
    return Watcher(
        settings.inbox.resolve(),
        on_settled,
        poll=settings.poll,
        quiet=settings.quiet,
        open_quiet=settings.open_quiet,
        rescan_every=settings.rescan_every,
        is_handed_over=intake.is_handed_over,
        remember=settings.remember,
    )


def _archiver(settings: Settings, store: Store, stop: threading.Event) -> Archiver | None:
    """The archiver of GOVREPORT_AFTER=move|delete; None when files are kept."""
    if settings.after == "keep":
        return None
    return Archiver(store, settings.inbox, settings.after, stop=stop, archive=settings.archive)


def _housekeeping(settings: Settings, roles: Roles, store: Store, stop: threading.Event) -> Housekeeping:
    # Each table is pruned by the role that writes (watcher) or finishes (relay) its rows, so a
    # deployment of separate roles prunes everything once.
    tasks: list[Task] = []
    if roles.watch:
        tasks += default_tasks(
            store,
            handover_max_age=timedelta(seconds=settings.keep_handovers),
            claim_grace=timedelta(seconds=settings.claim_grace),
            claim_max_age=timedelta(seconds=settings.keep_claims),
        )
    if roles.relay:
        tasks.append(Task("outbox", partial(prune_published, store, timedelta(seconds=settings.keep_events))))
    return Housekeeping(tasks, stop=stop, interval=settings.housekeeping_every)
