"""`govreport run` and friends: the pipeline's workers in threads of one process, stopped in order
by SIGTERM or Ctrl-C (intake first, then in-flight work finished or returned to the queue)."""

import signal
import threading
from dataclasses import dataclass
from types import FrameType

import structlog

from worker.adapters.broker import Broker, Topology
from worker.adapters.db import ensure_schema, make_engine
from worker.adapters.store import Store
from worker.adapters.watch import Watcher
from worker.config import Settings
from worker.consumer import Consumer
from worker.intake import Intake
from worker.parsing import ParsePool, pool_settings
from worker.relay import Relay

log = structlog.get_logger("worker.runner")
_JOIN_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Roles:
    """Which workers this process runs."""

    watch: bool = True
    consume: bool = True
    relay: bool = True


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT (Ctrl-C) ask for an orderly stop."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("govreport.signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def open_store(settings: Settings) -> Store:
    """The store, with the embedded database migrated and a server's schema checked."""
    engine = make_engine(settings.database)
    ensure_schema(engine, migrate=settings.embedded_database)
    return Store(engine)


def run(settings: Settings, roles: Roles, stop: threading.Event) -> None:
    """Run the workers until `stop` is set; return once they have stopped."""
    store = open_store(settings)
    topology = Topology(settings.namespace, settings.delivery_limit)
    wake = threading.Event()
    pool = _pool(settings) if roles.consume else None
    threads = _threads(settings, roles, store, topology, stop, wake, pool)
    watcher_broker = Broker(settings.broker, "govreport-watcher", transactional=True)
    intake = Intake(watcher_broker, store, topology, settings.max_bytes)
    watcher = _watcher(settings, intake) if roles.watch else None
    for thread in threads:
        thread.start()
    if watcher is not None:
        watcher.start()
    log.info(
        "govreport.started",
        namespace=settings.namespace,
        inbox=str(settings.inbox.resolve()) if roles.watch else None,
        watch=roles.watch,
        consume=roles.consume,
        relay=roles.relay,
    )
    while not stop.wait(0.5):
        if not any(t.is_alive() for t in threads) and threads:
            log.error("govreport.workers_died")
            stop.set()
    log.info("govreport.stopping")
    wake.set()  # the relay is waiting for a commit or its interval: let it see the stop now
    if watcher is not None:
        watcher.stop()
        intake.broker.close()  # the watcher's threads are done with it
    for thread in threads:
        thread.join(_JOIN_TIMEOUT)
    if pool is not None:
        pool.shutdown()
    store.engine.dispose()
    log.info("govreport.stopped")


def _pool(settings: Settings) -> ParsePool:
    # Always processes, even one: a document that crashes or hangs native code must not take
    # the consumer down with it.
    return ParsePool(pool_settings(settings))


def _threads(
    settings: Settings,
    roles: Roles,
    store: Store,
    topology: Topology,
    stop: threading.Event,
    wake: threading.Event,
    pool: ParsePool | None,
) -> list[threading.Thread]:
    threads = []
    if roles.consume:
        consumer = Consumer(
            Broker(settings.broker, "govreport-consumer"),
            store,
            topology,
            pool=pool,
            stop=stop,
            max_bytes=settings.max_bytes,
            prefetch=settings.prefetch,
            batch_size=settings.batch_size,
            batch_wait=settings.batch_wait,
            committed=wake.set,
        )
        threads.append(threading.Thread(target=consumer.run, name="govreport-consumer", daemon=True))
    if roles.relay:
        relay = Relay(
            Broker(settings.broker, "govreport-relay", transactional=True),
            store,
            topology,
            stop=stop,
            wake=wake,
            interval=settings.relay_interval,
        )
        threads.append(threading.Thread(target=relay.run, name="govreport-relay", daemon=True))
    return threads


def _watcher(settings: Settings, intake: Intake) -> Watcher:
    settings.inbox.mkdir(parents=True, exist_ok=True)
    return Watcher(
        settings.inbox.resolve(),
        intake,
        poll=settings.poll,
        quiet=settings.quiet,
        open_quiet=settings.open_quiet,
        rescan_every=settings.rescan_every,
        is_handed_over=intake.is_handed_over,
    )
