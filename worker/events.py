"""Everything about result events: their types, ids, CloudEvents 1.0 envelope (structured JSON mode),
routing keys, the outbox row that holds one until it is published, and the AMQP message it becomes."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pika.spec import BasicProperties
from pydantic import BaseModel, ConfigDict

from worker.adapters.broker import APP_ID, PERSISTENT, Message, Topology
from worker.core.result import ParseResult, Status

EVENT_SOURCE = "urn:govreport:worker"
EVENT_SPEC_VERSION = "1.0"
EVENT_CONTENT_TYPE = "application/cloudevents+json"
DATA_SCHEMA = "https://govreport.invalid/schemas/report.schema.json"
# Event ids are name-based UUIDs: the same report (content and parser version) always gives the
# same id, so a republished event is recognisably the same event.
_EVENT_NAMESPACE = uuid.UUID("6f1d2c1e-5b7a-4c55-9a51-0c2f3b8e9d10")


def routing_key(status: Status) -> str:
    """`report.valid`, `report.invalid` or `report.failed`."""
    return f"report.{status.value}"


def event_type(status: Status) -> str:
    """The versioned CloudEvents type of a result event."""
    return f"cn.govreport.report.{status.value}.v1"


class ReportEvent(BaseModel):
    """A CloudEvents 1.0 event announcing one stored outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str = EVENT_SOURCE
    type: str
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str = DATA_SCHEMA
    data: ParseResult


def event_id(sha256: str, parser_version: str) -> str:
    """The stable id of the event for a report as parsed by one parser version."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{sha256}/{parser_version}"))


def make_event(result: ParseResult, parser_version: str, now: datetime) -> tuple[str, ReportEvent]:
    """The routing key and the event for a result."""
    event = ReportEvent(
        id=event_id(result.source.sha256, parser_version),
        type=event_type(result.status),
        subject=result.source.sha256,
        time=now,
        data=result,
    )
    return routing_key(result.status), event


def outbox_row(report_id: int, result: ParseResult, parser_version: str, now: datetime) -> dict[str, Any]:
    """The `outbox` row that holds a stored report's event until the relay publishes it."""
    key, event = make_event(result, parser_version, now)
    return {
        "id": event.id,
        "report_id": report_id,
        "routing_key": key,
        "body": event.model_dump_json(),
        "created_at": now,
        "attempts": 0,
    }


@dataclass(frozen=True, slots=True)
class PendingRow:
    """One outbox row waiting to be published."""

    id: str
    routing_key: str
    body: str
    created_at: datetime


def event_message(topology: Topology, event: PendingRow) -> Message:
    """A CloudEvents structured-mode message; AMQP properties mirror the envelope's id and type."""
    properties = BasicProperties(
        delivery_mode=PERSISTENT,
        content_type=EVENT_CONTENT_TYPE,
        content_encoding="utf-8",
        message_id=event.id,
        type=event_type(Status(event.routing_key.removeprefix("report."))),
        timestamp=int(event.created_at.timestamp()),
        app_id=APP_ID,
    )
    # Not mandatory: an event nobody subscribed to yet is not an error of ours.
    return Message(topology.events, event.routing_key, event.body.encode("utf-8"), properties, mandatory=False)
