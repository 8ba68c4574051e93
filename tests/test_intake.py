"""The intake on the real RabbitMQ and real databases: paths relative to the inbox, claims for the
files over the message limit, a missing claim as a known failure, and a limit learned from the
broker's refusal."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
from structlog.testing import capture_logs

from tests.support.broker_limits import broker_max_message_size
from tests.support.pipeline_kit import AMQP, delete_namespace, new_namespace
from tests.support.servers import require
from worker.adapters.broker import Broker, Delivery, Topology
from worker.adapters.db import make_engine
from worker.adapters.store import Store
from worker.adapters.watch import DroppedFile
from worker.claims import Claims
from worker.files import FileData
from worker.intake import Intake
from worker.messages import file_message, read_file_message, read_file_messages

pytestmark = pytest.mark.rabbitmq
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _rabbitmq() -> None:
    require("127.0.0.1", 5672, "RabbitMQ")


@pytest.fixture
def topology() -> Iterator[Topology]:
    namespace = new_namespace()
    yield Topology(namespace)
    delete_namespace(namespace)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def broker() -> Iterator[Broker]:
    publisher = Broker(AMQP, "test-intake", transactional=True)
    yield publisher
    publisher.close()


def take_all(queue: str) -> list[Delivery]:
    """Every message in a queue, acknowledged (the queue is left empty)."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    taken = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        taken.append(Delivery(method.delivery_tag, method.redelivered, properties, body))
    connection.close()
    return taken


def dropped(path: Path) -> DroppedFile:
    stat = path.stat()
    return DroppedFile(path, stat.st_size, stat.st_mtime_ns)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql)]


def test_files_from_the_watcher_carry_their_path_relative_to_the_inbox(
    broker: Broker, store: Store, topology: Topology, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    deep = write(inbox / "2024" / "huaian.pdf", b"%PDF-1.7 not really")
    top = write(inbox / "top.txt", b"report")
    intake = Intake(broker, store, topology, 10**6, inbox=inbox)
    intake([dropped(deep), dropped(top)])
    files = [read_file_message(d) for d in take_all(topology.parse)]
    assert sorted((f.path, f.filename, f.data) for f in files) == [
        ("2024/huaian.pdf", "huaian.pdf", deep.read_bytes()),
        ("top.txt", "top.txt", b"report"),
    ]
    # The handovers table keeps the absolute path: it is the watcher's own memory of the share.
    assert sorted(rows(store, "SELECT path FROM handovers")) == [(str(deep),), (str(top),)]
    assert intake.is_handed_over(dropped(deep))


def test_a_file_over_the_message_limit_travels_by_claim(
    broker: Broker, store: Store, topology: Topology, tmp_path: Path
) -> None:
    big = write(tmp_path / "inbox" / "big.pdf", bytes(range(256)) * 40)  # 10,240 bytes
    small = write(tmp_path / "inbox" / "small.txt", b"small")
    intake = Intake(broker, store, topology, 10**6, inbox=tmp_path / "inbox", message_limit=10_000)
    intake([dropped(big), dropped(small)])
    deliveries = take_all(topology.parse)
    by_name = {d.headers["filename"]: d for d in deliveries}
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    assert by_name["big.pdf"].body == b"" and by_name["big.pdf"].headers["claim"] == sha
    assert "claim" not in by_name["small.txt"].headers and by_name["small.txt"].body == b"small"
    assert rows(store, "SELECT sha256, size FROM claims") == [(sha, 10_240)]
    files = {f.filename: f for f, _ in read_file_messages(deliveries, store)}
    assert files["big.pdf"].data == big.read_bytes() and files["big.pdf"].sha256 == sha
    assert not files["big.pdf"].too_large and files["small.txt"].data == b"small"


def test_the_same_claim_twice_is_held_once_and_its_age_starts_again(store: Store) -> None:
    data = b"x" * 100
    file = FileData("a.pdf", "a.pdf", 100, 1, hashlib.sha256(data).hexdigest(), data)
    claims = Claims(store)
    claims.put([file, file])
    [(first,)] = rows(store, "SELECT created_at FROM claims")
    claims.put([file])
    [(second,)] = rows(store, "SELECT created_at FROM claims")
    assert second != first and claims.fetch([file.sha256]) == {file.sha256: data}
    assert claims.fetch(["0" * 64]) == {} and claims.fetch([]) == {}


def test_a_missing_claim_comes_back_with_its_failure_and_stores_nothing_itself(
    broker: Broker, store: Store, topology: Topology
) -> None:
    data = b"gone" * 1000
    file = FileData("lost.pdf", "2024/lost.pdf", len(data), 10**18, hashlib.sha256(data).hexdigest(), data)
    broker.declare(topology)
    broker.publish([file_message(topology, file, claimed=True)])  # no claim was stored
    [delivery] = take_all(topology.parse)
    with capture_logs() as logs:
        [(read, failure)] = read_file_messages([delivery], store)
    assert read.data is None and read.sha256 == file.sha256 and read.path == "2024/lost.pdf"
    assert failure is not None and failure.result.failure is not None
    assert failure.result.failure.reason.value == "unreadable" and "claims table" in failure.result.failure.message
    assert failure.result.source.sha256 == file.sha256
    assert rows(store, "SELECT id FROM reports") == [] and rows(store, "SELECT id FROM outbox") == []
    assert [e["log_level"] for e in logs if e["event"] == "claim.missing"] == ["warning"]


@pytest.mark.slow
def test_a_broker_refusing_a_message_as_too_big_teaches_the_limit(
    broker: Broker, store: Store, topology: Topology, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    big = write(inbox / "scan.pdf", b"%PDF" + b"\x00" * (17 * MiB))
    small = write(inbox / "small.txt", b"small")
    # A setting above what the broker accepts (RabbitMQ 4's default is 16 MiB).
    intake = Intake(broker, store, topology, 40 * MiB, inbox=inbox, message_limit=64 * MiB)
    with capture_logs() as logs, broker_max_message_size(16 * MiB):
        intake([dropped(big), dropped(small)])
    [learned] = [e for e in logs if e["event"] == "broker.message_limit_learned"]
    assert learned["log_level"] == "warning" and learned["limit"] == intake.message_limit < 16 * MiB
    deliveries = take_all(topology.parse)
    files = {f.filename: f for f, _ in read_file_messages(deliveries, store)}
    assert files["scan.pdf"].data == big.read_bytes() and files["small.txt"].data == b"small"
    assert sorted(d.headers["filename"] for d in deliveries) == ["scan.pdf", "small.txt"]  # each once
    assert len(rows(store, "SELECT sha256 FROM handovers")) == 2
