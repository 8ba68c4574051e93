"""An in-memory broker with the RabbitMQ semantics the pipeline relies on (after dramatiq's
`StubBroker`): exchanges route to queues, deliveries stay unacknowledged until acked, a requeued
delivery counts its deliveries and, past the parse queue's limit, is dead-lettered."""

import itertools
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pika.spec import BasicProperties

from worker.adapters.broker import Delivery, Message, Topology
from worker.adapters.broker_errors import PublishRefused


@dataclass(slots=True)
class _Exchange:
    kind: str  # direct, fanout or topic
    bindings: list[tuple[str, str]] = field(default_factory=list)  # (queue, routing key or pattern)


@dataclass(slots=True)
class MemoryBroker:
    """A `MessageBroker` in memory, for tests that need no RabbitMQ."""

    exchanges: dict[str, _Exchange] = field(default_factory=dict)
    queues: dict[str, deque[Delivery]] = field(default_factory=dict)
    limits: dict[str, tuple[int, str]] = field(default_factory=dict)  # queue: (delivery limit, dead-letter exchange)
    unacked: dict[int, tuple[str, Delivery]] = field(default_factory=dict)
    refuse: bool = False  # publishing raises PublishRefused, as a broker that nacks would
    consuming: list[tuple[str, int]] = field(default_factory=list)  # (queue, prefetch)
    closed: int = 0
    _tags: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def declare(self, topology: Topology) -> None:
        """Declare a namespace's exchanges and queues, as `Topology.declare` does on RabbitMQ."""
        for name, kind in ((topology.files, "direct"), (topology.dlx, "fanout"), (topology.events, "topic")):
            self.exchanges.setdefault(name, _Exchange(kind))
        self.bind(topology.dlq, topology.dlx, "")
        self.bind(topology.parse, topology.files, "file")
        self.limits[topology.parse] = (topology.delivery_limit, topology.dlx)

    def bind(self, queue: str, exchange: str, key: str) -> None:
        """Create a queue (if new) and bind it to an exchange with a key (a pattern on a topic)."""
        self.queues.setdefault(queue, deque())
        bindings = self.exchanges[exchange].bindings
        if (queue, key) not in bindings:
            bindings.append((queue, key))

    def publish(self, messages: list[Message]) -> None:
        """Route every message, or none: an unroutable mandatory message refuses the whole batch."""
        if self.refuse:
            raise PublishRefused("refused by the test")
        routes = [self._route(m.exchange, m.routing_key) for m in messages]
        for message, queues in zip(messages, routes, strict=True):
            if not queues and message.mandatory:
                raise PublishRefused(f"{message.exchange}/{message.routing_key}: unroutable")
        for message, queues in zip(messages, routes, strict=True):
            for queue in queues:
                self.queues[queue].append(Delivery(0, False, message.properties, message.body))

    def consume(self, queues: Sequence[str], *, prefetch: int) -> None:
        """Consume queues: `poll` hands out up to `prefetch` of each one's messages."""
        self.consuming = [(name, prefetch) for name in queues]

    def poll(self, timeout: float) -> list[Delivery]:  # noqa: ARG002 - nothing arrives while waiting here
        """What is waiting in the consumed queues, up to each one's prefetch less its unacknowledged."""
        taken: list[Delivery] = []
        for name, prefetch in self.consuming:
            held = sum(1 for queue, _ in self.unacked.values() if queue == name)
            taken += [d for _ in range(max(0, prefetch - held)) if (d := self.get(name)) is not None]
        return taken

    def wake(self) -> None:
        """Nothing waits in `poll`."""

    def get(self, queue: str) -> Delivery | None:
        """The next message of a queue, unacknowledged, or None."""
        waiting = self.queues.get(queue)
        if not waiting:
            return None
        stored = waiting.popleft()
        delivery = Delivery(next(self._tags), stored.redelivered, stored.properties, stored.body, queue)
        self.unacked[delivery.tag] = (queue, delivery)
        return delivery

    def ack(self, last: Delivery, *, multiple: bool = True) -> None:
        """Forget `last` (and, `multiple`, every earlier unacknowledged delivery)."""
        for tag in [t for t in self.unacked if t == last.tag or (multiple and t < last.tag)]:
            del self.unacked[tag]

    def nack(self, delivery: Delivery, *, requeue: bool) -> None:
        """Back to its queue with its delivery counted, or dead-lettered (past the limit, or not requeued)."""
        queue, _ = self.unacked.pop(delivery.tag)
        headers = dict(delivery.headers)
        headers["x-delivery-count"] = int(headers.get("x-delivery-count", 0)) + 1
        properties = BasicProperties(
            delivery_mode=delivery.properties.delivery_mode,
            message_id=delivery.properties.message_id,
            headers=headers,
        )
        again = Delivery(0, True, properties, delivery.body)
        limit, dlx = self.limits.get(queue, (None, None))
        if requeue and (limit is None or headers["x-delivery-count"] < limit):
            self.queues[queue].appendleft(again)
        elif dlx is not None:
            for target in self._route(dlx, ""):
                self.queues[target].append(again)

    def stop_consuming(self) -> None:
        """Every unacknowledged delivery goes back to the front of its queue."""
        self.consuming = []
        for tag in sorted(self.unacked, reverse=True):
            queue, delivery = self.unacked.pop(tag)
            self.queues[queue].appendleft(Delivery(0, True, delivery.properties, delivery.body))

    def sleep(self, seconds: float) -> None:
        """Nothing to keep alive."""

    def close(self) -> None:
        """Unacknowledged deliveries go back, as with a closed connection; closes are counted: each
        worker must close its connection when it stops."""
        self.stop_consuming()
        self.closed += 1

    def bodies(self, queue: str) -> list[bytes]:
        """The bodies waiting in a queue, in order."""
        return [d.body for d in self.queues.get(queue, ())]

    def _route(self, exchange: str, key: str) -> list[str]:
        route = self.exchanges.get(exchange)
        if route is None:
            return []
        if route.kind == "fanout":
            return [q for q, _ in route.bindings]
        if route.kind == "direct":
            return [q for q, k in route.bindings if k == key]
        return [q for q, pattern in route.bindings if _topic(pattern).fullmatch(key)]


def _topic(pattern: str) -> re.Pattern[str]:
    words = [r"[^.]+" if w == "*" else r".*" if w == "#" else re.escape(w) for w in pattern.split(".")]
    return re.compile(r"\.".join(words).replace(r".*\.", r"(?:.*\.)?"))
