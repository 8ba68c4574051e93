"""The chaos harness, short: 150 files through separate processes while roles are SIGKILLed, parsing
processes killed, database connections cut and (when nobody else is using them) RabbitMQ's application
and PostgreSQL stopped; every count of spec §5's promises must be 0. `bench/chaos.py` is the long run."""

import shutil

import pika
import psycopg
import pytest

from tests.support.chaos import Config, Run
from tests.support.chaos_faults import ALL_FAULTS, LOCAL_FAULTS
from tests.support.pipeline_kit import AMQP
from tests.support.servers import PG_HOST, PG_USER, require

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq, pytest.mark.postgres]
# Two of each kind; at least ten even when the shared servers may not be stopped (others use them).
FAULTS = 2 * len(ALL_FAULTS)


def _available_kinds() -> tuple[str, ...]:
    """Every kind of fault this machine can inject: stopping a server needs its control command."""
    tools = {"stop-rabbitmq": "rabbitmqctl", "stop-postgresql": "pg_ctlcluster"}
    return tuple(kind for kind in ALL_FAULTS if kind not in tools or shutil.which(tools[kind]))


def _namespace_exists(namespace: str) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    try:
        connection.channel().queue_declare(f"{namespace}.parse", passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()
    return True


def _database_exists(name: str) -> bool:
    with psycopg.connect(f"host={PG_HOST} user={PG_USER} dbname=postgres") as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_faults_lose_nothing_duplicate_nothing_and_leave_nothing_behind(capsys: pytest.CaptureFixture[str]) -> None:
    require("127.0.0.1", 5672, "RabbitMQ")
    require(PG_HOST, 5432, "PostgreSQL")
    run = Run(Config(files=150, faults=FAULTS, seed=12, duration=50.0, kinds=_available_kinds(), quiet_timeout=120))
    with capsys.disabled():  # the table belongs in CI's log, passed or not
        outcome = run.execute()
        print(outcome.table())
    assert outcome.counts, "no checks were made"
    assert outcome.figures["distinct contents"] >= 100
    injected = {fault.kind for fault in outcome.faults}
    assert set(LOCAL_FAULTS) <= injected, f"not every kind of fault was injected: {sorted(injected)}"
    assert len(outcome.faults) >= 10
    assert outcome.ok, {name: count for name, count in outcome.counts.items() if count}
    assert not _namespace_exists(run.namespace)
    assert not _database_exists(f"govreport_{run.namespace}")
    assert not run.work.exists()
