"""`govreport run` / `consume` as real processes, on the real RabbitMQ: what they do at start (a
refusal stops them at once with one line; an outage is waited for), idle (a few wake-ups a
second, no spinning), and at a stop (in-flight work goes back to the queue within seconds; a
second signal exits at once)."""

import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.big_documents import big_html
from tests.support.pipeline_kit import (
    AMQP,
    EventSink,
    publish_files,
    wait_until,
)
from tests.support.process import (
    GOVREPORT,
    IDLE_WAKEUPS_PER_S,
    SPINNING_SHARE,
    Govreport,
    alive,
    cpu_seconds,
    descendants,
    environment,
    wakeups,
)
from tests.support.servers import PG_HOST, require
from worker.adapters.broker import Broker, Topology
from worker.adapters.db import make_engine, upgrade
from worker.files import FileData

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def _rabbitmq() -> None:
    require("127.0.0.1", 5672, "RabbitMQ")


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'db' / 'govreport.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def count(url: str, sql: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        value = int(connection.execute(text(sql)).scalar_one())
    engine.dispose()
    return value


def delivered(namespace: str) -> bool:
    """Whether the parse queue has no message ready (the consumer holds them)."""
    broker = Broker(AMQP, "test-inspect")
    with broker.translated() as channel:
        ready = int(channel.queue_declare(Topology(namespace).parse, passive=True).method.message_count)
    broker.close()
    return ready == 0


def big_file(name: str = "big.html") -> FileData:
    import hashlib

    data = big_html()
    return FileData(name, name, len(data), time.time_ns(), hashlib.sha256(data).hexdigest(), data)


def refused(command: str, env: dict[str, str], hidden: str | None = None) -> str:
    """Run a command that must stop at once: its one line of stderr."""
    started = time.monotonic()
    done = subprocess.run([str(GOVREPORT), command], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert time.monotonic() - started < 15, "a refusal must not be retried"
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("govreport: ")
    if hidden is not None:
        assert hidden not in done.stderr
    return lines[0]


@pytest.mark.slow
def test_wrong_credentials_stop_the_command_at_once_with_one_line(namespace: str, tmp_path: Path) -> None:
    env = environment(namespace, tmp_path, GOVREPORT_AMQP_URL="amqp://guest:s3cretpw@127.0.0.1:5672/%2F")
    line = refused("run", env, hidden="s3cretpw")
    assert "credentials" in line and "'guest'" in line


@pytest.mark.slow
def test_a_missing_vhost_stops_the_command_at_once_with_one_line(namespace: str, tmp_path: Path) -> None:
    vhost = f"missing-{uuid.uuid4().hex[:8]}"
    env = environment(namespace, tmp_path, GOVREPORT_AMQP_URL=f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
    line = refused("consume", env, hidden="guest:guest")
    assert vhost in line


@pytest.mark.slow
def test_a_refused_permission_stops_the_command_at_once_with_one_line(namespace: str, tmp_path: Path) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is needed to make a user without permissions")
    user, password = f"govreport-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    subprocess.run(["rabbitmqctl", "add_user", user, password], capture_output=True, check=True, timeout=60)
    try:
        # Allowed into the vhost, but to configure, write or read nothing.
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", "/", user, "^$", "^$", "^$"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        env = environment(namespace, tmp_path, GOVREPORT_AMQP_URL=f"amqp://{user}:{password}@127.0.0.1:5672/%2F")
        line = refused("relay", env, hidden=password)
    finally:
        subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True, check=False, timeout=60)
    assert "ACCESS_REFUSED" in line and user in line


@pytest.mark.parametrize("url", ["postgresql://user:s3cretpw@host:port/db", "nosuchdialect://user:s3cretpw@host/db"])
def test_a_database_url_that_cannot_be_parsed_stops_the_command_with_one_line(
    namespace: str, tmp_path: Path, url: str
) -> None:
    line = refused("run", environment(namespace, tmp_path, GOVREPORT_DATABASE_URL=url), hidden="s3cretpw")
    assert "GOVREPORT_DATABASE_URL" in line


@pytest.mark.slow
def test_a_broker_that_is_down_is_waited_for_with_warnings_and_started_only_once_up(
    namespace: str, tmp_path: Path
) -> None:
    env = environment(namespace, tmp_path, GOVREPORT_AMQP_URL="amqp://guest:guest@127.0.0.1:1/%2F")
    command = Govreport(["run"], env)
    try:
        assert command.wait_for("consumer.retrying", timeout=30)
        assert command.process.poll() is None, "an outage is retried, not fatal"
        command.send(signal.SIGTERM)
        assert command.wait(10) == 0
    finally:
        command.close()
    retries = [line for line in command.lines() if str(line.get("event", "")).endswith(".retrying")]
    assert retries and {line["level"] for line in retries} == {"warning"}
    assert "127.0.0.1:1" in retries[0]["error"]
    assert not command.events("govreport.started")
    assert not [line for line in command.lines() if line.get("level") in ("error", "critical") or "exception" in line]


@pytest.mark.slow
def test_idle_run_wakes_rarely_and_never_spins(namespace: str, tmp_path: Path) -> None:
    command = Govreport(["run"], environment(namespace, tmp_path, GOVREPORT_CONCURRENCY="2"))
    try:
        assert command.wait_for("govreport.started", timeout=60)
        time.sleep(1.0)  # the start-up's own work (first scan, housekeeping) is not idling
        cpu, woken, started = cpu_seconds(command.pid), wakeups(command.pid), time.monotonic()
        time.sleep(8.0)
        elapsed = time.monotonic() - started
        share = (cpu_seconds(command.pid) - cpu) / elapsed
        rate = (wakeups(command.pid) - woken) / elapsed
    finally:
        command.close()
    assert rate < IDLE_WAKEUPS_PER_S, f"{rate:.1f} wake-ups a second while idle"
    assert share < SPINNING_SHARE, f"{share:.2%} of a core while idle"


@pytest.mark.slow
def test_sigterm_mid_parse_returns_the_file_and_stops_within_seconds(
    namespace: str, sink: EventSink, tmp_path: Path, database: str
) -> None:
    publish_files(namespace, [big_file()])
    env = environment(namespace, tmp_path)
    first = Govreport(["consume"], env)
    try:
        assert first.wait_for("govreport.started")
        assert wait_until(lambda: delivered(namespace), timeout=30)
        started = time.monotonic()
        first.send(signal.SIGTERM)
        assert first.wait(15) == 0
        assert time.monotonic() - started < 5
    finally:
        first.close()
    (stopping,) = first.events("consumer.stopping")
    assert stopping["abandoned"] == ["big.html"]
    assert count(database, "SELECT count(*) FROM reports") == 0
    again = Govreport(["consume"], env)
    try:
        assert wait_until(lambda: count(database, "SELECT count(*) FROM reports") == 1, timeout=120)
        sink.wait_for(1)
        again.send(signal.SIGTERM)
        assert again.wait(15) == 0
    finally:
        again.close()
    assert count(database, "SELECT count(*) FROM reports") == 1
    assert [body["data"]["source"]["filename"] for _, body, _ in sink.events] == ["big.html"]


@pytest.mark.slow
def test_a_second_signal_exits_at_once_and_leaves_no_process_behind(
    namespace: str, tmp_path: Path, database: str
) -> None:
    publish_files(namespace, [big_file()])
    command = Govreport(["consume"], environment(namespace, tmp_path, GOVREPORT_DATABASE_URL=database))
    try:
        assert command.wait_for("govreport.started")
        assert wait_until(lambda: delivered(namespace), timeout=30)
        assert wait_until(lambda: len(descendants(command.pid)) >= 2, timeout=30)  # the fork server and a parser
        children = descendants(command.pid)
        # Stopped, the process holds both signals pending, so the second reaches it while the first
        # is being handled however loaded the machine is (else an orderly stop may finish between).
        command.send(signal.SIGSTOP)
        command.send(signal.SIGTERM)
        command.send(signal.SIGINT)
        command.send(signal.SIGCONT)
        # Python runs pending handlers by signal number: either one may be the second.
        assert command.wait(5) in (128 + signal.SIGINT, 128 + signal.SIGTERM)
    finally:
        command.close()
    assert command.events("govreport.forced_exit")
    assert wait_until(lambda: not any(alive(pid) for pid in children), timeout=10), "parsing processes left behind"


@pytest.mark.slow
@pytest.mark.postgres
def test_sslmode_require_against_a_server_without_tls_stops_the_command_with_one_line(
    namespace: str, tmp_path: Path
) -> None:
    require(PG_HOST, 5432, "PostgreSQL")
    url = f"postgresql://postgres:s3cretpw@{PG_HOST}:5432/postgres?sslmode=require"
    line = refused("run", environment(namespace, tmp_path, GOVREPORT_DATABASE_URL=url), hidden="s3cretpw")
    assert "does not support SSL" in line
