"""The relay: publish committed outbox events with confirms, then mark them; after a crash, again."""

import threading

import structlog

from worker.adapters.broker import MessageBroker, Topology
from worker.adapters.outbox import Outbox
from worker.adapters.store import Store
from worker.events import PendingRow, event_message
from worker.retry import keep_running

log = structlog.get_logger("worker.pipeline")


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
    ) -> None:
        self.broker, self.outbox, self.topology = broker, Outbox(store), topology
        self.stop, self.wake, self.interval = stop, wake, interval

    def run(self) -> None:
        """Relay until `stop` is set: at once when woken by a commit, else every `interval`."""
        keep_running(self._relay, self.broker, self.stop, "relay")

    def _relay(self) -> None:
        self.broker.declare(self.topology)
        while not self.stop.is_set():
            self.wake.clear()
            if self.publish_once() == 0:
                self.wake.wait(self.interval)

    def publish_once(self) -> int:
        """Publish one batch of pending events; the number published."""
        count = self.outbox.publish_pending(self._publish)
        if count:
            log.debug("relay.published", count=count)
        return count

    def _publish(self, rows: list[PendingRow]) -> None:
        self.broker.publish([event_message(self.topology, row) for row in rows])
