"""RabbitMQ through pika: the topology, confirmed publishing, and consuming.

pika is not thread-safe: every thread that talks to the broker opens its own `Broker`, and no
broker object is used from two threads, except `Broker.wake` (pika's one thread-safe call). A
connection must be served (heartbeats) while idle: a worker that holds one calls into it at least
every few seconds, and a caller that only uses it now and then (the watcher's) gets a
`ServicedBroker` (`worker.adapters.serviced_broker`), whose connection lives in a thread of its own.
The errors below, and what each of pika's failures means as one of them, are in
`worker.adapters.broker_errors`.

Raises:
    BrokerUnavailable: when the broker cannot be reached or the connection is lost (transient).
    BrokerRefused: when the broker refuses the credentials, the vhost or a permission (permanent).
    PublishRefused: when the broker refuses or cannot route a message (nothing was handed over).
    MessageTooLarge: when a message is over the broker's `max_message_size` (a PublishRefused).
    TopologyMismatch: when a queue exists with other arguments than the ones this version declares.
"""

import functools
import logging
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties

from worker.adapters.broker_errors import (
    ACCESS_REFUSED,
    CONNECTION_ERRORS,
    BrokerRefused,
    BrokerUnavailable,
    PublishRefused,
    TopologyMismatch,
    channel_error,
    connection_error,
)

# Every name this application uses on the broker: the topology's queues and exchanges are named below.
APP_ID = "govreport"
PERSISTENT = 2  # delivery mode: the broker keeps the message on disk
FILE_ROUTING_KEY = "file"
DEFAULT_HEARTBEAT = 30
_NOT_FOUND = 404


class _Narration(logging.Filter):
    """pika logs each failure at WARNING or ERROR (a connection refused: six lines and a traceback)
    and then raises it; this adapter translates it and the workers log it once, as a warning that
    says it is retrying or as the one line a refused command exits with. pika's own lines are kept
    as DEBUG detail, shown when the library log level asks for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.DEBUG < record.levelno < logging.CRITICAL:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("pika").isEnabledFor(record.levelno)


def _quiet_pika() -> None:
    # A logger's filter sees only its own records, not its children's: every pika module has one.
    narration = _Narration()
    for name in list(logging.root.manager.loggerDict):
        if name == "pika" or name.startswith("pika."):
            logging.getLogger(name).addFilter(narration)


_quiet_pika()


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
        """Declare everything, idempotently; a queue with other arguments is a TopologyMismatch, a
        missing permission a BrokerRefused."""
        try:
            channel.exchange_declare(self.files, exchange_type="direct", durable=True)
            channel.exchange_declare(self.dlx, exchange_type="fanout", durable=True)
            channel.exchange_declare(self.events, exchange_type="topic", durable=True)
            channel.queue_declare(self.dlq, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(self.dlq, self.dlx)
            channel.queue_declare(self.parse, durable=True, arguments=self.parse_arguments())
            channel.queue_bind(self.parse, self.files, routing_key=FILE_ROUTING_KEY)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code == ACCESS_REFUSED:
                raise BrokerRefused(f"RabbitMQ refused: {error.reply_text}") from error
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
class QueueDepth:
    """A queue's backlog as the broker reports it to a passive declare."""

    name: str
    ready: int
    consumers: int


def connection_name(namespace: str, role: str) -> str:
    """What RabbitMQ shows for a connection (management UI, `rabbitmqctl list_connections`): the
    deployment, the role and the host, `govreport-<namespace>-<role>@<host>`; without the namespace
    while it is not known."""
    role = role.removeprefix(f"{APP_ID}-")
    deployment = f"{APP_ID}-{namespace}" if namespace else APP_ID
    return f"{deployment}-{role}@{socket.gethostname()}"


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
    """A message as delivered: its tag (for acking), properties, body, and the queue it came from."""

    tag: int
    redelivered: bool
    properties: BasicProperties
    body: bytes
    queue: str = ""

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

    def consume(self, queues: Sequence[str], *, prefetch: int) -> None:
        """Start consuming queues, at most `prefetch` unacknowledged deliveries each."""

    def poll(self, timeout: float) -> list[Delivery]:
        """The deliveries received, waiting up to `timeout` s for the first one (or a `wake`)."""
        ...

    def wake(self) -> None:
        """Make a `poll` in progress return now; callable from any thread."""

    def stop_consuming(self) -> None:
        """Stop consuming; unacknowledged deliveries go back to their queues."""

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
    heartbeat: int = DEFAULT_HEARTBEAT
    transactional: bool = False
    # Shown in the connection's name; learnt from the first topology declared when not given.
    namespace: str = ""
    connection: BlockingConnection | None = field(default=None, init=False)
    channel: BlockingChannel | None = field(default=None, init=False)
    returned: list[str] = field(default_factory=list, init=False)
    received: list[Delivery] = field(default_factory=list, init=False)
    cancelled: list[str] = field(default_factory=list, init=False)

    def connect(self) -> BlockingChannel:
        """Open the connection and a confirming channel, if not open yet."""
        if self.channel is not None and self.channel.is_open:
            return self.channel
        self.close()
        parameters = pika.URLParameters(self.url)
        parameters.heartbeat = self.heartbeat
        # A broker under a resource alarm blocks publishers silently: give up after a minute.
        parameters.blocked_connection_timeout = 60
        parameters.client_properties = {
            "connection_name": connection_name(self.namespace, self.name),
            "product": APP_ID,
        }
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
        except CONNECTION_ERRORS as error:
            self.close()
            raise connection_error(error, parameters) from error
        return self.channel

    def declare(self, topology: Topology) -> None:
        """Declare a topology on this connection (opening it if needed)."""
        self.namespace = self.namespace or topology.namespace
        with self.translated() as channel:
            topology.declare(channel)

    def depth(self, name: str) -> "QueueDepth | None":
        """The messages ready in a queue (not those delivered and unacknowledged) and its consumers,
        by a passive declare; None when there is no such queue."""
        with self.translated() as channel:
            try:
                declared = channel.queue_declare(name, passive=True)
            except pika.exceptions.ChannelClosedByBroker as error:
                if error.reply_code != _NOT_FOUND:
                    raise
                self.close()  # the broker closed the channel: the next call opens a new connection
                return None
        return QueueDepth(name, int(declared.method.message_count), int(declared.method.consumer_count))

    def close(self) -> None:
        """Close the connection, ignoring a connection that is already gone."""
        connection, self.connection, self.channel = self.connection, None, None
        self.received.clear()
        self.cancelled.clear()
        if connection is not None and connection.is_open:
            with suppress(*CONNECTION_ERRORS):
                connection.close()

    @contextmanager
    def translated(self, *, connect: bool = True) -> Iterator[BlockingChannel]:
        """The channel (opened if needed, unless `connect` is false: then only the one open now);
        pika's errors become ours, and a connection or channel that failed is dropped."""
        try:
            yield self.connect() if connect else self._open_channel()
        except pika.exceptions.ChannelClosedByBroker as error:
            self.close()
            raise channel_error(error) from error
        except CONNECTION_ERRORS as error:
            self.close()
            raise BrokerUnavailable(f"RabbitMQ connection lost: {type(error).__name__}") from error

    def _open_channel(self) -> BlockingChannel:
        # Delivery tags belong to the channel they came on: never reconnect under an ack or a poll.
        if self.channel is None or not self.channel.is_open:
            raise BrokerUnavailable("RabbitMQ connection lost: the channel is closed")
        return self.channel

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

    def consume(self, queues: Sequence[str], *, prefetch: int) -> None:
        """Start consuming `queues` on this channel, at most `prefetch` unacknowledged deliveries
        each (quorum queues have no channel-wide prefetch); deliveries come out of `poll`."""
        with self.translated() as channel:
            channel.basic_qos(prefetch_count=prefetch)
            channel.add_on_cancel_callback(self._on_cancel)
            for name in queues:
                channel.basic_consume(name, functools.partial(self._on_delivery, name))

    def _on_delivery(
        self, name: str, _channel: Any, method: Basic.Deliver, properties: BasicProperties, body: bytes
    ) -> None:
        self.received.append(Delivery(int(method.delivery_tag), bool(method.redelivered), properties, body, name))

    def _on_cancel(self, method: Any) -> None:
        # The queue was deleted (or its leader moved away): consuming again redeclares it.
        self.cancelled.append(str(getattr(method.method, "consumer_tag", "")))

    def poll(self, timeout: float) -> list[Delivery]:
        """The deliveries received; waits up to `timeout` s for the first one, serving heartbeats,
        and returns as soon as one arrives or `wake` is called."""
        if not self.received:
            with self.translated(connect=False):
                if self.connection is not None:  # it is, with an open channel
                    self.connection.process_data_events(time_limit=timeout)
        if self.cancelled:
            self.close()
            raise BrokerUnavailable("RabbitMQ cancelled the consumer: its queue was deleted or moved")
        received, self.received = self.received, []
        return received

    def wake(self) -> None:
        """Make a `poll` in progress return now: the one call that is safe from another thread."""
        connection = self.connection
        if connection is not None:
            # Closing or closed: the poll ends by itself then.
            with suppress(pika.exceptions.AMQPError, OSError, RuntimeError):
                connection.add_callback_threadsafe(_nothing)

    def stop_consuming(self) -> None:
        """Close the channel: every unacknowledged delivery goes back to its queue at once."""
        channel, self.channel = self.channel, None
        self.received.clear()
        if channel is not None and channel.is_open:
            with suppress(*CONNECTION_ERRORS, pika.exceptions.AMQPChannelError):
                channel.close()

    def ack(self, last: Delivery, *, multiple: bool = True) -> None:
        """Acknowledge `last` and (`multiple`) every delivery before it on this channel."""
        with self.translated(connect=False) as channel:
            channel.basic_ack(last.tag, multiple=multiple)

    def nack(self, delivery: Delivery, *, requeue: bool) -> None:
        """Reject one delivery: back to the queue, or (not requeued) to the dead-letter exchange."""
        with self.translated(connect=False) as channel:
            channel.basic_nack(delivery.tag, multiple=False, requeue=requeue)

    def sleep(self, seconds: float) -> None:
        """Wait while keeping the connection's heartbeats served (at once when not connected)."""
        if self.connection is not None and self.connection.is_open:
            with self.translated(connect=False):
                self.connection.sleep(seconds)


def _nothing() -> None:
    """A callback that only wakes the connection's thread."""
