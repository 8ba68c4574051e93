"""The broker adapter on the real RabbitMQ: nothing counts as handed over unless the broker has it."""

import threading
import time
from collections.abc import Iterator

import pytest
from pika.spec import BasicProperties

from tests.support.pipeline_kit import AMQP, delete_namespace, new_namespace
from tests.support.servers import require
from worker.adapters.broker import Broker, Delivery, Message, Topology
from worker.adapters.broker_errors import BrokerUnavailable, PublishRefused, TopologyMismatch

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def topology() -> Iterator[Topology]:
    require("127.0.0.1", 5672, "RabbitMQ")
    name = new_namespace()
    topology = Topology(name)
    broker = Broker(AMQP, "test-setup")
    topology.declare(broker.connect())
    broker.close()
    yield topology
    delete_namespace(name)


def message(exchange: str, routing_key: str = "file") -> Message:
    return Message(exchange, routing_key, b"report", BasicProperties(delivery_mode=2))


def queued(topology: Topology) -> int:
    broker = Broker(AMQP, "test-count")
    count = int(broker.connect().queue_declare(topology.parse, passive=True).method.message_count)
    broker.close()
    return count


@pytest.mark.parametrize("transactional", [False, True])
def test_published_messages_are_in_the_queue_when_publish_returns(topology: Topology, transactional: bool) -> None:
    broker = Broker(AMQP, "test", transactional=transactional)
    broker.publish([message(topology.files) for _ in range(25)])
    broker.close()
    assert queued(topology) == 25


@pytest.mark.parametrize("transactional", [False, True])
def test_an_unroutable_message_is_refused(topology: Topology, transactional: bool) -> None:
    broker = Broker(AMQP, "test", transactional=transactional)
    with pytest.raises(PublishRefused):
        broker.publish([message(topology.files, routing_key="nowhere")])
    broker.publish([message(topology.files)])  # the channel is still usable
    broker.close()
    assert queued(topology) == 1


def test_an_unreachable_broker_is_transient() -> None:
    with pytest.raises(BrokerUnavailable):
        Broker("amqp://guest:guest@127.0.0.1:1/%2F", "test").connect()


def test_a_queue_declared_with_other_limits_is_a_clear_error(topology: Topology) -> None:
    other = Topology(topology.namespace, delivery_limit=topology.delivery_limit + 1)
    broker = Broker(AMQP, "test")
    with pytest.raises(TopologyMismatch, match="delivery-limit"):
        other.declare(broker.connect())
    broker.close()


def test_the_parse_queue_is_a_quorum_queue_with_a_limit_and_dead_lettering(topology: Topology) -> None:
    arguments = topology.parse_arguments()
    assert arguments["x-queue-type"] == "quorum"
    assert arguments["x-delivery-limit"] == topology.delivery_limit
    assert arguments["x-dead-letter-exchange"] == topology.dlx
    assert arguments["x-dead-letter-strategy"] == "at-least-once"
    assert arguments["x-overflow"] == "reject-publish"


def test_consuming_two_queues_gives_each_delivery_with_its_queue(topology: Topology) -> None:
    publisher = Broker(AMQP, "test-publisher")
    publisher.publish([message(topology.files), message(topology.dlx, routing_key="")])
    publisher.close()
    consumer = Broker(AMQP, "test-consumer")
    try:
        consumer.consume([topology.parse, topology.dlq], prefetch=10)
        received: list[str] = []
        deadline = time.monotonic() + 10
        while len(received) < 2 and time.monotonic() < deadline:
            received += [d.queue for d in consumer.poll(0.5)]
        assert sorted(received) == sorted([topology.parse, topology.dlq])
    finally:
        consumer.close()
    assert queued(topology) == 1  # unacknowledged, it went back when the connection closed


def test_wake_ends_a_poll_from_another_thread(topology: Topology) -> None:
    consumer = Broker(AMQP, "test-consumer")
    try:
        consumer.consume([topology.parse], prefetch=10)
        timer = threading.Timer(0.3, consumer.wake)
        timer.start()
        started = time.monotonic()
        assert consumer.poll(20) == []
        assert time.monotonic() - started < 10
        timer.join()
    finally:
        consumer.close()


def test_an_ack_on_a_lost_channel_is_transient_and_opens_nothing(topology: Topology) -> None:
    consumer = Broker(AMQP, "test-consumer")
    consumer.consume([topology.parse], prefetch=10)
    consumer.close()
    with pytest.raises(BrokerUnavailable):
        consumer.ack(Delivery(1, False, BasicProperties(), b""))
    assert consumer.connection is None  # a delivery tag belongs to its channel: no new one
