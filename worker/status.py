"""`govreport status`: the state of a deployment at a glance, for a person or (as JSON) a script.

The database part says what is stored and what waits in the outbox; the broker part what waits in
the queues. Each part is gathered on its own: an unreachable broker still leaves the database's
figures to read, and the other way round.
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.adapters.broker import Broker, QueueDepth, Topology
    from worker.adapters.store import Store


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """What the database holds: reports by status and failure reason, the outbox backlog, the
    latest arrivals."""

    reports: dict[str, int]
    failed: dict[str, int]
    outbox_backlog: int
    oldest_unpublished: datetime | None
    last_stored: datetime | None
    last_seen: datetime | None
    last_handover: datetime | None


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue's backlog: messages ready (delivered but unacknowledged ones are not counted) and
    consumers; `declared` false when the queue does not exist yet."""

    name: str
    role: str  # "files to parse" or "dead letters"
    declared: bool
    ready: int = 0
    consumers: int = 0


@dataclass(slots=True)
class Status:
    """Both parts, each with the error that kept it from being read, if any."""

    namespace: str
    database: StoreFigures | None = None
    database_error: str | None = None
    queues: list[Queue] = field(default_factory=list)
    broker_error: str | None = None

    @property
    def healthy(self) -> bool:
        """Whether both parts could be read."""
        return self.database_error is None and self.broker_error is None

    def as_json(self) -> dict[str, Any]:
        """The status for scripts: times as ISO 8601 (UTC), absent values as null."""
        database = asdict(self.database) if self.database else None
        if database is not None:
            database = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in database.items()}
        return {
            "namespace": self.namespace,
            "database": database,
            "database_error": self.database_error,
            "queues": [asdict(queue) for queue in self.queues],
            "broker_error": self.broker_error,
        }

    def lines(self, now: datetime | None = None) -> list[str]:
        """The status for a person."""
        now = now or datetime.now(UTC)
        shown = [f"namespace {self.namespace}"]
        shown += _database_lines(self.database, self.database_error, now)
        shown += _queue_lines(self.queues, self.broker_error)
        return shown


def store_figures(store: "Store") -> StoreFigures:
    """The database's part of the status."""
    import sqlalchemy as sa

    from worker.adapters.store import HANDOVERS, OUTBOX, REPORTS, SIGHTINGS

    unpublished = OUTBOX.c.published_at.is_(None)
    with store.begin() as connection:
        by_status = connection.execute(sa.select(REPORTS.c.status, sa.func.count()).group_by(REPORTS.c.status))
        by_reason = connection.execute(
            sa.select(REPORTS.c.failure_reason, sa.func.count())
            .where(REPORTS.c.status == "failed")
            .group_by(REPORTS.c.failure_reason)
        )
        backlog, oldest = connection.execute(
            sa.select(sa.func.count(), sa.func.min(OUTBOX.c.created_at)).where(unpublished)
        ).one()
        reports = {str(status): int(n) for status, n in by_status}
        failed = {str(reason): int(n) for reason, n in by_reason}
        last_stored = connection.execute(sa.select(sa.func.max(REPORTS.c.created_at))).scalar()
        last_seen = connection.execute(sa.select(sa.func.max(SIGHTINGS.c.seen_at))).scalar()
        last_handover = connection.execute(sa.select(sa.func.max(HANDOVERS.c.handed_over_at))).scalar()
    return StoreFigures(
        reports={status: reports.get(status, 0) for status in ("valid", "invalid", "failed")},
        failed=dict(sorted(failed.items(), key=lambda item: (-item[1], item[0]))),
        outbox_backlog=int(backlog),
        oldest_unpublished=_utc(oldest),
        last_stored=_utc(last_stored),
        last_seen=_utc(last_seen),
        last_handover=_utc(last_handover),
    )


def queues(broker: "Broker", topology: "Topology") -> list[Queue]:
    """The broker's part of the status: the parse queue and the dead-letter queue (never declared
    here: a status that creates what it inspects would hide a deployment that never started)."""
    found: list[Queue] = []
    for name, role in ((topology.parse, "files to parse"), (topology.dlq, "dead letters")):
        depth: QueueDepth | None = broker.depth(name)
        declared = depth is not None
        found.append(Queue(name, role, declared, *((depth.ready, depth.consumers) if depth else (0, 0))))
    return found


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite gives stored datetimes back naive; every one stored is UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _database_lines(figures: StoreFigures | None, error: str | None, now: datetime) -> list[str]:
    if figures is None:
        return [f"database: unavailable: {error}"]
    counts = ", ".join(f"{n} {status}" for status, n in figures.reports.items())
    lines = [f"reports: {sum(figures.reports.values())} ({counts})"]
    if figures.failed:
        lines.append("failed by reason: " + ", ".join(f"{reason} {n}" for reason, n in figures.failed.items()))
    backlog = f"outbox: {figures.outbox_backlog} event(s) not published yet"
    if figures.oldest_unpublished is not None:
        backlog += f", the oldest {_ago(figures.oldest_unpublished, now)}"
    lines.append(backlog)
    lines.append(f"last report stored: {_when(figures.last_stored, now)}")
    lines.append(f"last file seen: {_when(figures.last_seen, now)}")
    lines.append(f"last file handed over by a watcher: {_when(figures.last_handover, now)}")
    return lines


def _queue_lines(found: list[Queue], error: str | None) -> list[str]:
    if error is not None:
        return [f"broker: unavailable: {error}"]
    lines = []
    for queue in found:
        where = f"queue {queue.name} ({queue.role})"
        if not queue.declared:
            lines.append(f"{where}: not declared (no worker has started in this namespace)")
        else:
            lines.append(f"{where}: {queue.ready} message(s) ready, {queue.consumers} consumer(s)")
    return lines


def _when(moment: datetime | None, now: datetime) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC ({_ago(moment, now)})"


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"
