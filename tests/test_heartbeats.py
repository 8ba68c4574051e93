"""Idle connections stay healthy: RabbitMQ drops a connection that misses its heartbeats, and a
worker that is idle must still serve them (here with a heartbeat of a second or two, so that
"idle" is short)."""

import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.corpus import CORPUS
from tests.support.pipeline_kit import AMQP, EventSink, wait_until
from tests.support.process import Govreport, amqp_connections, environment
from tests.support.servers import require
from worker.adapters.broker import Broker, Topology
from worker.adapters.broker_errors import BrokerUnavailable
from worker.adapters.serviced_broker import ServicedBroker

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]
SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))


@pytest.fixture(autouse=True)
def _rabbitmq() -> None:
    require("127.0.0.1", 5672, "RabbitMQ")


def test_a_serviced_broker_keeps_its_idle_connection_where_a_plain_one_loses_it(namespace: str) -> None:
    topology = Topology(namespace)
    plain = Broker(AMQP, "test-plain", heartbeat=1, transactional=True)
    serviced = ServicedBroker(Broker(AMQP, "test-serviced", heartbeat=1, transactional=True))
    try:
        plain.declare(topology)
        serviced.declare(topology)
        connection = serviced.broker.connection
        time.sleep(6)  # idle: several heartbeat timeouts
        with pytest.raises(BrokerUnavailable):  # the control: nobody served this one
            plain.publish([])
        serviced.publish([])
        assert serviced.broker.connection is connection
    finally:
        plain.close()
        serviced.close()


@pytest.mark.timeout(420)
def test_an_idle_pipeline_keeps_its_connections_for_three_minutes(namespace: str, tmp_path: Path) -> None:
    env = environment(namespace, tmp_path, GOVREPORT_HEARTBEAT="2", GOVREPORT_QUIET="0.2")
    sink = EventSink(namespace)
    command = Govreport(["run"], env)
    try:
        assert command.wait_for("govreport.started")
        connections = amqp_connections(command.pid)
        assert len(connections) == 3  # the watcher's, the consumer's and the relay's
        time.sleep(180)  # idle: ninety heartbeat timeouts
        shutil.copy(SEEDS[0], tmp_path / "inbox" / "after-idle.txt")
        assert wait_until(lambda: len(sink.events) == 1, timeout=30), "the file did not get through"
        assert amqp_connections(command.pid) == connections, "a connection was lost and reopened"
        command.send(signal.SIGTERM)
        assert command.wait(15) == 0
    finally:
        command.close()
        sink.close()
    noisy = [line for line in command.lines() if line.get("level") in ("warning", "error", "critical")]
    assert noisy == []
    assert command.events("report.stored")
