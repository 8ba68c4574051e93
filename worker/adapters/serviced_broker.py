"""`ServicedBroker`: a `Broker` whose connection lives in a thread of its own, which serves its
heartbeats while idle, for a caller that uses the broker only now and then (the watcher's).

Raises:
    BrokerUnavailable: when called after `close`, and whatever the `Broker` call raises in its thread.
"""

import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TypeVar

from worker.adapters.broker import Broker, Delivery, Message, Topology
from worker.adapters.broker_errors import BrokerUnavailable
from worker.adapters.call_thread import CallThread

T = TypeVar("T")


class ServicedBroker:
    """A `Broker` whose connection lives in a thread of its own, which serves its heartbeats while
    idle: for a caller that uses the broker only now and then (the watcher, when files arrive).
    Each call runs in that thread, one at a time, and returns or raises there as it would here."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._thread: CallThread | None = None
        self._lock = threading.Lock()
        self._closed = False
        # pika sends a heartbeat every half timeout, when called: call it a few times as often.
        self.idle = max(0.05, min(self.broker.heartbeat / 4, 5.0))

    def _call(self, function: Callable[[], T]) -> T:
        with self._lock:
            if self._closed:
                raise BrokerUnavailable("the broker connection was closed")
            if self._thread is None:
                self._thread = CallThread(f"{self.broker.name}-io", self._keep_alive, self.idle, self.broker.close)
            future = self._thread.submit(function)
        return future.result()

    def _keep_alive(self) -> None:
        # A connection lost while idle is dropped quietly; the next call opens a new one.
        with suppress(BrokerUnavailable):
            self.broker.sleep(0)

    def declare(self, topology: Topology) -> None:
        """Declare a topology (connecting first)."""
        self._call(lambda: self.broker.declare(topology))

    def publish(self, messages: list[Message]) -> None:
        """Publish; return only when the broker has every message."""
        self._call(lambda: self.broker.publish(messages))

    def consume(self, queues: Sequence[str], *, prefetch: int) -> None:
        """Start consuming queues (deliveries come out of `poll`)."""
        self._call(lambda: self.broker.consume(queues, prefetch=prefetch))

    def poll(self, timeout: float) -> list[Delivery]:
        """The deliveries received, waiting up to `timeout` s for the first one."""
        return self._call(lambda: self.broker.poll(timeout))

    def wake(self) -> None:
        """Make a `poll` in progress return now."""
        self.broker.wake()

    def stop_consuming(self) -> None:
        """Stop consuming; unacknowledged deliveries go back to their queues."""
        self._call(self.broker.stop_consuming)

    def ack(self, last: Delivery, *, multiple: bool = True) -> None:
        """Acknowledge a delivery (and, `multiple`, every earlier one)."""
        self._call(lambda: self.broker.ack(last, multiple=multiple))

    def nack(self, delivery: Delivery, *, requeue: bool) -> None:
        """Reject one delivery."""
        self._call(lambda: self.broker.nack(delivery, requeue=requeue))

    def sleep(self, seconds: float) -> None:
        """Wait while the connection's thread keeps it alive."""
        self._call(lambda: self.broker.sleep(seconds))

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection and end its thread (waiting `timeout` s at most for a call in progress)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.close(timeout, left=lambda: BrokerUnavailable("the broker connection was closed"))
