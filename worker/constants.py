"""Every name shared with the outside: exchanges, queues, routing keys, event types."""

from worker.core.result import Status

EVENT_SOURCE = "urn:govreport:worker"
EVENT_SPEC_VERSION = "1.0"
EVENT_CONTENT_TYPE = "application/cloudevents+json"
DATA_SCHEMA = "https://govreport.invalid/schemas/report.schema.json"
APP_ID = "govreport"


def routing_key(status: Status) -> str:
    """`report.valid`, `report.invalid` or `report.failed`."""
    return f"report.{status.value}"


def event_type(status: Status) -> str:
    """The versioned CloudEvents type of a result event."""
    return f"cn.govreport.report.{status.value}.v1"


def files_exchange(namespace: str) -> str:
    """Where the watcher publishes files (direct, durable)."""
    return f"{namespace}.files"


def parse_queue(namespace: str) -> str:
    """The quorum queue consumers take files from."""
    return f"{namespace}.parse"


def dead_letter_exchange(namespace: str) -> str:
    """Where messages that keep failing go (fanout)."""
    return f"{namespace}.dlx"


def dead_letter_queue(namespace: str) -> str:
    """The queue behind the dead-letter exchange."""
    return f"{namespace}.parse.dlq"


def events_exchange(namespace: str) -> str:
    """The durable topic exchange of result events."""
    return f"{namespace}.events"
