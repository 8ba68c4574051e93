"""The day-2 commands against the real servers: `status`, `dlq list|replay`, what a connection is
called on the broker, TLS that cannot work, and no password or traceback in any command's output."""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from tests.corpus import CORPUS
from tests.support.pipeline_kit import AMQP, as_message, delete_namespace, new_namespace, publish_files, wait_until
from tests.support.servers import require
from worker.adapters.broker import Broker, Topology
from worker.adapters.broker_errors import BrokerRefused

pytestmark = pytest.mark.rabbitmq

GOVREPORT = Path(sys.executable).parent / "govreport"
SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GOVREPORT), *args], capture_output=True, text=True, check=False, env=env, cwd=cwd, timeout=120
    )


def settings(**values: str) -> dict[str, str]:
    """The environment of a command: this one's, with only the given GOVREPORT_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVREPORT_")}
    return {**env, **{f"GOVREPORT_{k.upper()}": v for k, v in values.items()}}


@pytest.fixture
def namespace() -> Iterator[str]:
    require("127.0.0.1", 5672, "RabbitMQ")
    name = new_namespace()
    yield name
    delete_namespace(name)


def _dead_letter(namespace: str, paths: list[Path]) -> None:
    """Publish files, then reject each one as a consumer that gives up: the broker dead-letters them."""
    topology = Topology(namespace, delivery_limit=1)
    publish_files(namespace, [as_message(path) for path in paths], delivery_limit=1)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    for _ in paths:
        method, _properties, _body = channel.basic_get(topology.parse, auto_ack=False)
        assert method is not None
        channel.basic_nack(method.delivery_tag, requeue=False)
    connection.close()
    assert wait_until(lambda: _ready(topology.dlq) == len(paths), timeout=10)


def _ready(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def test_dlq_list_shows_without_taking_and_replay_sends_back(namespace: str, tmp_path: Path) -> None:
    topology = Topology(namespace, delivery_limit=1)
    _dead_letter(namespace, SEEDS[:3])
    env = settings(namespace=namespace, delivery_limit="1", database_url=f"sqlite:///{tmp_path / 'g.db'}")

    listed = run(env, tmp_path, "dlq", "list", "--limit", "2")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()[1:]
    assert [row.split()[-1] for row in rows] == [str(path) for path in SEEDS[:2]]
    assert all("rejected" in row for row in rows)
    assert listed.stderr.strip() == "showing 2 of 3; --limit to see more"
    assert _ready(topology.dlq) == 3  # looked at, not taken

    replayed = run(env, tmp_path, "dlq", "replay", "--limit", "2")
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed 2 message(s) from {topology.dlq} to {topology.files}" in replayed.stdout
    assert (_ready(topology.dlq), _ready(topology.parse)) == (1, 2)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    _method, properties, body = connection.channel().basic_get(topology.parse, auto_ack=True)
    connection.close()
    assert body == SEEDS[0].read_bytes()
    assert properties.message_id == as_message(SEEDS[0]).sha256
    assert not any(key.startswith(("x-death", "x-first-death")) for key in properties.headers)  # a fresh start
    assert "replayed 1 message(s)" in run(env, tmp_path, "dlq", "replay").stdout
    assert "no message" in run(env, tmp_path, "dlq", "list").stdout


def test_status_for_a_person_and_for_a_script(namespace: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    env = settings(namespace=namespace, database_url=url)
    assert run(env, tmp_path, "ingest", "--no-progress", *map(str, SEEDS)).returncode == 0
    undeclared = json.loads(run(env, tmp_path, "status", "--json").stdout)
    assert [q["declared"] for q in undeclared["queues"]] == [False, False]
    _dead_letter(namespace, SEEDS[:1])

    shown = run(env, tmp_path, "status")
    assert shown.returncode == 0, shown.stderr
    assert f"namespace {namespace}" in shown.stdout
    assert f"reports: {len(SEEDS)} ({len(SEEDS)} valid, 0 invalid, 0 failed)" in shown.stdout
    assert f"outbox: {len(SEEDS)} event(s) not published yet" in shown.stdout
    assert f"queue {namespace}.parse.dlq (dead letters): 1 message(s) ready" in shown.stdout
    assert "last report stored: 20" in shown.stdout and "last file handed over by a watcher: never" in shown.stdout

    found = json.loads(run(env, tmp_path, "status", "--json").stdout)
    assert found["database"]["reports"] == {"valid": len(SEEDS), "invalid": 0, "failed": 0}
    assert found["database"]["outbox_backlog"] == len(SEEDS)
    assert {q["name"]: q["ready"] for q in found["queues"]} == {f"{namespace}.parse": 0, f"{namespace}.parse.dlq": 1}
    assert found["database_error"] is None and found["broker_error"] is None


def test_status_shows_what_it_can_read_and_exits_1(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    env = settings(database_url=url, amqp_url="amqp://guest:guest@127.0.0.1:1/%2F")
    assert run(env, tmp_path, "ingest", "--no-progress", str(SEEDS[0])).returncode == 0
    shown = run(env, tmp_path, "status")
    assert shown.returncode == 1
    assert "reports: 1 (1 valid" in shown.stdout and "broker: unavailable: RabbitMQ unreachable" in shown.stdout
    assert "Traceback" not in shown.stdout + shown.stderr


def test_connections_are_named_by_namespace_role_and_host(namespace: str) -> None:
    consumer = Broker(AMQP, "govreport-consumer")
    consumer.declare(Topology(namespace))  # the namespace is learnt from the topology
    status = Broker(AMQP, "govreport-status", namespace=namespace)
    status.connect()
    try:
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_connections", "client_properties"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    finally:
        consumer.close()
        status.close()
    host = socket.gethostname()
    for role in ("consumer", "status"):
        assert f'{{"connection_name","govreport-{namespace}-{role}@{host}"}}' in listed, role


def test_tls_against_a_plain_port_is_one_clear_line(tmp_path: Path) -> None:
    require("127.0.0.1", 5672, "RabbitMQ")
    with pytest.raises(BrokerRefused, match="the port does not speak TLS"):
        Broker("amqps://guest:guest@127.0.0.1:5672/%2F", "govreport-test").connect()
    env = settings(amqp_url="amqps://guest:guest@127.0.0.1:5672/%2F")
    done = run(env, tmp_path, "dlq", "list")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "TLS with RabbitMQ at 127.0.0.1:5672 failed" in done.stderr


@pytest.mark.postgres
def test_postgresql_tls_that_cannot_work_is_one_line(tmp_path: Path) -> None:
    require("127.0.0.1", 5432, "PostgreSQL")
    # Without TLS on the server: "does not support SSL"; with it: no such root certificate. Never a table.
    url = "postgresql://postgres@127.0.0.1/postgres?sslmode=verify-full&sslrootcert=/nonexistent/root.crt"
    done = run(settings(database_url=url), tmp_path, "db", "current")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and ("SSL" in done.stderr or "certificate" in done.stderr), done.stderr


SECRETS = ("S3cretPG", "S3cretQ", "S3cretAMQP")
COMMANDS = [
    ["config"],
    ["status"],
    ["status", "--json"],
    ["db", "current"],
    ["reports", "list"],
    ["reports", "show", "1"],
    ["failures"],
    ["export"],
    ["reparse"],
    ["dlq", "list"],
    ["dlq", "replay"],
]


@pytest.mark.slow
def test_no_command_prints_a_password_or_a_traceback_when_the_servers_are_away(tmp_path: Path) -> None:
    env = settings(
        database_url="postgresql://app:S3cretPG@127.0.0.1:1/x?password=S3cretQ",
        amqp_url="amqp://app:S3cretAMQP@127.0.0.1:1/%2F",
    )
    for args in COMMANDS:
        done = run(env, tmp_path, *args)
        shown = done.stdout + done.stderr
        assert not any(secret in shown for secret in SECRETS), args
        assert "Traceback" not in shown, args
        if args[0] != "config":
            assert done.returncode == 1, args
        if args[0] not in ("config", "status"):
            assert done.stderr.count("\n") == 1, (args, done.stderr)


@pytest.mark.slow
@pytest.mark.postgres
def test_no_command_prints_a_password_when_the_servers_answer(
    postgres_url: str, namespace: str, tmp_path: Path
) -> None:
    # The local server trusts its clients: the passwords are sent, and ignored.
    url = (
        postgres_url.replace("postgresql+psycopg://postgres@", "postgresql://postgres:S3cretPG@") + "?password=S3cretQ"
    )
    env = settings(database_url=url, amqp_url="amqp://guest:S3cretAMQP@127.0.0.1:5672/%2F", namespace=namespace)
    for args in COMMANDS:
        done = run(env, tmp_path, *args)
        shown = done.stdout + done.stderr
        assert not any(secret in shown for secret in SECRETS), args
        assert "Traceback" not in shown, args
    refused = run(env, tmp_path, "dlq", "list")  # a wrong password: refused, said in one line
    assert refused.returncode == 1 and "refused the credentials of user 'guest'" in refused.stderr
