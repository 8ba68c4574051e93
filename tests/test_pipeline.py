"""The pipeline on the real RabbitMQ and real databases: spec §5's promises, one by one."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pika.spec import BasicProperties
from sqlmodel import SQLModel

from tests.corpus import CORPUS
from tests.native.office import render_docx, render_xlsx
from tests.native.pdf import render_pdf
from tests.render import native_blocks, random_cells
from tests.support.faults import crash_or_hang
from tests.support.in_process import Pipeline, quick_settings
from tests.support.pipeline_kit import (
    AMQP,
    EventSink,
    Proxy,
    as_message,
    publish_files,
    wait_until,
)
from tests.support.servers import require
from worker.adapters.broker import Broker, Message, Topology
from worker.adapters.db import make_engine, upgrade
from worker.adapters.queries import Reader
from worker.adapters.store import Store
from worker.config import Settings
from worker.consumer import Consumer
from worker.core.parse import Parsed
from worker.jobs import ParseJob, parse_job
from worker.parsing import ParsePool, PoolSettings
from worker.relay import Relay
from worker.runner import Roles

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]
SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))
SCHEMAS = Path(__file__).parent.parent / "schemas"
GOVREPORT = Path(sys.executable).parent / "govreport"


@pytest.fixture(autouse=True)
def _rabbitmq() -> None:
    require("127.0.0.1", 5672, "RabbitMQ")


def settings_for(namespace: str, tmp_path: Path, **overrides: object) -> Settings:
    """A quick pipeline whose messages are dead-lettered after two deliveries."""
    return quick_settings(namespace, tmp_path, **{"delivery_limit": 2, **overrides})


def validator(routing_key: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"event.{routing_key}.schema.json").read_text(encoding="utf-8"))
    registry_schema = json.loads((SCHEMAS / "report.schema.json").read_text(encoding="utf-8"))
    assert registry_schema["$id"].endswith("report.schema.json")
    return Draft202012Validator(schema)


def test_a_dropped_file_gives_one_stored_outcome_and_one_valid_event(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    with Pipeline(settings_for(namespace, tmp_path)) as pipeline:
        time.sleep(0.5)
        shutil.copy(SEEDS[2], pipeline.settings.inbox / "report.txt")
        events = sink.wait_for(1)
        time.sleep(1.0)  # nothing more may come
        assert len(sink.events) == 1
        assert pipeline.count("SELECT count(*) FROM reports") == 1
    routing_key, body, properties = events[0]
    assert routing_key == "report.valid"
    assert list(validator(routing_key).iter_errors(body)) == []
    assert body["data"]["source"]["filename"] == "report.txt"
    assert properties.message_id == body["id"]
    assert properties.type == body["type"] == "cn.govreport.report.valid.v1"
    assert properties.content_type == "application/cloudevents+json"
    assert properties.delivery_mode == 2


def test_same_content_twice_and_a_message_delivered_twice_give_one_outcome(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    settings = settings_for(namespace, tmp_path)
    with Pipeline(settings) as pipeline:
        time.sleep(0.5)
        shutil.copy(SEEDS[0], settings.inbox / "a.txt")
        shutil.copy(SEEDS[0], settings.inbox / "copy of a.txt")
        publish_files(namespace, [as_message(SEEDS[1])] * 2, settings.delivery_limit)
        sink.wait_for(2)
        assert wait_until(lambda: pipeline.count("SELECT count(*) FROM sightings") == 3)
        time.sleep(1.0)
        assert pipeline.count("SELECT count(*) FROM reports") == 2
        assert pipeline.count("SELECT count(*) FROM outbox") == 2
    assert len(sink.events) == 2
    assert len({body["id"] for _, body, _ in sink.events}) == 2


def test_a_file_written_slowly_is_read_once_complete(namespace: str, sink: EventSink, tmp_path: Path) -> None:
    data = SEEDS[3].read_bytes()
    settings = settings_for(namespace, tmp_path, quiet=0.3)
    with Pipeline(settings) as pipeline:
        time.sleep(0.5)
        with (settings.inbox / "slow.txt").open("wb") as handle:
            for start in range(0, len(data), 1000):
                handle.write(data[start : start + 1000])
                handle.flush()
                time.sleep(0.1)
        sink.wait_for(1)
        time.sleep(1.0)
        assert pipeline.count("SELECT count(*) FROM reports") == 1
    (_, body, _) = sink.events[0]
    assert body["data"]["source"]["bytes"] == len(data)
    assert body["data"]["status"] == "valid"


def test_files_present_before_start_up_are_ingested_and_not_again_after_a_restart(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    settings = settings_for(namespace, tmp_path)
    settings.inbox.mkdir(parents=True)
    for seed in SEEDS:
        shutil.copy(seed, settings.inbox / seed.name)
    (settings.inbox / ".hidden.txt").write_bytes(b"x")
    (settings.inbox / "partial.part").write_bytes(b"x")
    with Pipeline(settings):
        sink.wait_for(len(SEEDS))
    with Pipeline(settings) as again:
        time.sleep(2.5)  # two rescans
        assert again.count("SELECT count(*) FROM handovers") == len(SEEDS)
        assert again.count("SELECT count(*) FROM reports") == len(SEEDS)
    assert len(sink.events) == len(SEEDS)
    assert sorted(f.name for f in settings.inbox.iterdir()) == sorted(
        [*(s.name for s in SEEDS), ".hidden.txt", "partial.part"]
    )


def test_bad_files_become_stored_failures_with_events(namespace: str, sink: EventSink, tmp_path: Path) -> None:
    settings = settings_for(namespace, tmp_path, max_bytes=20_000)
    with Pipeline(settings) as pipeline:
        time.sleep(0.5)
        inbox = settings.inbox
        (inbox / "empty.txt").write_bytes(b"")
        (inbox / "junk.bin").write_bytes(bytes(range(256)) * 64)
        (inbox / "news.txt").write_text("今天天气很好,我们去公园散步。" * 20, encoding="utf-8")
        (inbox / "huge.txt").write_bytes(SEEDS[0].read_bytes() * 10)
        sink.wait_for(4)
        time.sleep(0.5)
        assert pipeline.count("SELECT count(*) FROM reports WHERE status = 'failed'") == 4
    reasons = sorted(body["data"]["failure"]["reason"] for _, body, _ in sink.events)
    assert reasons == ["empty", "not_a_report", "too_large", "unreadable"]
    assert {key for key, _, _ in sink.events} == {"report.failed"}
    for key, body, _ in sink.events:
        assert list(validator(key).iter_errors(body)) == []


def _consume_and_relay(
    consumer: Consumer, store: Store, topology: Topology, sink: EventSink, wake: threading.Event, count: int
) -> list[tuple[str, dict[str, Any], Any]]:
    """Run a consumer and a relay in threads until `count` events arrived; stop them both."""
    relay = Relay(Broker(AMQP, "test-relay"), store, topology, stop=consumer.stop, wake=wake, interval=0.2)
    threads = [threading.Thread(target=consumer.run), threading.Thread(target=relay.run)]
    for thread in threads:
        thread.start()
    try:
        return sink.wait_for(count, timeout=60)
    finally:
        consumer.stop.set()
        for thread in threads:
            thread.join(30)


def _parse_with_a_bug(job: ParseJob) -> Parsed:
    """The real parser, except that one file makes it raise, as a bug that escapes would."""
    if job.filename == "poison.txt":
        raise RuntimeError("a parser bug that escapes")
    return parse_job(job)


def test_a_poison_message_ends_in_the_dead_letter_queue_and_a_failure_event(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    settings = settings_for(namespace, tmp_path)
    engine = make_engine(settings.database)
    upgrade(engine)
    store = Store(engine)
    topology = Topology(namespace, settings.delivery_limit)
    stop, wake = threading.Event(), threading.Event()
    consumer = Consumer(
        Broker(AMQP, "test-consumer"),
        store,
        topology,
        pool=None,
        stop=stop,
        max_bytes=settings.max_bytes,
        committed=wake.set,
        parse=_parse_with_a_bug,
    )
    publish_files(namespace, [as_message(SEEDS[0], "poison.txt"), as_message(SEEDS[4])], settings.delivery_limit)
    events = _consume_and_relay(consumer, store, topology, sink, wake, count=2)
    by_status = {body["data"]["status"]: body for _, body, _ in events}
    assert set(by_status) == {"valid", "failed"}
    failure = by_status["failed"]["data"]
    assert failure["failure"]["reason"] == "internal_error"
    assert failure["source"]["filename"] == "poison.txt"
    assert "dead-lettered" in failure["failure"]["message"]
    stored = Reader(store).get(failure["source"]["sha256"])
    assert stored is not None and stored.result.failure is not None  # kept, with its bytes, for reprocess
    assert len(sink.events) == 2
    engine.dispose()


def test_a_malformed_message_from_another_publisher_is_a_stored_failure(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    settings = settings_for(namespace, tmp_path)
    topology = Topology(namespace, settings.delivery_limit)
    broker = Broker(AMQP, "test-foreign")
    topology.declare(broker.connect())
    foreign = BasicProperties(delivery_mode=2, headers={"size": "not a number", "mtime_ns": -5})
    broker.publish([Message(topology.files, "file", b"\x00\x01binary", foreign)])
    broker.close()
    with Pipeline(settings, Roles(watch=False)):
        (event,) = sink.wait_for(1)
    assert event[1]["data"]["failure"]["reason"] == "unreadable"
    assert event[1]["data"]["source"]["filename"] == "unnamed"


@pytest.mark.postgres
def test_with_the_database_down_messages_wait_and_are_stored_when_it_is_back(
    namespace: str, sink: EventSink, tmp_path: Path, postgres_url: str
) -> None:
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(SQLModel.metadata.tables)}")
    proxy = Proxy(("127.0.0.1", 5432))
    proxied = postgres_url.replace("127.0.0.1/", f"127.0.0.1:{proxy.port}/")
    settings = settings_for(namespace, tmp_path, database_url=proxied)
    try:
        with Pipeline(settings, Roles(watch=False)):
            time.sleep(1.0)
            proxy.cut()
            publish_files(namespace, [as_message(p) for p in SEEDS], settings.delivery_limit)
            time.sleep(3.0)
            with engine.connect() as connection:
                assert connection.exec_driver_sql("SELECT count(*) FROM reports").scalar_one() == 0
            assert sink.events == []
            proxy.restore()
            sink.wait_for(len(SEEDS), timeout=60)
    finally:
        proxy.close()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM reports").scalar_one() == len(SEEDS)
    assert len({body["id"] for _, body, _ in sink.events}) == len(SEEDS)
    engine.dispose()


def _environment(namespace: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "GOVREPORT_NAMESPACE": namespace,
        "GOVREPORT_AMQP_URL": AMQP,
        "GOVREPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'govreport.db'}",
        "GOVREPORT_INBOX": str(tmp_path / "inbox"),
        "GOVREPORT_CONCURRENCY": "1",
        "GOVREPORT_METRICS_PORT": "0",  # tests run side by side: none takes the metrics port
        **extra,
    }


def _stored(tmp_path: Path) -> int:
    database = tmp_path / "db" / "govreport.db"
    if not database.exists():
        return 0
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        count = int(connection.exec_driver_sql("SELECT count(*) FROM reports").scalar_one())
    engine.dispose()
    return count


def test_a_consumer_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'govreport.db'}")
    upgrade(engine)
    engine.dispose()
    files = []
    for index in range(150):
        copy = tmp_path / f"r{index:03}.txt"
        copy.write_bytes(SEEDS[index % len(SEEDS)].read_bytes() + f"\n附注{index}\n".encode())
        files.append(as_message(copy))
    publish_files(namespace, files)
    env = _environment(namespace, tmp_path, GOVREPORT_BATCH_SIZE="20")
    consumer = subprocess.Popen([str(GOVREPORT), "consume"], env=env, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: _stored(tmp_path) >= 20, timeout=60)
    consumer.send_signal(signal.SIGKILL)
    consumer.wait(10)
    assert _stored(tmp_path) < 150, "killed too late to prove anything"
    restarted = subprocess.Popen([str(GOVREPORT), "consume"], env=env, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _stored(tmp_path) == 150, timeout=90)
        # Distinct subjects: an event published again after the kill (same id) is not one more report.
        wait_until(lambda: len({body["subject"] for _, body, _ in list(sink.events)}) >= 150, timeout=60)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(30)
    assert _stored(tmp_path) == 150
    assert len({body["subject"] for _, body, _ in sink.events}) == 150
    assert len({body["id"] for _, body, _ in sink.events}) == 150


def test_sigterm_stops_the_whole_pipeline_within_seconds_and_logs_no_secret(namespace: str, tmp_path: Path) -> None:
    env = _environment(namespace, tmp_path, GOVREPORT_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2F")
    process = subprocess.Popen([str(GOVREPORT), "run"], env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    shutil.copy(SEEDS[0], tmp_path / "inbox" / "a.txt")
    assert wait_until(lambda: _stored(tmp_path) == 1, timeout=30)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 5
    assert process.returncode == 0
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert all({"timestamp", "level", "event"} <= line.keys() for line in lines)
    stored = [line for line in lines if line["event"] == "report.stored"]
    assert len(stored) == 1 and stored[0]["filename"] == "a.txt" and len(stored[0]["sha256"]) == 64
    assert "govreport.stopped" in [line["event"] for line in lines]
    assert "guest:guest" not in stderr


def test_a_document_that_kills_its_parsing_process_fails_alone_at_once(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    settings = settings_for(namespace, tmp_path)
    engine = make_engine(settings.database)
    upgrade(engine)
    store = Store(engine)
    topology = Topology(namespace, settings.delivery_limit)
    stop, wake = threading.Event(), threading.Event()
    pool = ParsePool(PoolSettings(workers=2, seconds=30, memory=None), parse=crash_or_hang)
    consumer = Consumer(
        Broker(AMQP, "test-consumer"),
        store,
        topology,
        pool=pool,
        stop=stop,
        max_bytes=settings.max_bytes,
        committed=wake.set,
    )
    publish_files(namespace, [as_message(SEEDS[0], "crash.pdf"), as_message(SEEDS[4])], settings.delivery_limit)
    try:
        events = _consume_and_relay(consumer, store, topology, sink, wake, count=2)
    finally:
        pool.shutdown()
    by_status = {body["data"]["status"]: body["data"] for _, body, _ in events}
    assert set(by_status) == {"valid", "failed"}
    failure = by_status["failed"]["failure"]
    assert failure["reason"] == "internal_error" and "died" in failure["message"]
    # Ended at its first delivery: nothing went back to the queue or on to the dead letters.
    broker = Broker(AMQP, "test-inspect")
    with broker.translated() as channel:
        assert channel.queue_declare(topology.parse, passive=True).method.message_count == 0
        assert channel.queue_declare(topology.dlq, passive=True).method.message_count == 0
    broker.close()
    stored = Reader(store).get(by_status["failed"]["source"]["sha256"])
    assert stored is not None and stored.result.failure is not None
    assert len(sink.events) == 2
    engine.dispose()


def test_documents_dropped_in_every_format_are_ingested_and_announced(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    rng = random.Random(5)
    cells = random_cells(rng, "2021")
    blocks = native_blocks(cells, "2021", org="川汇区信访局", year=2023, rng=rng)
    documents = {
        "huaian-2024.pdf": (CORPUS / "native" / "huaian-2024.pdf").read_bytes(),
        "blank-form.docx": (CORPUS / "native" / "template-2021-blank.docx").read_bytes(),
        "report.docx": render_docx(blocks, rng),
        "report.xlsx": render_xlsx(blocks, rng),
        "report-drawn.pdf": render_pdf(blocks, ruled=False, rng=rng),
        "truncated.pdf": (CORPUS / "native" / "huaian-2024.pdf").read_bytes()[:4000],
    }
    with Pipeline(settings_for(namespace, tmp_path)) as pipeline:
        time.sleep(0.5)
        for name, data in documents.items():
            (pipeline.settings.inbox / name).write_bytes(data)
        events = sink.wait_for(len(documents), timeout=90)
        time.sleep(1.0)  # nothing more may come
        assert len(sink.events) == len(documents)
    by_name = {body["data"]["source"]["filename"]: (key, body["data"]) for key, body, _ in events}
    for key, body, _ in events:
        assert list(validator(key).iter_errors(body)) == []
    assert {n: d["source"]["format"] for n, (_, d) in by_name.items()} == {
        "huaian-2024.pdf": "pdf",
        "blank-form.docx": "docx",
        "report.docx": "docx",
        "report.xlsx": "xlsx",
        "report-drawn.pdf": "pdf",
        "truncated.pdf": "pdf",
    }
    assert by_name["huaian-2024.pdf"][0] == "report.valid" and by_name["huaian-2024.pdf"][1]["source"]["pages"] == 6
    assert by_name["blank-form.docx"][0] == "report.invalid"
    for name in ("report.docx", "report.xlsx", "report-drawn.pdf"):
        key, data = by_name[name]
        assert key == "report.valid" and data["cells"] == cells, name
    assert by_name["truncated.pdf"][1]["failure"]["reason"] == "unreadable"
