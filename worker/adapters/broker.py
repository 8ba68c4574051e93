"""RabbitMQ through pika: the topology, confirmed publishing, and micro-batched consuming.

pika is not thread-safe: every thread that talks to the broker opens its own `Broker`, and no
broker object is ever used from two threads (so no cross-thread call is needed).

Raises:
    BrokerUnavailable: when the broker cannot be reached or the connection is lost (transient).
    PublishRefused: when the broker refuses or cannot route a message (nothing was handed over).
"""

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties

from worker.errors import PermanentError, TransientError

# Every name this application uses on the broker: the topology's queues and exchanges are named below.
APP_ID = "govreport"
PERSISTENT = 2  # delivery mode: the broker keeps the message on disk
FILE_ROUTING_KEY = "file"
_CONNECTION_ERRORS = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.StreamLostError,
    pika.exceptions.ConnectionClosed,
    pika.exceptions.ChannelWrongStateError,
    ConnectionError,
)


class BrokerUnavailable(TransientError):
    """Raised when RabbitMQ cannot be reached or the connection dropped; retry later."""


class PublishRefused(TransientError):
    """Raised when the broker nacked or returned a message: it was not handed over."""


class TopologyMismatch(PermanentError):
    """Raised when a queue exists with other arguments than the ones this version declares."""


@dataclass(frozen=True, slots=True)
class Topology:
    """The one place exchanges and queues are named: those of one namespace, with the parse queue's limits."""

    namespace: str
    delivery_limit: int = 5

    @property
    def files(self) -> str:
        """The direct exchange the watcher publishes files to."""
        return f"{self.namespace}.files"

    @property
    def parse(self) -> str:
        """The quorum queue consumers take files from."""
        return f"{self.namespace}.parse"

    @property
    def dlx(self) -> str:
        """The fanout exchange of messages that kept failing."""
        return f"{self.namespace}.dlx"

    @property
    def dlq(self) -> str:
        """The queue of messages that kept failing."""
        return f"{self.namespace}.parse.dlq"

    @property
    def events(self) -> str:
        """The topic exchange of result events."""
        return f"{self.namespace}.events"

    def declare(self, channel: BlockingChannel) -> None:
        """Declare everything, idempotently; a queue with other arguments is a TopologyMismatch."""
        try:
            channel.exchange_declare(self.files, exchange_type="direct", durable=True)
            channel.exchange_declare(self.dlx, exchange_type="fanout", durable=True)
            channel.exchange_declare(self.events, exchange_type="topic", durable=True)
            channel.queue_declare(self.dlq, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(self.dlq, self.dlx)
            channel.queue_declare(self.parse, durable=True, arguments=self.parse_arguments())
            channel.queue_bind(self.parse, self.files, routing_key=FILE_ROUTING_KEY)
        except pika.exceptions.ChannelClosedByBroker as error:
            raise TopologyMismatch(f"cannot declare the {self.namespace} topology: {error.reply_text}") from error

    def parse_arguments(self) -> dict[str, Any]:
        """Quorum queue with an explicit delivery limit and at-least-once dead-lettering: a poison
        message ends in the DLQ instead of looping forever (RabbitMQ 3.10 sets no limit itself)."""
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dlx,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }


@dataclass(frozen=True, slots=True)
class Message:
    """A message to publish: body, routing and AMQP properties."""

    exchange: str
    routing_key: str
    body: bytes
    properties: BasicProperties
    mandatory: bool = True


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message as delivered: its tag (for acking), properties and body."""

    tag: int
    redelivered: bool
    properties: BasicProperties
    body: bytes

    @property
    def headers(self) -> dict[str, Any]:
        """The AMQP headers (empty when none)."""
        return dict(self.properties.headers or {})

    @property
    def delivery_count(self) -> int:
        """How many times a quorum queue delivered this message before (x-delivery-count)."""
        return int(self.headers.get("x-delivery-count", 0))


class MessageBroker(Protocol):
    """What the pipeline's workers need of a broker: `Broker` on RabbitMQ, or an in-memory one in tests."""

    def declare(self, topology: Topology) -> None:
        """Declare a topology (connecting first)."""

    def publish(self, messages: list[Message]) -> None:
        """Publish; return only when the broker has every message."""

    def batches(self, queue: str, *, prefetch: int, size: int, wait: float) -> Iterator[list[Delivery]]:
        """Deliveries in micro-batches; an empty batch when quiet."""
        ...

    def get(self, queue: str) -> Delivery | None:
        """One message from a queue, unacknowledged, or None when it is empty."""

    def stop_consuming(self) -> None:
        """Cancel the consumer; unacked deliveries go back to the queue."""

    def ack(self, last: Delivery, *, multiple: bool = True) -> None:
        """Acknowledge a delivery (and, `multiple`, every earlier one)."""

    def nack(self, delivery: Delivery, *, requeue: bool) -> None:
        """Reject one delivery."""

    def sleep(self, seconds: float) -> None:
        """Wait while keeping the connection alive."""

    def close(self) -> None:
        """Close the connection."""


@dataclass(slots=True)
class Broker:
    """One connection and one channel, for one thread. The channel confirms each message, or,
    `transactional`, commits batches: the same guarantee (the broker has the messages when the
    commit returns) at several times the rate for many messages at once."""

    url: str
    name: str
    heartbeat: int = 30
    transactional: bool = False
    connection: BlockingConnection | None = field(default=None, init=False)
    channel: BlockingChannel | None = field(default=None, init=False)
    returned: list[str] = field(default_factory=list, init=False)

    def connect(self) -> BlockingChannel:
        """Open the connection and a confirming channel, if not open yet."""
        if self.channel is not None and self.channel.is_open:
            return self.channel
        self.close()
        parameters = pika.URLParameters(self.url)
        parameters.heartbeat = self.heartbeat
        # A broker under a resource alarm blocks publishers silently: give up after a minute.
        parameters.blocked_connection_timeout = 60
        parameters.client_properties = {"connection_name": self.name, "product": APP_ID}
        parameters.connection_attempts = 1
        try:
            self.connection = pika.BlockingConnection(parameters)
            self.channel = self.connection.channel()
            if self.transactional:
                self.channel.tx_select()
                # An unroutable mandatory message comes back before the commit's answer.
                self.channel.add_on_return_callback(self._on_return)
            else:
                self.channel.confirm_delivery()
        except _CONNECTION_ERRORS as error:
            self.close()
            raise BrokerUnavailable(f"RabbitMQ unreachable: {type(error).__name__}") from error
        return self.channel

    def declare(self, topology: Topology) -> None:
        """Declare a topology on this connection (opening it if needed)."""
        topology.declare(self.connect())

    def close(self) -> None:
        """Close the connection, ignoring a connection that is already gone."""
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None and connection.is_open:
            with suppress(*_CONNECTION_ERRORS):
                connection.close()

    @contextmanager
    def translated(self) -> Iterator[BlockingChannel]:
        """The channel; a lost connection becomes BrokerUnavailable (and the connection is dropped)."""
        try:
            yield self.connect()
        except _CONNECTION_ERRORS as error:
            self.close()
            raise BrokerUnavailable(f"RabbitMQ connection lost: {type(error).__name__}") from error

    def _on_return(self, _channel: Any, method: Any, _properties: Any, _body: bytes) -> None:
        self.returned.append(f"{method.exchange}/{method.routing_key}: {method.reply_text}")

    def publish(self, messages: list[Message]) -> None:
        """Publish; return only when the broker has every message (confirmed, or committed)."""
        if self.transactional:
            self._publish_committed(messages)
            return
        with self.translated() as channel:
            for message in messages:
                try:
                    channel.basic_publish(
                        message.exchange,
                        message.routing_key,
                        message.body,
                        message.properties,
                        mandatory=message.mandatory,
                    )
                except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as error:
                    raise PublishRefused(f"{message.exchange}/{message.routing_key}: {type(error).__name__}") from error

    def _publish_committed(self, messages: list[Message]) -> None:
        with self.translated() as channel:
            self.returned.clear()
            for message in messages:
                channel.basic_publish(
                    message.exchange, message.routing_key, message.body, message.properties, mandatory=message.mandatory
                )
            channel.tx_commit()
            # pika holds a returned message until events are processed; it arrived before commit-ok.
            if self.connection is not None:
                self.connection.process_data_events(time_limit=0)
            if self.returned:
                raise PublishRefused(f"{len(self.returned)} message(s) unroutable: {self.returned[0]}")

    def batches(self, queue: str, *, prefetch: int, size: int, wait: float) -> Iterator[list[Delivery]]:
        """Deliveries in micro-batches: up to `size`, or what arrived before `wait` s of quiet.
        An empty batch is yielded on quiet too, so the caller can check whether to stop."""
        with self.translated() as channel:
            channel.basic_qos(prefetch_count=prefetch)
            batch: list[Delivery] = []
            for method, properties, body in channel.consume(queue, inactivity_timeout=wait):
                if method is not None and properties is not None and body is not None:
                    batch.append(_delivery(method, properties, body))
                    if len(batch) < size:
                        continue
                yield batch
                batch = []

    def stop_consuming(self) -> None:
        """Cancel the consumer; unacked deliveries go back to the queue."""
        if self.channel is not None and self.channel.is_open:
            try:
                self.channel.cancel()
            except _CONNECTION_ERRORS:
                self.close()

    def get(self, queue: str) -> Delivery | None:
        """One message from a queue, to be acked or nacked, or None when the queue is empty."""
        with self.translated() as channel:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None or properties is None or body is None:
            return None
        return Delivery(int(method.delivery_tag), bool(method.redelivered), properties, body)

    def ack(self, last: Delivery, *, multiple: bool = True) -> None:
        """Acknowledge `last` and (`multiple`) every delivery before it on this channel."""
        with self.translated() as channel:
            channel.basic_ack(last.tag, multiple=multiple)

    def nack(self, delivery: Delivery, *, requeue: bool) -> None:
        """Reject one delivery: back to the queue, or (not requeued) to the dead-letter exchange."""
        with self.translated() as channel:
            channel.basic_nack(delivery.tag, multiple=False, requeue=requeue)

    def sleep(self, seconds: float) -> None:
        """Wait while keeping the connection's heartbeats serviced."""
        if self.connection is not None and self.connection.is_open:
            with self.translated():
                self.connection.sleep(seconds)


def _delivery(method: Basic.Deliver, properties: BasicProperties, body: bytes) -> Delivery:
    return Delivery(int(method.delivery_tag), bool(method.redelivered), properties, body)
