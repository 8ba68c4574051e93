"""Metrics of the long-running commands (`run`, `watch`, `consume`, `relay`): the series, and the
one-line calls that move them.

Every series lives in one registry, `REGISTRY`, which each process serves on its own port beside
two health checks (`worker.exporter`). Counters and histograms move as the pipeline works (the
one-line calls below, from the pipeline's modules); the backlogs (outbox, parse queue, dead-letter
queue) are looked up when scraped, never polled (`worker.probe`). The roles' heartbeats (`beat`)
also decide whether a process is ready (`/readyz`).

The names are a contract with `ops/prometheus/govreport-alerts.yml` and `ops/RUNBOOK.md`. Labels
take a handful of values each (roles, outcomes, statuses, reasons, formats): never a file's.
"""

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from worker.adapters.db import DatabaseUnavailable
from worker.adapters.store import HANDOVERS, OUTBOX, Store
from worker.adapters.store import REPORTS as REPORT_ROWS
from worker.core.result import FailureReason, ParseResult, Status
from worker.logging import mask_secrets

if TYPE_CHECKING:
    from worker.core.parse import Parsed
    from worker.events import PendingRow

log = structlog.get_logger("worker.metrics")

ROLES = ("watcher", "consumer", "relay")
OUTCOMES = ("stored", "duplicate", "requeued", "dead_lettered")
# A role whose loop has not turned for this long makes its process not ready. Every loop turns at
# least every few seconds, idle or not (the watcher's at least every `HEARTBEAT_EVERY`), and a
# retry counts as a turn (retries back off up to 30 s).
FRESH = 60.0
HEARTBEAT_EVERY = 5.0

# `_created` series double every counter for a timestamp nobody here reads.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client 0.26
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

FILES_DETECTED = Counter(
    "govreport_files_detected",
    "Files the watcher saw appear or change in the inbox (after a restart, the inbox's files again).",
    registry=REGISTRY,
)
FILES_HANDED_OVER = Counter(
    "govreport_files_handed_over",
    "Files the broker confirmed, handed over to the consumers.",
    registry=REGISTRY,
)
FILES_CONSUMED = Counter(
    "govreport_files_consumed",
    "Deliveries a consumer finished: stored (a new report), duplicate (content stored before), requeued "
    "(given back after a failure), dead_lettered (a dead letter stored as an internal_error failure).",
    ["outcome"],
    registry=REGISTRY,
)
REPORTS = Counter(
    "govreport_reports",
    "Reports stored by consumers, by status and failure reason (empty unless failed).",
    ["status", "reason"],
    registry=REGISTRY,
)
PARSE_SECONDS = Histogram(
    "govreport_parse_seconds",
    "Seconds a parsing process took to read one document, by the format its bytes are.",
    ["format"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
DROP_TO_EVENT_SECONDS = Histogram(
    "govreport_drop_to_event_seconds",
    "Seconds from a dropped file's modification time to its report's first event being published "
    "(files the watcher handed over; measured by the relay).",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400),
    registry=REGISTRY,
)
EVENTS_PUBLISHED = Counter("govreport_events_published", "Events the broker confirmed to the relay.", registry=REGISTRY)
RETRIES = Counter(
    "govreport_retries",
    "Attempts retried after an outage of the broker or the database, by role (store: waiting for "
    "the database at start-up).",
    ["role"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "govreport_dead_letters",
    "Dead letters stored (messages that kept crashing their consumer up to the delivery limit).",
    registry=REGISTRY,
)
HEARTBEAT = Gauge(
    "govreport_heartbeat_timestamp_seconds",
    "Unix time a role's loop last turned (it turns every few seconds, also while idle).",
    ["role"],
    registry=REGISTRY,
)
# Gauges looked up when scraped (`worker.probe.Backlogs`), the same numbers from every process.
BACKLOGS = (
    ("govreport_outbox_backlog", "Events committed and not yet published."),
    ("govreport_parse_queue_messages", "Files waiting in the parse queue (ready, not yet delivered)."),
    ("govreport_dead_letter_queue_messages", "Messages waiting in the dead-letter queue (ready, not yet delivered)."),
)

# Every label value known in advance exists from the start: rate() and increase() need a series
# to have been there before its first increment.
for _outcome in OUTCOMES:
    FILES_CONSUMED.labels(outcome=_outcome)
for _status in (Status.VALID, Status.INVALID):
    REPORTS.labels(status=_status.value, reason="")
for _reason in FailureReason:
    REPORTS.labels(status=Status.FAILED.value, reason=_reason.value)

_beats: dict[str, float] = {}  # role: time.monotonic() of its last heartbeat


# --- what the pipeline's modules call -------------------------------------------------------------


def beat(role: str) -> None:
    """A role's loop turned."""
    HEARTBEAT.labels(role=role).set(time.time())
    _beats[role] = time.monotonic()


def last_beat(role: str) -> float | None:
    """The `time.monotonic()` of a role's last heartbeat in this process; None before its first."""
    return _beats.get(role)


def retried(role: str) -> None:
    """A role retries after an outage: counted, and its loop counts as turning (it is not hung)."""
    RETRIES.labels(role=role).inc()
    if role in ROLES:
        beat(role)


def consumed(result: ParseResult, *, created: bool, dead_letter: bool) -> None:
    """A consumer stored and acknowledged a delivery: a new report, a duplicate, or a dead letter."""
    if dead_letter:
        DEAD_LETTERS.inc()
    FILES_CONSUMED.labels(outcome="dead_lettered" if dead_letter else "stored" if created else "duplicate").inc()
    if created:
        REPORTS.labels(status=result.status.value, reason=result.failure.reason.value if result.failure else "").inc()


def requeued() -> None:
    """A consumer gave a delivery back to the queue after failing on it."""
    FILES_CONSUMED.labels(outcome="requeued").inc()


def observe_parse(parsed: "Parsed") -> None:
    """Record a parse's duration, when the parsing process measured it (`worker.jobs.parse_timed`)."""
    seconds = getattr(parsed, "seconds", None)
    if seconds is not None:
        source = parsed.result.source
        PARSE_SECONDS.labels(format=source.format.value if source.format else "unknown").observe(seconds)


def published(store: Store, rows: "Sequence[PendingRow]") -> None:
    """The broker confirmed these events: count them, and time the first events of dropped files."""
    EVENTS_PUBLISHED.inc(len(rows))
    if not rows:
        return
    now_ns = time.time_ns()
    try:
        dropped = dropped_at(store, [row.id for row in rows])
    except (DatabaseUnavailable, sa.exc.SQLAlchemyError) as error:  # a metric never stops the relay
        log.debug("metrics.drop_times_unavailable", error=mask_secrets(str(error)))
        return
    for mtime_ns in dropped.values():
        DROP_TO_EVENT_SECONDS.observe(max(0.0, (now_ns - mtime_ns) / 1e9))


def dropped_at(store: Store, event_ids: Sequence[str]) -> dict[str, int]:
    """The modification time (ns) of the dropped file behind each of these events that is a report's
    first event (no change event yet) of a file the watcher handed over; other events are left out
    (`govreport ingest` hands nothing over, and a change event is not about a drop)."""
    query = (
        sa.select(OUTBOX.c.id, sa.func.min(HANDOVERS.c.mtime_ns))
        .select_from(OUTBOX)
        .join(REPORT_ROWS, REPORT_ROWS.c.id == OUTBOX.c.report_id)
        .join(HANDOVERS, HANDOVERS.c.sha256 == REPORT_ROWS.c.sha256)
        .where(OUTBOX.c.id.in_(list(event_ids)), REPORT_ROWS.c.revision == 0)
        .group_by(OUTBOX.c.id)
    )
    with store.begin() as connection:
        return {str(ident): int(mtime_ns) for ident, mtime_ns in connection.execute(query)}
