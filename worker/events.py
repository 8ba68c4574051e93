"""Everything about result events: their types, ids, CloudEvents 1.0 envelope (structured JSON mode),
routing keys, the outbox row that holds one until it is published, and the AMQP message it becomes.

A report's first event has revision 0. Every later change to its stored outcome (a cross-year
finding, a re-parse that changes the result) and every time its content becomes the current version
of a path again is announced by a change event: the same routing key and `data` (the result as it now
is), a new id numbered by the report's revision, and extension attributes saying why and what changed.
Extension attributes are scalars (the CloudEvents type system has no lists): lists are space-separated.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pika.spec import BasicProperties
from pydantic import BaseModel, ConfigDict, Field

from worker.adapters.broker import APP_ID, PERSISTENT, Message, Topology
from worker.core.result import ParseResult, Sha256, Status

EVENT_SOURCE = "urn:govreport:worker"
EVENT_SPEC_VERSION = "1.0"
EVENT_CONTENT_TYPE = "application/cloudevents+json"
DATA_SCHEMA = "https://govreport.invalid/schemas/report.schema.json"
# Event ids are name-based UUIDs: the same report (content and parser version) always gives the
# same id, so a republished event is recognisably the same event.
_EVENT_NAMESPACE = uuid.UUID("6f1d2c1e-5b7a-4c55-9a51-0c2f3b8e9d10")
_CODES = r"[A-Z_]+( [A-Z_]+)*"


def routing_key(status: Status) -> str:
    """`report.valid`, `report.invalid` or `report.failed`."""
    return f"report.{status.value}"


def event_type(status: Status) -> str:
    """The versioned CloudEvents type of a result event."""
    return f"cn.govreport.report.{status.value}.v1"


class Cause(StrEnum):
    """Why a stored report is announced again (the `cause` of a change event)."""

    CROSS_YEAR = "crossyear"  # the same organ's previous year arrived or changed: W_CROSS_YEAR changed
    REPARSE = "reparse"  # a new parse of the stored bytes gave another result
    PLACEMENT = "placement"  # the content became the current version at a path again, replacing another


def _extension(description: str, **constraints: Any) -> Any:
    """An optional CloudEvents extension attribute: absent from the event when unset, never null."""
    return Field(default=None, exclude_if=lambda value: value is None, description=description, **constraints)


class ReportEvent(BaseModel):
    """A CloudEvents 1.0 event announcing one stored outcome, or a change to it."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str = EVENT_SOURCE
    type: str
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str = DATA_SCHEMA
    revision: int = Field(
        default=0,
        ge=0,
        description="0 on a report's first event; 1, 2, … on each later one (a change event), in order.",
    )
    path: str | None = _extension(
        "Where the file was seen: its path relative to the inbox (POSIX separators), or as given to "
        "`govreport ingest`. On a first event, where the content arrived; on a change event, where it "
        "was last placed. Absent when the publisher gave no path."
    )
    supersedes: Sha256 | None = _extension(
        "The content (SHA-256) this one replaced at `path`: the version before it. Present on the event "
        "that makes this content the current version at `path` in place of another one."
    )
    supersededby: Sha256 | None = _extension(
        "A version older than the one already stored at `path` arrived late: the current content there."
    )
    cause: Cause | None = _extension(
        "On a change event, why: crossyear (the previous year's report arrived or changed), reparse (a "
        "new parse changed the result), placement (the content is again the current version at `path`)."
    )
    changed: str | None = _extension(
        "The result's top-level members that changed, space-separated (e.g. `status issues`).",
        pattern=r"^[a-z_]+( [a-z_]+)*$",
    )
    statusbefore: Status | None = _extension("The status before the change, when it changed.")
    issuesadded: str | None = _extension(
        "Codes of the issues the change added (space-separated, each once).", pattern=f"^{_CODES}$"
    )
    issuesremoved: str | None = _extension(
        "Codes of the issues the change removed (space-separated, each once).", pattern=f"^{_CODES}$"
    )
    cellschanged: str | None = _extension(
        "Keys of the cells whose value changed (space-separated).", pattern=r"^\S+( \S+)*$"
    )
    data: ParseResult


EXTENSIONS = (
    "revision",
    "path",
    "supersedes",
    "supersededby",
    "cause",
    "changed",
    "statusbefore",
    "issuesadded",
    "issuesremoved",
    "cellschanged",
)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a report's file was seen and which version it replaced there."""

    path: str | None = None
    supersedes: str | None = None
    superseded_by: str | None = None


@dataclass(frozen=True, slots=True)
class Diff:
    """What differs between two results of one content."""

    fields: tuple[str, ...] = ()
    status_before: Status | None = None
    issues_added: tuple[str, ...] = ()
    issues_removed: tuple[str, ...] = ()
    cells_changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fields)


def diff(before: ParseResult, after: ParseResult) -> Diff:
    """The difference between a stored result and a new one (empty when they are equal)."""
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    fields = tuple(name for name in new if new[name] != old.get(name))
    if not fields:
        return Diff()
    # Issues compare whole (code, cells, message): W_CROSS_YEAR on other columns is a change too.
    old_issues, new_issues = Counter(map(_issue_key, old["issues"])), Counter(map(_issue_key, new["issues"]))
    cells = [key for key in dict.fromkeys([*new["cells"], *old["cells"]]) if _cell(new, key) != _cell(old, key)]
    return Diff(
        fields=fields,
        status_before=before.status if before.status != after.status else None,
        issues_added=_codes(new_issues - old_issues),
        issues_removed=_codes(old_issues - new_issues),
        cells_changed=tuple(cells),
    )


def _issue_key(issue: dict[str, Any]) -> tuple[str, tuple[str, ...], str]:
    return issue["code"], tuple(issue["cells"]), issue["message"]


def _cell(document: dict[str, Any], key: str) -> tuple[bool, Any]:
    # A key the template lacks differs from a null cell of a key it has.
    return key in document["cells"], document["cells"].get(key)


def _codes(issues: Counter[tuple[str, tuple[str, ...], str]]) -> tuple[str, ...]:
    return tuple(sorted({code for code, _, _ in issues}))


@dataclass(frozen=True, slots=True)
class Change:
    """Why a report is announced again, and what changed in its result."""

    cause: Cause
    diff: Diff = field(default_factory=Diff)


@dataclass(frozen=True, slots=True)
class Announcement:
    """One event to queue: a stored report's result, where its file was placed, and its change if any."""

    report_id: int
    result: ParseResult
    parser_version: str
    revision: int = 0
    placement: Placement = field(default_factory=Placement)
    change: Change | None = None

    @property
    def id(self) -> str:
        """This event's id."""
        return event_id(self.result.source.sha256, self.parser_version, self.revision)


def event_id(sha256: str, parser_version: str, revision: int = 0) -> str:
    """The stable id of a report's event: its first (revision 0) as parsed by one parser version, or
    its revision-th change. A revision number, not a hash of the result, so a result that changes
    back to an earlier one is still a new event."""
    name = f"{sha256}/{parser_version}" if revision == 0 else f"{sha256}/{parser_version}/{revision}"
    return str(uuid.uuid5(_EVENT_NAMESPACE, name))


def make_event(
    result: ParseResult,
    parser_version: str,
    now: datetime,
    *,
    revision: int = 0,
    placement: Placement | None = None,
    change: Change | None = None,
) -> tuple[str, ReportEvent]:
    """The routing key and the event for a result: its first (revision 0), or a change."""
    placement = placement or Placement()
    found = change.diff if change is not None else Diff()
    event = ReportEvent(
        id=event_id(result.source.sha256, parser_version, revision),
        type=event_type(result.status),
        subject=result.source.sha256,
        time=now,
        revision=revision,
        path=placement.path,
        supersedes=placement.supersedes,
        supersededby=placement.superseded_by,
        cause=change.cause if change is not None else None,
        changed=_joined(found.fields),
        statusbefore=found.status_before,
        issuesadded=_joined(found.issues_added),
        issuesremoved=_joined(found.issues_removed),
        cellschanged=_joined(found.cells_changed),
        data=result,
    )
    return routing_key(result.status), event


def _joined(words: tuple[str, ...]) -> str | None:
    return " ".join(words) if words else None


def outbox_row(announcement: Announcement, now: datetime) -> dict[str, Any]:
    """The `outbox` row that holds an event until the relay publishes it."""
    a = announcement
    key, event = make_event(
        a.result, a.parser_version, now, revision=a.revision, placement=a.placement, change=a.change
    )
    return {
        "id": event.id,
        "report_id": announcement.report_id,
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
