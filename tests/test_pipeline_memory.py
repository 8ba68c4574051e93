"""The pipeline's workers on the in-memory broker and a SQLite store: no server needed."""

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.corpus import CORPUS
from tests.support.memory_broker import MemoryBroker
from worker.adapters.broker import Topology
from worker.adapters.broker_errors import PublishRefused
from worker.adapters.db import DatabaseUnavailable, make_engine, upgrade
from worker.adapters.handovers import Handovers
from worker.adapters.outbox import Outbox
from worker.adapters.store import Outcome, Saved, Store
from worker.adapters.watch import DroppedFile
from worker.consumer import Consumer, ack_ranges
from worker.core.parse import Parsed
from worker.errors import TransientError
from worker.files import read_file
from worker.intake import Intake
from worker.jobs import ParseJob, parse_job
from worker.messages import file_message
from worker.relay import Relay
from worker.retry import keep_running

SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))
TOPOLOGY = Topology("mem", delivery_limit=2)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(f"sqlite:///{tmp_path / 'govreport.db'}")
    upgrade(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def broker() -> MemoryBroker:
    memory = MemoryBroker()
    memory.declare(TOPOLOGY)
    memory.bind("sink", TOPOLOGY.events, "report.#")
    return memory


def dropped(path: Path) -> DroppedFile:
    stat = path.stat()
    return DroppedFile(path, stat.st_size, stat.st_mtime_ns)


def publish_seeds(broker: MemoryBroker, tmp_path: Path, names: list[str]) -> None:
    for name, seed in zip(names, SEEDS, strict=False):
        path = tmp_path / name
        path.write_bytes(seed.read_bytes())
        broker.publish([file_message(TOPOLOGY, read_file(path, 10**8))])


def consume_once(broker: MemoryBroker, store: Store, **options: object) -> Consumer:
    """One pass of the consumer: with `stop` already set it takes one poll's deliveries, stores them and stops."""
    stop = threading.Event()
    stop.set()
    consumer = Consumer(broker, store, TOPOLOGY, pool=None, stop=stop, max_bytes=10**8, **options)  # type: ignore[arg-type]
    consumer.run()
    return consumer


def count(store: Store, table: str) -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def test_intake_publishes_settled_files_and_remembers_them(broker: MemoryBroker, store: Store, tmp_path: Path) -> None:
    small, big = tmp_path / "a.txt", tmp_path / "big.txt"
    small.write_bytes(SEEDS[0].read_bytes())
    big.write_bytes(b"x" * 20_000)
    gone = DroppedFile(tmp_path / "gone.txt", 1, 1)
    intake = Intake(broker, store, TOPOLOGY, max_bytes=10_000)
    intake([dropped(small), dropped(big), gone])
    assert broker.bodies(TOPOLOGY.parse) == [small.read_bytes(), b""]
    headers = [d.headers for d in broker.queues[TOPOLOGY.parse]]
    assert [(h["filename"], h["too_large"]) for h in headers] == [("a.txt", False), ("big.txt", True)]
    assert intake.is_handed_over(dropped(small)) and intake.is_handed_over(dropped(big))
    assert not intake.is_handed_over(gone)


def test_intake_records_nothing_when_the_broker_refuses(broker: MemoryBroker, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(SEEDS[0].read_bytes())
    broker.refuse = True
    intake = Intake(broker, store, TOPOLOGY, max_bytes=10**8)
    with pytest.raises(PublishRefused):
        intake([dropped(path)])
    assert not intake.is_handed_over(dropped(path))


def test_the_consumer_stores_a_batch_then_acks_it(broker: MemoryBroker, store: Store, tmp_path: Path) -> None:
    publish_seeds(broker, tmp_path, ["a.txt", "b.txt", "c.txt"])
    committed: list[bool] = []
    consume_once(broker, store, committed=lambda: committed.append(True))
    assert broker.bodies(TOPOLOGY.parse) == [] and broker.unacked == {}
    assert count(store, "reports") == 3 and count(store, "sightings") == 3
    assert Outbox(store).pending() == 3 and committed
    assert broker.closed == 1 and broker.consuming == []


def test_a_message_that_keeps_failing_is_dead_lettered_then_stored_as_a_failure(
    broker: MemoryBroker, store: Store, tmp_path: Path
) -> None:
    publish_seeds(broker, tmp_path, ["bad.txt", "good.txt"])

    def crash_on_bad(job: ParseJob) -> Parsed:
        if job.filename == "bad.txt":
            raise RuntimeError("a parser bug")
        return parse_job(job)

    for _ in range(TOPOLOGY.delivery_limit):
        consume_once(broker, store, parse=crash_on_bad)
    assert broker.bodies(TOPOLOGY.parse) == [] and len(broker.bodies(TOPOLOGY.dlq)) == 1
    consume_once(broker, store, parse=crash_on_bad)  # the dead-letter queue is consumed beside the parse queue
    assert broker.bodies(TOPOLOGY.dlq) == [] and broker.unacked == {}
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT filename, status, failure_reason FROM reports").all()
    assert sorted(tuple(r) for r in rows) == [("bad.txt", "failed", "internal_error"), ("good.txt", "valid", None)]


class _DownStore(Store):
    def save(self, _outcomes: object) -> list[Saved]:
        raise DatabaseUnavailable("down for the test")


def test_with_the_database_down_the_batch_goes_back_to_the_queue(
    broker: MemoryBroker, store: Store, tmp_path: Path
) -> None:
    publish_seeds(broker, tmp_path, ["a.txt", "b.txt"])
    consume_once(broker, _DownStore(store.engine))
    assert len(broker.bodies(TOPOLOGY.parse)) == 2 and broker.unacked == {}
    assert count(store, "reports") == 0


def test_the_relay_publishes_stored_events_once(broker: MemoryBroker, store: Store, tmp_path: Path) -> None:
    publish_seeds(broker, tmp_path, ["a.txt", "b.txt"])
    consume_once(broker, store)
    relay = Relay(broker, store, TOPOLOGY, stop=threading.Event(), wake=threading.Event())
    broker.refuse = True
    with pytest.raises(PublishRefused):
        relay.publish_once()
    assert Outbox(store).pending() == 2
    broker.refuse = False
    assert relay.publish_once() == 2 and relay.publish_once() == 0
    events = [json.loads(body) for body in broker.bodies("sink")]
    assert {e["data"]["source"]["filename"] for e in events} == {"a.txt", "b.txt"}
    assert [d.properties.type for d in broker.queues["sink"]] == [e["type"] for e in events]


def test_the_relay_runs_until_stopped(broker: MemoryBroker, store: Store) -> None:
    stop, wake = threading.Event(), threading.Event()
    relay = Relay(broker, store, TOPOLOGY, stop=stop, wake=wake, interval=0.01)
    thread = threading.Thread(target=relay.run)
    thread.start()
    stop.set()
    wake.set()
    thread.join(5)
    assert not thread.is_alive() and broker.closed == 1


def test_handovers_are_recorded_once(store: Store) -> None:
    handovers = Handovers(store)
    handovers.record([("/in/a.pdf", 10, 5, "0" * 64)])
    handovers.record([("/in/a.pdf", 10, 5, "0" * 64), ("/in/b.pdf", 11, 6, "1" * 64)])
    handovers.record([])
    assert handovers.seen("/in/a.pdf", 10, 5) and not handovers.seen("/in/a.pdf", 10, 6)
    assert count(store, "handovers") == 2


def test_keep_running_retries_a_transient_error_and_closes_the_broker(broker: MemoryBroker) -> None:
    stop = threading.Event()
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise TransientError("down once")
        stop.set()

    keep_running(work, broker, stop, "test")
    assert len(calls) == 2 and broker.closed == 1


def test_keep_running_stops_while_unavailable(broker: MemoryBroker) -> None:
    stop = threading.Event()

    def work() -> None:
        stop.set()
        raise TransientError("down")

    keep_running(work, broker, stop, "test")
    assert broker.closed == 1


def test_a_stored_outcome_without_arrival_is_kept(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(SEEDS[0].read_bytes())
    file = read_file(path, 10**8)
    parsed = parse_job(ParseJob(file.data, file.filename, file.sha256, file.size, 10**8))
    assert store.save([Outcome(parsed.result, file.data)])[0].created


@pytest.mark.parametrize(
    ("outstanding", "stored", "acks"),
    [
        ([1, 2, 3], {1, 2, 3}, [(3, True)]),
        ([1, 2, 3], {1}, [(1, False)]),
        ([1, 2, 3], {2, 3}, [(2, False), (3, False)]),
        ([4, 5, 7, 9], {4, 5, 9}, [(5, True), (9, False)]),
        ([4, 5], set(), []),
    ],
)
def test_only_stored_deliveries_are_acknowledged(
    outstanding: list[int], stored: set[int], acks: list[tuple[int, bool]]
) -> None:
    assert ack_ranges(outstanding, stored) == acks


class _RefusingStore(Store):
    """A store with a bug for one file name (not an outage)."""

    def save(self, outcomes: list[Outcome]) -> list[Saved]:
        if any(o.result.source.filename == "bad.txt" for o in outcomes):
            raise ValueError("a bug in the store")
        return super().save(outcomes)


def test_a_message_the_store_fails_on_goes_back_alone(broker: MemoryBroker, store: Store, tmp_path: Path) -> None:
    publish_seeds(broker, tmp_path, ["good.txt", "bad.txt", "fine.txt"])
    consume_once(broker, _RefusingStore(store.engine))
    assert [d.headers["filename"] for d in broker.queues[TOPOLOGY.parse]] == ["bad.txt"]
    assert broker.queues[TOPOLOGY.parse][0].delivery_count == 1
    with store.engine.connect() as connection:
        names = connection.exec_driver_sql("SELECT filename FROM reports ORDER BY filename").scalars().all()
    assert names == ["fine.txt", "good.txt"]


def test_a_dead_letter_the_store_fails_on_stays_in_the_dead_letter_queue(
    broker: MemoryBroker, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(SEEDS[0].read_bytes())
    message = file_message(TOPOLOGY, read_file(path, 10**8))
    broker.publish([replace(message, exchange=TOPOLOGY.dlx)])
    consume_once(broker, _RefusingStore(store.engine))
    # Held (not requeued at once, to fail again in a loop) until the consumer stopped: back in the queue.
    assert len(broker.bodies(TOPOLOGY.dlq)) == 1 and broker.unacked == {}
    assert count(store, "reports") == 0
