"""The pipeline's three workers: hand dropped files to the broker, consume and store them, relay
the stored events. Each runs in its own thread with its own broker connection.

Errors decide the path (STYLE.md): a transient error (broker or database down) is retried with
exponential backoff and never stored; a bad file is a stored failure; a message that keeps
crashing its consumer is dead-lettered by the broker after the delivery limit and stored as an
`internal_error` failure from the dead-letter queue.
"""

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import structlog
import tenacity

from worker.adapters.broker import Broker, Delivery, Topology
from worker.adapters.db import DatabaseUnavailable
from worker.adapters.outbox import Handovers, Outbox, PendingRow
from worker.adapters.store import Arrival, Outcome, Saved, Store
from worker.adapters.watch import DroppedFile
from worker.core import ParseResult
from worker.core.document import Where, evidence_json
from worker.core.parse import Parsed, failed
from worker.core.result import FailureReason, Source
from worker.errors import TransientError
from worker.messages import FileMessage, event_message, file_message, read_file_message
from worker.parsing import ParsePool
from worker.services import PARSE_SECONDS, ParseJob, open_no_follow, parse_job, sha256_of

log = structlog.get_logger("worker.pipeline")
_MAX_BACKOFF = 30.0
_DRAIN_EVERY = 5.0


def backoff(stop: threading.Event) -> tenacity.Retrying:
    """Retry transient errors with exponential backoff until they pass or `stop` is set."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientError),
        wait=tenacity.wait_exponential(multiplier=0.5, max=_MAX_BACKOFF),
        stop=tenacity.stop_when_event_set(stop),
        sleep=lambda seconds: _wait(stop, seconds),
        before_sleep=_log_retry,
        reraise=True,
    )


def keep_running(work: Callable[[], None], broker: Broker, stop: threading.Event, name: str) -> None:
    """Run a worker's loop until `stop`, starting it again after transient errors (with backoff);
    the worker's broker connection is closed at the end, on the worker's own thread."""
    try:
        for attempt in backoff(stop):
            with attempt:
                work()
    except TransientError as error:
        log.info(f"{name}.stopped_while_unavailable", error=str(error))
    finally:
        broker.close()


def _wait(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("transient_error", error=str(error), retry=state.attempt_number)


class Handover:
    """The watcher's callback: publish settled files with confirms, then remember them."""

    def __init__(self, broker: Broker, store: Store, topology: Topology, max_bytes: int) -> None:
        self.broker = broker
        self.handovers = Handovers(store)
        self.topology = topology
        self.max_bytes = max_bytes
        self.declared = False

    def __call__(self, files: list[DroppedFile]) -> None:
        """Hand files over; raises (and the watcher retries them) unless the broker confirmed all."""
        if not self.declared:
            self.topology.declare(self.broker.connect())
            self.declared = True
        read = [message for file in files if (message := self._read(file)) is not None]
        self.broker.publish([file_message(self.topology, m) for m in read])
        by_path = {m.path: m for m in read}
        self.handovers.record(
            [(str(f.path), f.size, f.mtime_ns, by_path[str(f.path)].sha256) for f in files if str(f.path) in by_path]
        )
        for message in read:
            log.info("file.handed_over", sha256=message.sha256, filename=message.filename, size=message.size)

    def is_handed_over(self, file: DroppedFile) -> bool:
        """Whether a previous run handed this file (path, size, mtime) over already."""
        return self.handovers.seen(str(file.path), file.size, file.mtime_ns)

    def _read(self, file: DroppedFile) -> FileMessage | None:
        path = file.path
        try:
            if file.size > self.max_bytes:
                return FileMessage(path.name, str(path), file.size, file.mtime_ns, sha256_of(path), True, b"")
            data = _read_no_follow(path)
        except FileNotFoundError:
            log.info("file.vanished", filename=path.name, path=str(path))
            return None
        except OSError as error:  # a symlink swapped in after the watcher's check (ELOOP), no access
            log.warning("file.unreadable", filename=path.name, path=str(path), error=str(error))
            return None
        sha256 = hashlib.sha256(data).hexdigest()
        return FileMessage(path.name, str(path), file.size, file.mtime_ns, sha256, False, data)


def _read_no_follow(path: Path) -> bytes:
    with open_no_follow(path) as handle:
        return handle.read()


class Consumer:
    """Micro-batches of deliveries: parse in parallel, store in one transaction, then ack them all."""

    def __init__(
        self,
        broker: Broker,
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
        self.drained_at = 0.0

    def run(self) -> None:
        """Consume until `stop` is set, reconnecting with backoff when the broker goes away."""
        keep_running(self._consume, self.broker, self.stop, "consumer")

    def _consume(self) -> None:
        self.topology.declare(self.broker.connect())
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
            if in_flight is None or time.monotonic() - self.drained_at > _DRAIN_EVERY:
                self.drain_dead_letters()
            if self.stop.is_set():
                if in_flight is not None:
                    self._finish_isolating(in_flight)
                self.broker.stop_consuming()
                return

    def handle(self, batch: list[Delivery]) -> None:
        """Parse, store and acknowledge one batch (isolating a message that fails)."""
        self._finish_isolating(self._start(batch))

    def _start(self, batch: list[Delivery]) -> "_InFlight":
        """Read a batch's messages and hand their parsing to the processes (or parse them here)."""
        messages = [read_file_message(d) for d in batch]
        jobs = [
            ParseJob(None if m.too_large else m.body, m.filename, m.sha256, m.size, self.max_bytes, self.seconds)
            for m in messages
        ]
        in_flight = _InFlight(batch, messages, jobs, time.monotonic())
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
        batch, messages = in_flight.batch, in_flight.messages
        parsed = self._results(in_flight)
        outcomes = [_outcome(m, p.result, p.evidence) for m, p in zip(messages, parsed, strict=True)]
        results = [p.result for p in parsed]
        try:
            saved = self._save(outcomes)
        except DatabaseUnavailable:
            self._requeue(batch, "stopped while the database was unavailable")
            return
        self.broker.ack(batch[-1])
        self.committed()
        for message, result, stored in zip(messages, results, saved, strict=True):
            _log_stored(message, result, stored, time.monotonic() - in_flight.received)

    def _results(self, in_flight: "_InFlight") -> list[Parsed]:
        if in_flight.error is not None:
            raise in_flight.error
        if in_flight.results is not None or self.pool is None:
            return in_flight.results or []
        # Keep the broker's heartbeats serviced while the processes parse.
        return self.pool.collect(in_flight.jobs, in_flight.futures, keepalive=lambda: self.broker.sleep(0))

    def _save(self, outcomes: list[Outcome]) -> list[Saved]:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(DatabaseUnavailable),
            wait=tenacity.wait_exponential(multiplier=0.25, max=_MAX_BACKOFF),
            stop=tenacity.stop_when_event_set(self.stop),
            sleep=self._sleep,
            before_sleep=lambda s: log.warning("store.unavailable", retry=s.attempt_number),
            reraise=True,
        )
        for attempt in retrying:
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

    def drain_dead_letters(self, limit: int = 100) -> int:
        """Store each dead-lettered message as an `internal_error` failure (with its event)."""
        self.drained_at = time.monotonic()
        drained = 0
        with self.broker.translated() as channel:
            for _ in range(limit):
                method, properties, body = channel.basic_get(self.topology.dlq, auto_ack=False)
                if method is None:
                    break
                delivery = Delivery(int(method.delivery_tag), bool(method.redelivered), properties, body)
                message = read_file_message(delivery)
                result = _given_up(message, self.topology.delivery_limit)
                try:
                    saved = self._save([_outcome(message, result)])
                except TransientError:
                    raise
                except Exception:  # a bug here must not stop consuming; the message stays in the DLQ
                    log.exception("consumer.dead_letter_failed", filename=message.filename)
                    channel.basic_nack(delivery.tag, requeue=True)
                    break
                channel.basic_ack(delivery.tag)
                self.committed()
                _log_stored(message, result, saved[0], 0.0)
                drained += 1
        return drained


@dataclass(slots=True)
class _InFlight:
    """A batch whose parsing was started: its deliveries, messages, and results to come."""

    batch: list[Delivery]
    messages: list[FileMessage]
    jobs: list[ParseJob]
    received: float
    futures: list["Future[Parsed]"] = field(default_factory=list)
    results: list[Parsed] | None = None
    error: Exception | None = None


def _outcome(message: FileMessage, result: ParseResult, evidence: Mapping[str, Where] | None = None) -> Outcome:
    arrival = Arrival(message.path, message.size, message.mtime) if message.path else None
    return Outcome(result, None if message.too_large else message.body, arrival, evidence_json(evidence or {}))


def _given_up(message: FileMessage, limit: int) -> ParseResult:
    source = Source(filename=message.filename, sha256=message.sha256, bytes=message.size)
    reason = f"the file crashed its consumer on {limit} deliveries and was dead-lettered; kept for reprocess"
    return failed(source, FailureReason.INTERNAL_ERROR, reason)


def _log_stored(message: FileMessage, result: ParseResult, saved: Saved, seconds: float) -> None:
    since_close = (time.time_ns() - message.mtime_ns) / 1e6 if message.mtime_ns else None
    log.info(
        "report.stored" if saved.created else "report.duplicate",
        sha256=result.source.sha256,
        filename=message.filename,
        status=result.status.value,
        reason=result.failure.reason.value if result.failure else None,
        template=result.template,
        report_id=saved.report_id,
        event_id=saved.event_id,
        duration_ms=round(seconds * 1000, 3),
        since_close_ms=round(since_close, 1) if since_close is not None else None,
    )


class Relay:
    """Publish committed outbox events with confirms, then mark them; after a crash, again."""

    def __init__(
        self,
        broker: Broker,
        store: Store,
        topology: Topology,
        *,
        stop: threading.Event,
        wake: threading.Event,
        interval: float = 1.0,
    ) -> None:
        self.broker, self.outbox, self.topology = broker, Outbox(store), topology
        self.stop, self.wake, self.interval = stop, wake, interval

    def run(self) -> None:
        """Relay until `stop` is set: at once when woken by a commit, else every `interval`."""
        keep_running(self._relay, self.broker, self.stop, "relay")

    def _relay(self) -> None:
        self.topology.declare(self.broker.connect())
        while not self.stop.is_set():
            self.wake.clear()
            if self.publish_once() == 0:
                self.wake.wait(self.interval)

    def publish_once(self) -> int:
        """Publish one batch of pending events; the number published."""
        count = self.outbox.publish_pending(self._publish)
        if count:
            log.debug("relay.published", count=count)
        return count

    def _publish(self, rows: list[PendingRow]) -> None:
        self.broker.publish([event_message(self.topology, row) for row in rows])
