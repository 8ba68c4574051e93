"""The consumer: micro-batches of file deliveries, parsed in the parsing processes, stored in one
transaction, then acknowledged. A message that keeps crashing it is dead-lettered by the broker
(after the delivery limit) and stored from there by `DeadLetters`."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import structlog

from worker.adapters.broker import Delivery, MessageBroker, Topology
from worker.adapters.db import DatabaseUnavailable
from worker.adapters.store import Outcome, Saved, Store
from worker.core.parse import Parsed
from worker.dead_letters import DeadLetters
from worker.errors import TransientError
from worker.files import FileData
from worker.jobs import PARSE_SECONDS, ParseJob, job_for, log_stored, outcome, parse_job
from worker.messages import read_file_message
from worker.parsing import ParsePool
from worker.retry import keep_running, retrying

log = structlog.get_logger("worker.pipeline")
_DRAIN_EVERY = 5.0


class Consumer:
    """Micro-batches of deliveries: parse in parallel, store in one transaction, then ack them all."""

    def __init__(
        self,
        broker: MessageBroker,
        store: Store,
        topology: Topology,
        *,
        pool: ParsePool | None,
        stop: threading.Event,
        max_bytes: int,
        prefetch: int = 100,
        batch_size: int = 50,
        batch_wait: float = 0.005,
        committed: Callable[[], None] = lambda: None,
        parse: Callable[[ParseJob], Parsed] = parse_job,
    ) -> None:
        self.broker, self.store, self.topology = broker, store, topology
        self.pool = pool  # None: parse in this thread (tests, and one-off tools)
        self.seconds = pool.settings.seconds if pool is not None else PARSE_SECONDS
        self.stop = stop
        self.max_bytes = max_bytes
        self.prefetch, self.batch_size, self.batch_wait = prefetch, batch_size, batch_wait
        self.committed = committed
        self.parse = parse  # used without a pool; a pool has its own
        self.dead_letters = DeadLetters(broker, topology, self._save, committed)

    def run(self) -> None:
        """Consume until `stop` is set, reconnecting with backoff when the broker goes away."""
        keep_running(self._consume, self.broker, self.stop, "consumer")

    def _consume(self) -> None:
        self.broker.declare(self.topology)
        batches = self.broker.batches(
            self.topology.parse, prefetch=self.prefetch, size=self.batch_size, wait=self.batch_wait
        )
        # One batch in flight: its parse runs in the processes while the one before is stored.
        in_flight: _InFlight | None = None
        for batch in batches:
            started = self._start(batch) if batch else None
            if in_flight is not None:
                self._finish_isolating(in_flight)
            in_flight = started
            # When idle, and every few seconds under a steady stream, which never idles.
            if in_flight is None or time.monotonic() - self.dead_letters.drained_at > _DRAIN_EVERY:
                self.dead_letters.drain()
            if self.stop.is_set():
                if in_flight is not None:
                    self._finish_isolating(in_flight)
                self.broker.stop_consuming()
                return

    def _start(self, batch: list[Delivery]) -> "_InFlight":
        """Read a batch's messages and hand their parsing to the processes (or parse them here)."""
        files = [read_file_message(d) for d in batch]
        jobs = [job_for(f, self.max_bytes, self.seconds) for f in files]
        in_flight = _InFlight(batch, files, jobs, time.monotonic())
        try:
            if self.pool is None:
                in_flight.results = [self.parse(job) for job in jobs]
            else:
                in_flight.futures = self.pool.submit(jobs)
        except Exception as error:  # noqa: BLE001 - raised again where the batch is finished and isolated
            in_flight.error = error
        return in_flight

    def _finish_isolating(self, in_flight: "_InFlight") -> None:
        """Finish a batch; if it fails for a reason other than an outage, handle its messages one by
        one, so that only the message at fault goes back to the queue (and, past the delivery
        limit, to the dead-letter queue)."""
        try:
            self._finish(in_flight)
            return
        except TransientError:
            raise
        except Exception:  # a bug or a malformed message: isolated below
            log.exception("consumer.batch_failed", count=len(in_flight.batch))
        for delivery in in_flight.batch:
            try:
                self._finish(self._start([delivery]))
            except TransientError:
                raise
            except Exception:  # the message at fault: back to the queue, counted
                log.exception("consumer.message_failed", delivery_count=delivery.delivery_count)
                self.broker.nack(delivery, requeue=True)

    def _finish(self, in_flight: "_InFlight") -> None:
        """Wait for the parse, store the outcomes in one transaction, then acknowledge the batch."""
        batch, files = in_flight.batch, in_flight.files
        parsed = self._results(in_flight)
        outcomes = [outcome(f, p.result, p.evidence) for f, p in zip(files, parsed, strict=True)]
        try:
            saved = self._save(outcomes)
        except DatabaseUnavailable:
            self._requeue(batch, "stopped while the database was unavailable")
            return
        self.broker.ack(batch[-1])
        self.committed()
        for file, p, stored in zip(files, parsed, saved, strict=True):
            log_stored(file, p.result, stored, time.monotonic() - in_flight.received)

    def _results(self, in_flight: "_InFlight") -> list[Parsed]:
        if in_flight.error is not None:
            raise in_flight.error
        if in_flight.results is not None or self.pool is None:
            return in_flight.results or []
        # Keep the broker's heartbeats serviced while the processes parse.
        return self.pool.collect(in_flight.jobs, in_flight.futures, keepalive=lambda: self.broker.sleep(0))

    def _save(self, outcomes: list[Outcome]) -> list[Saved]:
        """Store outcomes, retrying while the database is down (until a stop)."""
        retry = retrying(
            self.stop, on=DatabaseUnavailable, multiplier=0.25, sleep=self._sleep, event="store.unavailable"
        )
        for attempt in retry:
            with attempt:
                return self.store.save(outcomes)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity returns or raises

    def _sleep(self, seconds: float) -> None:
        # Sleep in slices: heartbeats stay serviced and a stop is noticed within a slice.
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self.broker.sleep(min(left, 0.5))

    def _requeue(self, batch: list[Delivery], why: str) -> None:
        log.warning("consumer.requeue", count=len(batch), why=why)
        for delivery in batch:
            self.broker.nack(delivery, requeue=True)


@dataclass(slots=True)
class _InFlight:
    """A batch whose parsing was started: its deliveries, files, and results to come."""

    batch: list[Delivery]
    files: list[FileData]
    jobs: list[ParseJob]
    received: float
    futures: list["Future[Parsed]"] = field(default_factory=list)
    results: list[Parsed] | None = None
    error: Exception | None = None
