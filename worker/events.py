"""Result events: the parse result in a CloudEvents 1.0 envelope (structured JSON mode)."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from worker.constants import DATA_SCHEMA, EVENT_SOURCE, event_type, routing_key
from worker.core.result import ParseResult

# Event ids are name-based UUIDs: the same report (content and parser version) always gives the
# same id, so a republished event is recognisably the same event.
_EVENT_NAMESPACE = uuid.UUID("6f1d2c1e-5b7a-4c55-9a51-0c2f3b8e9d10")


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
