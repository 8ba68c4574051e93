"""The dead-letter queue: each message that kept crashing its consumer is stored as an
`internal_error` failure (with its event), then acknowledged."""

import time
from collections.abc import Callable

import structlog

from worker.adapters.broker import MessageBroker, Topology
from worker.adapters.store import Outcome, Saved
from worker.core.result import FailureReason
from worker.errors import TransientError
from worker.jobs import failed_job, job_for, log_stored, outcome
from worker.messages import read_file_message

log = structlog.get_logger("worker.pipeline")
Save = Callable[[list[Outcome]], list[Saved]]


class DeadLetters:
    """Drains the dead-letter queue into the store, a message at a time."""

    def __init__(self, broker: MessageBroker, topology: Topology, save: Save, committed: Callable[[], None]) -> None:
        self.broker, self.topology = broker, topology
        self.save, self.committed = save, committed
        self.drained_at = 0.0

    def drain(self, limit: int = 100) -> int:
        """Store up to `limit` dead-lettered messages as failures; how many were stored."""
        self.drained_at = time.monotonic()
        reason = (
            f"the file crashed its consumer on {self.topology.delivery_limit} deliveries and was dead-lettered;"
            " kept for reprocess"
        )
        drained = 0
        for _ in range(limit):
            delivery = self.broker.get(self.topology.dlq)
            if delivery is None:
                break
            file = read_file_message(delivery)
            result = failed_job(job_for(file, 0), FailureReason.INTERNAL_ERROR, reason).result
            try:
                saved = self.save([outcome(file, result)])
            except TransientError:
                raise
            except Exception:  # a bug here must not stop consuming; the message stays in the DLQ
                log.exception("consumer.dead_letter_failed", filename=file.filename)
                self.broker.nack(delivery, requeue=True)
                break
            self.broker.ack(delivery, multiple=False)
            self.committed()
            log_stored(file, result, saved[0], 0.0)
            drained += 1
        return drained
