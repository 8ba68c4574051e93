"""The store: every outcome durable and queryable, written idempotently.

A report is identified by the SHA-256 of its bytes. Storing an outcome inserts the report with
`ON CONFLICT DO NOTHING`; only the transaction that really inserted it writes its cells, issues
and outbox event, so the same content stored twice — by a retry, a redelivery or two processes at
once — leaves one report and one event. The ~200 cells of a report go in as one bulk insert
(COPY on PostgreSQL), never as ORM objects.

Versions of a file: each arrival's path is claimed first, and a new content at a path supersedes
the one before (see `worker.adapters.versions`, which also says how the edge cases are decided).

Every change to a stored outcome (a cross-year finding on a report stored before, a re-parse that
changes the result) bumps the report's revision and queues a change event saying what changed; a
re-parse that changes nothing queues nothing.

Raises:
    DatabaseUnavailable: when the database cannot be reached (transient: retry later).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from worker import __version__
from worker.adapters.db import DatabaseUnavailable, make_engine
from worker.adapters.versions import Paths, is_current
from worker.core.checks import check_cross_year
from worker.core.result import CellValue, Code, Issue, ParseResult, Status
from worker.events import Announcement, Cause, Change, Placement, diff, outbox_row
from worker.models import utcnow

_T = SQLModel.metadata.tables
REPORTS, CONTENTS, CELLS, ISSUES, SIGHTINGS, OUTBOX = (
    _T["reports"],
    _T["contents"],
    _T["cells"],
    _T["issues"],
    _T["sightings"],
    _T["outbox"],
)
HANDOVERS = _T["handovers"]
_CARRIED_FORWARD = "applications.carried_forward."


@dataclass(frozen=True, slots=True)
class Arrival:
    """Where and how a file arrived."""

    path: str
    size: int
    mtime: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """A parse result to store, with the bytes it came from and how the file arrived."""

    result: ParseResult
    data: bytes | None = None
    arrival: Arrival | None = None
    # Where each number was read, as `worker.core.document.evidence_json` gives it.
    evidence: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Saved:
    """What storing one outcome did: a new report, or nothing new; and the event it queued, if any
    (a new report's first event, a re-parse's or a placement's change event)."""

    sha256: str
    report_id: int
    created: bool
    event_id: str | None


@dataclass(slots=True)
class _Writes:
    """The child rows of one transaction's reports, written in bulk when it ends."""

    created: dict[int, ParseResult] = field(default_factory=dict)
    contents: list[dict[str, Any]] = field(default_factory=list)
    cells: list[tuple[int, str, float | None]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    sightings: list[dict[str, Any]] = field(default_factory=list)
    announcements: list[Announcement] = field(default_factory=list)
    paths: Paths = field(default_factory=Paths)


class Store:
    """Reports, cells, issues, sightings, paths and outbox events in one database."""

    def __init__(self, engine: Engine, parser_version: str = __version__) -> None:
        self.engine = engine
        self.parser_version = parser_version
        self.dialect = engine.dialect.name
        # Built once: SQLAlchemy caches a statement, not the rebuilding of one per report.
        self._report_insert = (
            self._insert(REPORTS).on_conflict_do_nothing(index_elements=["sha256"]).returning(REPORTS.c.id)
        )
        self._sighting_insert = self._insert(SIGHTINGS).on_conflict_do_nothing(
            index_elements=["report_id", "path", "mtime"]
        )
        self._outbox_insert = self._insert(OUTBOX).on_conflict_do_nothing(index_elements=["id"])

    @classmethod
    def from_url(cls, url: str) -> "Store":
        """A store on the database at a URL."""
        return cls(make_engine(url))

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction; a database that cannot be reached raises DatabaseUnavailable."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            raise DatabaseUnavailable(f"database unavailable: {type(error.orig).__name__}") from error

    # -- writing -------------------------------------------------------------------------------

    def save(self, outcomes: Sequence[Outcome]) -> list[Saved]:
        """Store outcomes in one transaction; content already stored only gains a sighting (and, when
        it replaces another content at a path again, a placement event)."""
        now = utcnow()
        writes = _Writes()
        with self.begin() as connection:
            writes.paths = Paths.claim(connection, [o.arrival.path for o in outcomes if o.arrival is not None], now)
            saved = [self._save(connection, outcome, now, writes) for outcome in outcomes]
            self._flush(connection, writes, now)
        return saved

    def sight(self, sightings: Sequence[tuple[str, Arrival]]) -> None:
        """Record that stored contents (by SHA-256) were seen again at these paths."""
        now = utcnow()
        writes = _Writes()
        with self.begin() as connection:
            known = [(sha, self._report_id(connection, sha), arrival) for sha, arrival in sightings]
            found = [(sha, report_id, arrival) for sha, report_id, arrival in known if report_id is not None]
            writes.paths = Paths.claim(connection, [arrival.path for _, _, arrival in found], now)
            for sha256, report_id, arrival in found:
                self._seen_again(connection, report_id, sha256, arrival, now, writes)
            self._flush(connection, writes, now)

    def insert_new(self, table: sa.Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
        """Insert rows in one transaction, skipping those whose unique `keys` are stored already."""
        if rows:
            with self.begin() as connection:
                connection.execute(self._insert(table).on_conflict_do_nothing(index_elements=list(keys)), rows)

    def replace(self, outcome: Outcome) -> Saved:
        """Store a new parse of a stored report (a parser upgrade) in one transaction. When the result
        differs, its cells, issues and result are replaced and a change event says what changed;
        when it does not, only the parser version and the evidence are updated, and nothing is sent."""
        now = utcnow()
        writes = _Writes()
        sha256 = outcome.result.source.sha256
        with self.begin() as connection:
            stored = connection.execute(
                sa.select(REPORTS.c.id, REPORTS.c.result).where(REPORTS.c.sha256 == sha256)
            ).first()
            if stored is None:
                arrivals = [outcome.arrival.path] if outcome.arrival is not None else []
                writes.paths = Paths.claim(connection, arrivals, now)
                saved = self._save(connection, outcome, now, writes)
            else:
                before = ParseResult.model_validate(stored.result)
                saved = self._reparsed(connection, stored.id, before, outcome, now, writes)
            self._flush(connection, writes, now)
        return saved

    def _save(self, connection: Connection, outcome: Outcome, now: datetime, writes: _Writes) -> Saved:
        neighbours = self._neighbours(connection, outcome.result)
        result = self._with_cross_year(connection, outcome.result, neighbours, writes)
        sha256 = result.source.sha256
        placement, current = _place(outcome.arrival, sha256, writes)
        row = report_row(result, self.parser_version, now, outcome.evidence)
        row.update(path=placement.path, supersedes=placement.supersedes)
        report_id = connection.execute(self._report_insert, row).scalar()
        if report_id is None:
            existing = self._report_id(connection, sha256)
            if existing is None:  # pragma: no cover - the conflict guarantees the row exists
                raise RuntimeError(f"report {sha256} vanished")
            return self._seen_again(connection, existing, sha256, outcome.arrival, now, writes)
        writes.created[report_id] = result
        if outcome.data is not None:
            writes.contents.append({"report_id": report_id, "data": outcome.data})
        self._queue_rows(report_id, result, writes)
        self._sighting(report_id, outcome.arrival, now, writes)
        _settle(report_id, sha256, outcome.arrival, current, writes)
        announcement = Announcement(report_id, result, self.parser_version, placement=placement)
        writes.announcements.append(announcement)
        if current:  # a late older version must not put its numbers into the next year's check
            self._recheck_next_year(connection, result, neighbours, now, writes)
        return Saved(sha256, report_id, True, announcement.id)

    def _seen_again(
        self,
        connection: Connection,
        report_id: int,
        sha256: str,
        arrival: Arrival | None,
        now: datetime,
        writes: _Writes,
    ) -> Saved:
        """A stored content seen again: a sighting, and a placement event if it replaces another content."""
        placement, current = _place(arrival, sha256, writes)
        self._sighting(report_id, arrival, now, writes)
        _settle(report_id, sha256, arrival, current, writes)
        if not (current and placement.supersedes):
            return Saved(sha256, report_id, False, None)
        values = {"path": placement.path, "supersedes": placement.supersedes}
        revision, version, _ = self._bump(connection, report_id, now, values)
        result = (
            writes.created[report_id] if report_id in writes.created else self._stored_result(connection, report_id)
        )
        announcement = Announcement(report_id, result, version, revision, placement, Change(Cause.PLACEMENT))
        writes.announcements.append(announcement)
        return Saved(sha256, report_id, False, announcement.id)

    def _reparsed(
        self,
        connection: Connection,
        report_id: int,
        before: ParseResult,
        outcome: Outcome,
        now: datetime,
        writes: _Writes,
    ) -> Saved:
        """A stored report parsed again: replaced and announced if its result changed."""
        neighbours = self._neighbours(connection, outcome.result)
        result = self._with_cross_year(connection, outcome.result, neighbours, writes)
        found = diff(before, result)
        sha256 = result.source.sha256
        if not found:
            # The parser version moves on all the same, so `reparse` does not redo the report.
            values = {"parser_version": self.parser_version, "evidence": outcome.evidence, "updated_at": now}
            connection.execute(REPORTS.update().where(REPORTS.c.id == report_id).values(values))
            return Saved(sha256, report_id, False, None)
        row = report_row(result, self.parser_version, now, outcome.evidence)
        del row["created_at"], row["sha256"]
        revision, version, path = self._bump(connection, report_id, now, row)
        connection.execute(CELLS.delete().where(CELLS.c.report_id == report_id))
        connection.execute(ISSUES.delete().where(ISSUES.c.report_id == report_id))
        self._queue_rows(report_id, result, writes)
        announcement = Announcement(report_id, result, version, revision, Placement(path), Change(Cause.REPARSE, found))
        writes.announcements.append(announcement)
        if self._is_current(connection, report_id):
            self._recheck_next_year(connection, result, neighbours, now, writes)
        return Saved(sha256, report_id, False, announcement.id)

    def _bump(
        self, connection: Connection, report_id: int, now: datetime, values: dict[str, Any]
    ) -> tuple[int, str, str | None]:
        """Update a report and count the change: its new revision, parser version and path."""
        row = connection.execute(
            REPORTS.update()
            .where(REPORTS.c.id == report_id)
            .values({**values, "revision": REPORTS.c.revision + 1, "updated_at": now})
            .returning(REPORTS.c.revision, REPORTS.c.parser_version, REPORTS.c.path)
        ).one()
        return int(row.revision), str(row.parser_version), row.path

    def _queue_rows(self, report_id: int, result: ParseResult, writes: _Writes) -> None:
        """Queue a report's cells and issues."""
        writes.cells.extend((report_id, key, None if v is None else float(v)) for key, v in result.cells.items())
        writes.issues.extend(_issue_row(report_id, issue) for issue in result.issues)

    def _sighting(self, report_id: int, arrival: Arrival | None, now: datetime, writes: _Writes) -> None:
        if arrival is not None:
            writes.sightings.append(
                {
                    "report_id": report_id,
                    "path": arrival.path,
                    "size": arrival.size,
                    "mtime": arrival.mtime,
                    "seen_at": now,
                }
            )

    def _flush(self, connection: Connection, writes: _Writes, now: datetime) -> None:
        if writes.contents:
            connection.execute(CONTENTS.insert(), writes.contents)
        if writes.cells:
            self._insert_cells(connection, writes.cells)
        if writes.issues:
            connection.execute(ISSUES.insert(), writes.issues)
        if writes.sightings:
            connection.execute(self._sighting_insert, writes.sightings)
        writes.paths.flush(connection, now)
        if writes.announcements:
            rows = [outbox_row(a, now) for a in writes.announcements]
            # The relay publishes in `created_at` order: one transaction's events keep their order
            # (a version and the one that supersedes it in the same batch must not swap).
            for offset, row in enumerate(rows):
                row["created_at"] = now + timedelta(microseconds=offset)
            connection.execute(self._outbox_insert, rows)

    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    def _report_id(self, connection: Connection, sha256: str) -> int | None:
        found: int | None = connection.execute(sa.select(REPORTS.c.id).where(REPORTS.c.sha256 == sha256)).scalar()
        return found

    def _is_current(self, connection: Connection, report_id: int) -> bool:
        query = sa.select(is_current()).select_from(REPORTS).where(REPORTS.c.id == report_id)
        return bool(connection.execute(query).scalar())

    def _insert_cells(self, connection: Connection, cells: list[tuple[int, str, float | None]]) -> None:
        if self.dialect == "postgresql":
            # COPY is PostgreSQL's bulk path, about twice the rate of a multi-row INSERT.
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy("COPY cells (report_id, key, value) FROM STDIN") as copy:
                for row in cells:
                    copy.write_row(row)
            return
        # The driver's executemany: SQLAlchemy's per-row parameter processing costs more than SQLite.
        connection.exec_driver_sql("INSERT INTO cells (report_id, key, value) VALUES (?, ?, ?)", cells)

    # -- the cross-year check ----------------------------------------------------------------

    def _neighbours(self, connection: Connection, result: ParseResult) -> dict[int, int]:
        """The same organ's stored reports of the year before and after: year → report id. Where a
        year has several (versions of one file), a current one wins, then the latest stored."""
        meta = result.meta
        if result.status == Status.FAILED or not meta.organization or meta.year is None:
            return {}
        rows = connection.execute(
            sa.select(REPORTS.c.year, REPORTS.c.id)
            .where(
                REPORTS.c.organization == meta.organization[:200],
                REPORTS.c.year.in_((meta.year - 1, meta.year + 1)),
                REPORTS.c.status != Status.FAILED.value,
            )
            .order_by(sa.case((is_current(), 1), else_=0), REPORTS.c.id)
        )
        return {year: report_id for year, report_id in rows}  # noqa: C416 - the last per year wins

    def _carried_forward(self, connection: Connection, report_id: int, writes: _Writes) -> dict[str, CellValue]:
        """A report's carried-forward row: from memory when stored in this transaction (its cells
        are not written yet), else the seven cells by their primary key."""
        if report_id in writes.created:
            return {k: v for k, v in writes.created[report_id].cells.items() if k.startswith(_CARRIED_FORWARD)}
        rows = connection.execute(
            sa.select(CELLS.c.key, CELLS.c.value).where(
                CELLS.c.report_id == report_id, CELLS.c.key.startswith(_CARRIED_FORWARD, autoescape=True)
            )
        )
        return {key: value for key, value in rows}  # noqa: C416 - Row is not a pair for dict()

    def _stored_result(self, connection: Connection, report_id: int) -> ParseResult:
        stored = connection.execute(sa.select(REPORTS.c.result).where(REPORTS.c.id == report_id)).scalar_one()
        return ParseResult.model_validate(stored)

    def _with_cross_year(
        self, connection: Connection, result: ParseResult, neighbours: dict[int, int], writes: _Writes
    ) -> ParseResult:
        """The result with W_CROSS_YEAR against the same organ's stored previous year."""
        year = result.meta.year
        if year is None or year - 1 not in neighbours:
            return result
        before = self._carried_forward(connection, neighbours[year - 1], writes)
        issues = check_cross_year(result.cells, before, year - 1)
        kept = [i for i in result.issues if i.code != Code.W_CROSS_YEAR]
        return result.model_copy(update={"issues": kept + issues})

    def _recheck_next_year(
        self, connection: Connection, result: ParseResult, neighbours: dict[int, int], now: datetime, writes: _Writes
    ) -> None:
        """When last year's report arrives after this year's (or changes), the check runs again on the
        newer one; if its result changes, that is announced (unless its first event is still queued)."""
        year = result.meta.year
        if year is None or year + 1 not in neighbours:
            return
        newer = neighbours[year + 1]
        created = newer in writes.created
        before = writes.created[newer] if created else self._stored_result(connection, newer)
        issues = check_cross_year(before.cells, result.cells, year)
        kept = [i for i in before.issues if i.code != Code.W_CROSS_YEAR]
        after = before.model_copy(update={"issues": kept + issues})
        found = diff(before, after)
        if not found:
            return
        document = {"result": after.model_dump(mode="json")}
        if created:
            # Stored in this transaction: its issues and its first event are still queued, so they
            # take the new result and nobody ever sees the old one.
            writes.issues = [
                row for row in writes.issues if not (row["report_id"] == newer and row["code"] == Code.W_CROSS_YEAR)
            ]
            writes.created[newer] = after
            writes.announcements = [
                replace(a, result=after) if a.report_id == newer and a.revision == 0 else a
                for a in writes.announcements
            ]
            connection.execute(REPORTS.update().where(REPORTS.c.id == newer).values({**document, "updated_at": now}))
        else:
            connection.execute(
                ISSUES.delete().where(ISSUES.c.report_id == newer, ISSUES.c.code == Code.W_CROSS_YEAR.value)
            )
            revision, version, path = self._bump(connection, newer, now, document)
            change = Change(Cause.CROSS_YEAR, found)
            writes.announcements.append(Announcement(newer, after, version, revision, Placement(path), change))
        writes.issues.extend(_issue_row(newer, issue) for issue in issues)

    # -- reading -------------------------------------------------------------------------------

    def known(self, sha256s: Sequence[str]) -> set[str]:
        """Which of these contents are stored already."""
        if not sha256s:
            return set()
        with self.begin() as connection:
            rows = connection.execute(sa.select(REPORTS.c.sha256).where(REPORTS.c.sha256.in_(list(sha256s))))
            return {sha for (sha,) in rows}


def _place(arrival: Arrival | None, sha256: str, writes: _Writes) -> tuple[Placement, bool]:
    """Where a content arrived, what it replaced there, and whether it is now current there."""
    if arrival is None:
        return writes.paths.place(None, None, sha256)
    return writes.paths.place(arrival.path, arrival.mtime, sha256)


def _settle(report_id: int, sha256: str, arrival: Arrival | None, current: bool, writes: _Writes) -> None:
    if arrival is not None and current:
        writes.paths.settle(arrival.path, arrival.mtime, report_id, sha256)


def report_row(
    result: ParseResult, parser_version: str, now: datetime, evidence: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The `reports` row of a result (and of the evidence of its numbers, when known)."""
    source, meta = result.source, result.meta
    return {
        "sha256": source.sha256,
        "size": source.bytes,
        "format": source.format.value if source.format else None,
        "pages": source.pages,
        "evidence": evidence,
        "encoding": source.encoding,
        "script": source.script,
        "status": result.status.value,
        "failure_reason": result.failure.reason.value if result.failure else None,
        "failure_message": result.failure.message if result.failure else None,
        "template": result.template,
        "organization": (meta.organization or "")[:200] or None,
        "year": meta.year,
        "title": (meta.title or "")[:400] or None,
        "filename": source.filename[:1000],
        "parser_version": parser_version,
        "result": result.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
    }


def _issue_row(report_id: int, issue: Issue) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "code": issue.code.value,
        "severity": issue.severity.value,
        "cells": issue.cells,
        "message": issue.message,
    }
