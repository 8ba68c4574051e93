"""A file's outcome is stored and announced when its own parse ends: a slow file holds up none of
the files that finish after it (the real consumer process, RabbitMQ and database)."""

import hashlib
import signal
import time
from pathlib import Path

import pytest

from tests.corpus import CORPUS
from tests.support.big_documents import big_html
from tests.support.pipeline_kit import (
    AMQP,
    EventSink,
    as_message,
    publish_files,
    wait_until,
)
from tests.support.process import Govreport, environment
from tests.support.servers import require
from worker.adapters.broker import Broker, Topology
from worker.files import FileData

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(240)]
SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))


@pytest.fixture(autouse=True)
def _rabbitmq() -> None:
    require("127.0.0.1", 5672, "RabbitMQ")


def ready(namespace: str) -> int:
    """Messages waiting in the parse queue (not delivered to a consumer)."""
    broker = Broker(AMQP, "test-inspect")
    with broker.translated() as channel:
        count = int(channel.queue_declare(Topology(namespace).parse, passive=True).method.message_count)
    broker.close()
    return count


def announced(sink: EventSink, name: str) -> bool:
    return any(body["data"]["source"]["filename"] == name for _, body, _ in sink.events)


def test_a_big_file_does_not_delay_a_small_one_published_after_it(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    data = big_html()
    big = FileData("big.html", "big.html", len(data), time.time_ns(), hashlib.sha256(data).hexdigest(), data)
    command = Govreport(["consume"], environment(namespace, tmp_path, GOVREPORT_CONCURRENCY="2"))
    try:
        assert command.wait_for("govreport.started")
        publish_files(namespace, [big])
        assert wait_until(lambda: ready(namespace) == 0, timeout=30)  # the consumer took it: it is parsing
        published = time.monotonic()
        publish_files(namespace, [as_message(SEEDS[1], "small.txt")])
        assert wait_until(lambda: announced(sink, "small.txt"), timeout=30)
        waited = time.monotonic() - published
        assert not announced(sink, "big.html"), "the big file was not parsing any more: nothing was shown"
        assert waited < 1.0, f"the small file waited {waited:.1f} s"
        assert wait_until(lambda: announced(sink, "big.html"), timeout=120)
        command.send(signal.SIGTERM)
        assert command.wait(15) == 0
    finally:
        command.close()
    assert [body["data"]["source"]["filename"] for _, body, _ in sink.events] == ["small.txt", "big.html"]
    assert {body["data"]["status"] for _, body, _ in sink.events} == {"valid"}


def test_a_file_whose_claim_is_gone_is_stored_once_as_unreadable_and_announced_once(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    data = b"gone" * 1000
    lost = FileData("lost.pdf", "2024/lost.pdf", len(data), time.time_ns(), hashlib.sha256(data).hexdigest(), data)
    command = Govreport(["consume"], environment(namespace, tmp_path))
    try:
        assert command.wait_for("govreport.started")
        publish_files(namespace, [lost], claimed=True)  # no claim was stored for it
        assert wait_until(lambda: announced(sink, "lost.pdf"), timeout=30)
        command.send(signal.SIGTERM)
        assert command.wait(15) == 0
        [missing] = command.events("claim.missing")
        [stored] = command.events("report.stored")
        assert command.events("report.duplicate") == []
    finally:
        command.close()
    assert missing["level"] == "warning" and missing["sha256"] == lost.sha256
    assert (stored["status"], stored["reason"]) == ("failed", "unreadable")
    [(_, body, _)] = sink.events
    assert body["data"]["status"] == "failed" and body["data"]["failure"]["reason"] == "unreadable"
    assert "claims table" in body["data"]["failure"]["message"]
