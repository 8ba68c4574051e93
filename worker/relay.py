"""The relay: publish committed outbox events with confirms, then mark them; after a crash, again."""

import threading
import time
from collections.abc import Callable

import structlog

from worker import metrics
from worker.adapters.broker import MessageBroker, Topology
from worker.adapters.outbox import Outbox
from worker.adapters.store import Store
from worker.events import PendingRow, event_message
from worker.retry import keep_running

log = structlog.get_logger("worker.pipeline")
# The longest the relay leaves its connection unserved: well under any heartbeat timeout.
_KEEPALIVE = 1.0


class Relay:
    """Publish committed outbox events with confirms, then mark them; after a crash, again."""

    def __init__(
        self,
        broker: MessageBroker,
        store: Store,
        topology: Topology,
        *,
        stop: threading.Event,
        wake: threading.Event,
        interval: float = 1.0,
        on_ready: Callable[[], None] = lambda: None,
    ) -> None:
        self.broker, self.outbox, self.topology = broker, Outbox(store), topology
        self.stop, self.wake, self.interval = stop, wake, interval
        self.on_ready = on_ready  # called once connected (again, after a reconnection)

    def run(self) -> None:
        """Relay until `stop` is set: at once when woken by a commit, else every `interval`."""
        keep_running(self._relay, self.broker, self.stop, "relay")

    def _relay(self) -> None:
        self.broker.declare(self.topology)
        self.on_ready()
        while not self.stop.is_set():
            metrics.beat("relay")
            self.wake.clear()
            if self.publish_once() == 0:
                self._idle()

    def _idle(self) -> None:
        """Wait for a commit or the interval, serving the connection's heartbeats meanwhile: it is
        used only when there are events, and the broker drops a connection silent for too long."""
        deadline = time.monotonic() + self.interval
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            metrics.beat("relay")
            woken = self.wake.wait(min(left, _KEEPALIVE))
            self.broker.sleep(0)
            if woken:
                return

    def publish_once(self) -> int:
        """Publish one batch of pending events; the number published."""
        count = self.outbox.publish_pending(self._publish)
        if count:
            log.debug("relay.published", count=count)
        return count

    def _publish(self, rows: list[PendingRow]) -> None:
        self.broker.publish([event_message(self.topology, row) for row in rows])
        metrics.published(self.outbox.store, rows)
