"""Versions and change events on the real RabbitMQ: through the outbox and the relay to a queue bound
to the events exchange, each event valid under the committed schema of its routing key."""

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.corpus import CORPUS
from tests.support.pipeline_kit import AMQP, EventSink, publish_files
from tests.support.servers import require
from worker.adapters.broker import Broker, Topology
from worker.adapters.db import make_engine, upgrade
from worker.adapters.queries import Filter, Reader
from worker.adapters.store import Outcome, Store
from worker.config import Settings
from worker.core import parse_bytes
from worker.events import event_id
from worker.files import FileData
from worker.relay import Relay
from worker.runner import Roles, run

pytestmark = [pytest.mark.rabbitmq]
SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))
SCHEMAS = Path(__file__).parent.parent / "schemas"
Event = tuple[str, dict[str, Any], Any]


@pytest.fixture(autouse=True)
def _rabbitmq() -> None:
    require("127.0.0.1", 5672, "RabbitMQ")


def assert_valid(events: list[Event]) -> None:
    for routing_key, body, properties in events:
        schema = json.loads((SCHEMAS / f"event.{routing_key}.schema.json").read_text(encoding="utf-8"))
        assert list(Draft202012Validator(schema).iter_errors(body)) == []
        assert properties.message_id == body["id"] and properties.type == body["type"]


def _yearly(year: int, carried_over: int, carried_forward: int) -> Outcome:
    base = parse_bytes(SEEDS[1].read_bytes(), SEEDS[1].name)
    cells = {
        **base.cells,
        "applications.carried_over.total": carried_over,
        "applications.carried_forward.total": carried_forward,
    }
    meta = base.meta.model_copy(update={"organization": "某县某局", "year": year})
    source = base.source.model_copy(update={"sha256": f"{year:064d}"})
    return Outcome(base.model_copy(update={"cells": cells, "meta": meta, "source": source}))


def test_a_late_previous_year_report_reaches_the_queue_as_a_change_event_of_the_newer_one(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'govreport.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = Store(engine)
    store.save([_yearly(2021, 2, 0)])
    store.save([_yearly(2020, 0, 3)])  # last year's report, after this year's

    topology = Topology(namespace)
    broker = Broker(AMQP, "test-relay")
    relay = Relay(broker, store, topology, stop=threading.Event(), wake=threading.Event())
    try:
        broker.declare(topology)
        assert relay.publish_once() == 3
    finally:
        broker.close()
        engine.dispose()
    events = sink.wait_for(3)
    assert len(events) == 3
    assert_valid(events)
    change = events[-1][1]
    newer = f"{2021:064d}"
    assert (change["subject"], change["revision"], change["cause"]) == (newer, 1, "crossyear")
    assert change["id"] == event_id(newer, store.parser_version, 1)
    assert change["id"] not in {body["id"] for _, body, _ in events[:-1]}
    assert change["issuesadded"] == "W_CROSS_YEAR" and change["changed"] == "issues"
    assert events[-1][0] == "report.valid"  # a warning: still valid


def _file(seed: Path, path: str, minute: int) -> FileData:
    """The message the watcher sends for `seed`'s bytes found at `path` (relative to the inbox)."""
    data = seed.read_bytes()
    mtime_ns = (1_800_000_000 + 60 * minute) * 10**9
    return FileData(Path(path).name, path, len(data), mtime_ns, hashlib.sha256(data).hexdigest(), data)


def test_a_replaced_file_is_announced_as_superseding_its_old_version(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    settings = Settings(
        amqp_url=AMQP,  # type: ignore[arg-type]
        namespace=namespace,
        database_url=f"sqlite:///{tmp_path / 'govreport.db'}",  # type: ignore[arg-type]
        inbox=tmp_path / "inbox",
        concurrency=1,
        relay_interval=0.2,
    )
    stop = threading.Event()
    pipeline = threading.Thread(target=run, args=(settings, Roles(watch=False), stop), daemon=True)
    pipeline.start()
    old, new = _file(SEEDS[0], "2024/huaian.txt", 0), _file(SEEDS[1], "2024/huaian.txt", 5)
    try:
        publish_files(namespace, [old], settings.delivery_limit)
        assert len(sink.wait_for(1)) == 1
        publish_files(namespace, [new], settings.delivery_limit)
        assert len(sink.wait_for(2)) == 2
        publish_files(namespace, [_file(SEEDS[0], "2024/huaian.txt", 9)], settings.delivery_limit)  # reverted
        events = sink.wait_for(3)
    finally:
        stop.set()
        pipeline.join(30)
    assert not pipeline.is_alive()
    assert len(events) == 3
    assert_valid(events)
    first, second, third = (body for _, body, _ in events)
    assert (first["path"], first["subject"], first["revision"]) == ("2024/huaian.txt", old.sha256, 0)
    assert (second["path"], second["subject"], second["supersedes"]) == ("2024/huaian.txt", new.sha256, old.sha256)
    assert (third["subject"], third["cause"], third["supersedes"]) == (old.sha256, "placement", new.sha256)

    engine = make_engine(settings.database)
    reader = Reader(Store(engine))
    stored = reader.get(new.sha256)
    assert stored is not None and (stored.path, stored.supersedes) == ("2024/huaian.txt", old.sha256)
    assert [r.sha256 for r in reader.list(Filter(current=True))] == [old.sha256]
    engine.dispose()
