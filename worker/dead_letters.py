"""The dead-letter queue: each message that kept crashing its consumer is stored as an
`internal_error` failure (with its event). The consumer takes these messages on its own channel,
beside the parse queue's, and stores and acknowledges them with the rest."""

from worker.core.parse import Parsed
from worker.core.result import FailureReason
from worker.files import FileData
from worker.jobs import failed_job, job_for


def dead_lettered(file: FileData, delivery_limit: int) -> Parsed:
    """The failure stored for a file whose message the broker dead-lettered after its delivery limit."""
    reason = f"the file crashed its consumer on {delivery_limit} deliveries and was dead-lettered; kept for reprocess"
    return failed_job(job_for(file, 0), FailureReason.INTERNAL_ERROR, reason)
