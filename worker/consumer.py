"""The consumer: each delivery goes to the parsing processes as it arrives (at most `prefetch` at a
time), and whatever has finished is stored every `batch_wait` in one transaction, then exactly those
deliveries are acknowledged: a slow document never holds up the ones that finish after it.

The dead-letter queue is consumed on the same channel: a message that kept crashing its consumer
(dead-lettered by the broker after the delivery limit) is stored as an `internal_error` failure in
the same transactions. On a stop, finished work is stored, parses in progress are abandoned (their
processes killed) and their deliveries go back to the queue.
"""

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

import structlog

from worker import metrics
from worker.adapters.broker import Delivery, MessageBroker, Topology
from worker.adapters.db import DatabaseUnavailable
from worker.adapters.store import Outcome, Saved, Store
from worker.core.parse import Parsed
from worker.dead_letters import dead_lettered
from worker.errors import TransientError
from worker.files import FileData
from worker.jobs import PARSE_SECONDS, ParseJob, job_for, log_stored, outcome, parse_job
from worker.messages import read_file_messages
from worker.parsing import TICK, ParsePool
from worker.retry import keep_running, retrying

log = structlog.get_logger("worker.pipeline")
# The longest wait for a delivery when nothing is in flight: how soon a stop is seen when idle.
_IDLE_WAIT = 0.5


@dataclass(frozen=True, slots=True, eq=False)
class _Item:
    """A delivery held by the consumer, with the file it carries."""

    delivery: Delivery
    file: FileData
    received: float


@dataclass(frozen=True, slots=True, eq=False)
class _Done:
    """A held delivery whose parse finished: what to store."""

    item: _Item
    parsed: Parsed
    at: float


class Consumer:
    """Parses deliveries as they arrive, stores what finished in one transaction, acks exactly that."""

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
        on_ready: Callable[[], None] = lambda: None,
    ) -> None:
        self.broker, self.store, self.topology = broker, store, topology
        self.pool = pool  # None: parse in this thread (tests, and one-off tools)
        self.seconds = pool.settings.seconds if pool is not None else PARSE_SECONDS
        self.stop = stop
        self.max_bytes = max_bytes
        self.prefetch, self.batch_size, self.batch_wait = prefetch, batch_size, batch_wait
        self.committed = committed
        self.parse = parse  # used without a pool; a pool has its own
        self.on_ready = on_ready  # called once consuming (again, after a reconnection)
        # Every delivery not acknowledged or rejected yet, by tag: in delivery order, as tags grow.
        self._items: dict[int, _Item] = {}
        self._tickets: dict[int, int] = {}  # the pool's ticket: the delivery tag
        self._finished: list[_Done] = []  # to store, in the order they finished

    def run(self) -> None:
        """Consume until `stop` is set, reconnecting with backoff when the broker goes away."""
        keep_running(self._consume, self.broker, self.stop, "consumer")

    def _consume(self) -> None:
        self.broker.declare(self.topology)
        self.broker.consume([self.topology.parse, self.topology.dlq], prefetch=self.prefetch)
        self.on_ready()
        try:
            while True:
                metrics.beat("consumer")
                self._take(self.broker.poll(self._wait()))
                self._collect()
                self._store_due()
                if self.stop.is_set():
                    self._stop()
                    return
        finally:
            self._forget()

    def _wait(self) -> float:
        """How long the next poll may wait: until the oldest finished parse is due to be stored,
        a tick while parses run (to see them start and overrun), else a while."""
        if self.stop.is_set():
            return 0.0
        if self._finished:
            return max(0.0, self._finished[0].at + self.batch_wait - time.monotonic())
        if self.pool is not None and self.pool.in_flight:
            return TICK
        return _IDLE_WAIT

    def _take(self, deliveries: list[Delivery]) -> None:
        """Hold new deliveries: a dead letter, or a file whose outcome is known without a parse (its
        claim is gone), is finished at once; a file is handed to the parser."""
        if not deliveries:
            return
        received = time.monotonic()
        # The one place deliveries become files (a claimed file's bytes come from the claims table).
        for delivery, (file, known) in zip(deliveries, read_file_messages(deliveries, self.store), strict=True):
            item = _Item(delivery, file, received)
            self._items[delivery.tag] = item
            if delivery.queue == self.topology.dlq:
                self._done(item, dead_lettered(file, self.topology.delivery_limit))
                continue
            if known is not None:
                self._done(item, known)
                continue
            try:
                self._start(item)
            except TransientError:
                raise
            except Exception:  # a malformed message, or a bug: this message alone goes back, counted
                log.exception("consumer.message_failed", filename=file.filename, delivery_count=delivery.delivery_count)
                self._reject(item)

    def _start(self, item: _Item) -> None:
        job = job_for(item.file, self.max_bytes, self.seconds)
        if self.pool is None:
            self._done(item, self.parse(job))
        else:
            self._tickets[self.pool.start(job, self.broker.wake)] = item.delivery.tag

    def _collect(self) -> None:
        """Take the parses that finished from the pool."""
        if self.pool is None:
            return
        for ticket, parsed in self.pool.finished():
            tag = self._tickets.pop(ticket, None)
            item = self._items.get(tag) if tag is not None else None
            if item is not None:
                self._done(item, parsed)

    def _done(self, item: _Item, parsed: Parsed) -> None:
        metrics.observe_parse(parsed)
        self._finished.append(_Done(item, parsed, time.monotonic()))

    def _store_due(self, *, now: bool = False) -> None:
        """Store what finished, a batch at a time, once the oldest has waited `batch_wait`."""
        while self._finished and (
            now or len(self._finished) >= self.batch_size or time.monotonic() - self._finished[0].at >= self.batch_wait
        ):
            group, self._finished = self._finished[: self.batch_size], self._finished[self.batch_size :]
            self._store(group)

    def _store(self, group: list[_Done]) -> None:
        """Store a group in one transaction, then acknowledge it; if that fails for a reason other
        than an outage, store its items one by one, so that only the one at fault is rejected."""
        try:
            saved = self._save([_outcome(done) for done in group])
        except TransientError:
            raise
        except Exception:  # a bug or a malformed message: isolated below
            log.exception("consumer.batch_failed", count=len(group))
        else:
            self._acknowledge(group, saved)
            return
        for done in group:
            try:
                saved = self._save([_outcome(done)])
            except TransientError:
                raise
            except Exception:  # the message at fault
                item = done.item
                log.exception(
                    "consumer.message_failed", filename=item.file.filename, delivery_count=item.delivery.delivery_count
                )
                self._reject(item)
            else:
                self._acknowledge([done], saved)

    def _acknowledge(self, group: list[_Done], saved: list[Saved]) -> None:
        """Ack exactly the stored deliveries (a leading run of them in one ack), then log them."""
        stored = {done.item.delivery.tag for done in group}
        for tag, multiple in ack_ranges(list(self._items), stored):
            self.broker.ack(self._items[tag].delivery, multiple=multiple)
        for tag in stored:
            del self._items[tag]
        self.committed()
        now = time.monotonic()
        for done, stored_as in zip(group, saved, strict=True):
            log_stored(done.item.file, done.parsed.result, stored_as, now - done.item.received)
            dead_letter = done.item.delivery.queue == self.topology.dlq
            metrics.consumed(done.parsed.result, created=stored_as.created, dead_letter=dead_letter)

    def _reject(self, item: _Item) -> None:
        if item.delivery.queue == self.topology.dlq:
            # Requeued, it would come straight back to fail again: it stays unacknowledged (so in
            # the dead-letter queue) until this consumer stops.
            log.warning("consumer.dead_letter_failed", filename=item.file.filename)
            return
        self.broker.nack(item.delivery, requeue=True)
        metrics.requeued()
        del self._items[item.delivery.tag]

    def _save(self, outcomes: list[Outcome]) -> list[Saved]:
        """Store outcomes, retrying while the database is down (until a stop)."""
        retry = retrying(
            self.stop,
            on=DatabaseUnavailable,
            multiplier=0.25,
            sleep=self._sleep,
            event="store.retrying",
            role="consumer",
        )
        for attempt in retry:
            with attempt:
                return self.store.save(outcomes)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity returns or raises

    def _sleep(self, seconds: float) -> None:
        # Sleep in slices: heartbeats stay served and a stop is noticed within a slice.
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self.broker.sleep(min(left, 0.5))

    def _stop(self) -> None:
        """Store what finished, abandon the parses in progress, and give every other delivery back."""
        with suppress(DatabaseUnavailable):  # then it all goes back to the queue
            self._store_due(now=True)
        abandoned = self.pool.abandon() if self.pool is not None else []
        log.info(
            "consumer.stopping",
            abandoned=[job.filename for job in abandoned],
            returned=len(self._items),
        )
        self.broker.stop_consuming()
        self._items.clear()

    def _forget(self) -> None:
        """Drop what this connection held (its deliveries go back to the queue with it)."""
        if self.pool is not None and self.pool.in_flight:
            self.pool.abandon()
        self._items.clear()
        self._tickets.clear()
        self._finished.clear()


def _outcome(done: _Done) -> Outcome:
    return outcome(done.item.file, done.parsed.result, done.parsed.evidence)


def ack_ranges(outstanding: Sequence[int], stored: set[int]) -> list[tuple[int, bool]]:
    """The acks for the `stored` tags among the `outstanding` ones (ascending): (tag, multiple). A
    leading run of stored tags is acknowledged with one `multiple` ack; the others one by one, so
    that no delivery is acknowledged before it is stored."""
    leading = list(itertools.takewhile(lambda tag: tag in stored, outstanding))
    acks = [(leading[-1], True)] if len(leading) > 1 else [(tag, False) for tag in leading]
    acks += [(tag, False) for tag in outstanding[len(leading) :] if tag in stored]
    return acks
