"""Claims: a file bigger than the broker's message limit goes through the real pipeline (watcher,
RabbitMQ with RabbitMQ 4's 16 MiB max_message_size, the real consumer) to a stored report; claims
are pruned once their report is stored, and at their maximum age."""

import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.support.broker_limits import broker_max_message_size
from tests.support.pipeline_kit import AMQP, EventSink, delete_namespace, new_namespace, wait_until
from tests.support.servers import require
from worker.adapters.db import make_engine
from worker.adapters.store import Outcome, Store
from worker.claims import CLAIMS, Claims, prune_claims
from worker.config import Settings
from worker.core.parse import failed
from worker.core.result import FailureReason, Source
from worker.files import FileData
from worker.models import utcnow
from worker.runner import Roles, run

MiB = 1024 * 1024
SEED = sorted((Path(__file__).parent / "fixtures" / "corpus" / "seeds").glob("*.txt"))[0]


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    yield Store(engine)
    engine.dispose()


def claim(store: Store, name: str, *, age: timedelta, stored: bool) -> str:
    """Hold a claim `age` old; with `stored`, its report is stored too. Its SHA-256."""
    data = name.encode() * 10
    sha = hashlib.sha256(data).hexdigest()
    Claims(store).put([FileData(name, name, len(data), 1, sha, data)])
    with store.begin() as connection:
        connection.execute(CLAIMS.update().where(CLAIMS.c.sha256 == sha).values(created_at=utcnow() - age))
    if stored:
        result = failed(Source(filename=name, sha256=sha, bytes=len(data)), FailureReason.NOT_A_REPORT, "test")
        store.save([Outcome(result)])
    return sha


def held(store: Store) -> set[str]:
    with store.engine.connect() as connection:
        return {sha for (sha,) in connection.exec_driver_sql("SELECT sha256 FROM claims")}


def test_claims_are_pruned_after_their_report_is_stored_and_at_their_maximum_age(store: Store) -> None:
    hour, day = timedelta(hours=1), timedelta(days=1)
    consumed = claim(store, "consumed", age=2 * hour, stored=True)
    just_consumed = claim(store, "just-consumed", age=timedelta(minutes=5), stored=True)
    waiting = claim(store, "waiting", age=2 * day, stored=False)
    abandoned = claim(store, "abandoned", age=8 * day, stored=False)
    assert prune_claims(store, grace=hour, max_age=7 * day) == 2
    assert held(store) == {just_consumed, waiting}
    assert consumed and abandoned
    assert prune_claims(store, grace=hour, max_age=7 * day) == 0
    assert prune_claims(store, grace=timedelta(0), max_age=day) == 2
    assert held(store) == set()


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_a_30_mib_file_passes_a_16_mib_broker_to_a_stored_report(tmp_path: Path) -> None:
    require("127.0.0.1", 5672, "RabbitMQ")
    namespace = new_namespace()
    # A real report with 30 MiB of HTML comment: parsed in well under a second.
    data = (
        b"<html><head><meta charset='utf-8'></head><body><pre>"
        + SEED.read_bytes()
        + b"</pre><!--"
        + b" " * (30 * MiB)
        + b"--></body></html>"
    )
    sha = hashlib.sha256(data).hexdigest()
    settings = Settings(
        inbox=tmp_path / "inbox",
        amqp_url=AMQP,
        namespace=namespace,
        database_url=f"sqlite:///{tmp_path / 'govreport.db'}",
        concurrency=1,
        relay_interval=0.2,
        max_bytes=40 * MiB,  # the pipeline's own limit, above the broker's
    )
    settings.inbox.mkdir()
    stop = threading.Event()
    sink = EventSink(namespace)
    pipeline = threading.Thread(target=run, args=(settings, Roles(), stop), daemon=True)
    try:
        with broker_max_message_size(16 * MiB), capture_logs() as logs:
            pipeline.start()
            staging = tmp_path / "staging.html"
            staging.write_bytes(data)
            os.rename(staging, settings.inbox / "big.html")
            events = sink.wait_for(1, timeout=120)
    finally:
        stop.set()
        pipeline.join(30)
        sink.close()
        delete_namespace(namespace)
    assert not pipeline.is_alive()
    [claimed] = [e for e in logs if e["event"] == "file.claimed"]
    assert claimed["size"] == len(data) and not [e for e in logs if e["event"] == "broker.message_limit_learned"]
    [(_, event, _)] = events
    assert event["data"]["source"]["sha256"] == sha and event["data"]["source"]["bytes"] == len(data)
    assert event["data"]["status"] in {"valid", "invalid"}
    store = Store(make_engine(settings.database))
    try:
        with store.engine.connect() as connection:
            [(report_sha, content)] = connection.exec_driver_sql(
                "SELECT reports.sha256, contents.data FROM reports JOIN contents ON contents.report_id = reports.id"
            ).all()
        assert report_sha == sha and hashlib.sha256(content).hexdigest() == sha
        assert held(store) == {sha}  # the claim stays for its grace period, then goes
        assert wait_until(lambda: prune_claims(store, grace=timedelta(0)) == 1, timeout=5)
        assert held(store) == set()
    finally:
        store.engine.dispose()
