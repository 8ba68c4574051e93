"""The store: every outcome durable and queryable, written idempotently.

A report is identified by the SHA-256 of its bytes. Storing an outcome inserts the report with
`ON CONFLICT DO NOTHING`; only the transaction that really inserted it writes its cells, issues
and outbox event, so the same content stored twice — by a retry, a redelivery or two processes at
once — leaves one report and one event. The ~200 cells of a report go in as one bulk insert
(COPY on PostgreSQL), never as ORM objects.

Raises:
    DatabaseUnavailable: when the database cannot be reached (transient: retry later).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from worker import __version__
from worker.adapters.db import DatabaseUnavailable, make_engine
from worker.core.checks import check_cross_year
from worker.core.result import Code, Issue, ParseResult, Status
from worker.events import make_event
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


@dataclass(frozen=True, slots=True)
class Saved:
    """What storing one outcome did: a new report (with its event) or nothing new."""

    sha256: str
    report_id: int
    created: bool
    event_id: str | None


class Store:
    """Reports, cells, issues, sightings and outbox events in one database."""

    def __init__(self, engine: Engine, parser_version: str = __version__) -> None:
        self.engine = engine
        self.parser_version = parser_version
        self.dialect = engine.dialect.name

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
        """Store outcomes in one transaction; content already stored only gains a sighting."""
        now = utcnow()
        with self.begin() as connection:
            return [self._save(connection, outcome, now) for outcome in outcomes]

    def replace(self, outcome: Outcome) -> Saved:
        """Store a new parse of a stored report (a parser upgrade): its cells, issues and result
        are replaced in one transaction, with an event for the new outcome."""
        now = utcnow()
        sha256 = outcome.result.source.sha256
        with self.begin() as connection:
            report_id = self._report_id(connection, sha256)
            if report_id is None:
                return self._save(connection, outcome, now)
            result = self._with_cross_year(connection, outcome.result)
            row = self._report_row(result, now)
            del row["created_at"]
            connection.execute(REPORTS.update().where(REPORTS.c.id == report_id).values(row))
            connection.execute(CELLS.delete().where(CELLS.c.report_id == report_id))
            connection.execute(ISSUES.delete().where(ISSUES.c.report_id == report_id))
            self._children(connection, report_id, result)
            self._sighting(connection, report_id, outcome.arrival, now)
            event_id = self._outbox(connection, report_id, result, now)
            self._recheck_next_year(connection, result, now)
            return Saved(sha256, report_id, False, event_id)

    def _save(self, connection: Connection, outcome: Outcome, now: datetime) -> Saved:
        result = self._with_cross_year(connection, outcome.result)
        sha256 = result.source.sha256
        insert = self._insert(REPORTS).values(self._report_row(result, now))
        report_id = connection.execute(
            insert.on_conflict_do_nothing(index_elements=["sha256"]).returning(REPORTS.c.id)
        ).scalar()
        if report_id is None:
            existing = self._report_id(connection, sha256)
            if existing is None:  # pragma: no cover - the conflict guarantees the row exists
                raise RuntimeError(f"report {sha256} vanished")
            self._sighting(connection, existing, outcome.arrival, now)
            return Saved(sha256, existing, False, None)
        if outcome.data is not None:
            connection.execute(CONTENTS.insert().values(report_id=report_id, data=outcome.data))
        self._children(connection, report_id, result)
        self._sighting(connection, report_id, outcome.arrival, now)
        event_id = self._outbox(connection, report_id, result, now)
        self._recheck_next_year(connection, result, now)
        return Saved(sha256, report_id, True, event_id)

    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    def _report_id(self, connection: Connection, sha256: str) -> int | None:
        found: int | None = connection.execute(sa.select(REPORTS.c.id).where(REPORTS.c.sha256 == sha256)).scalar()
        return found

    def _report_row(self, result: ParseResult, now: datetime) -> dict[str, Any]:
        source, meta = result.source, result.meta
        return {
            "sha256": source.sha256,
            "size": source.bytes,
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
            "parser_version": self.parser_version,
            "result": result.model_dump(mode="json"),
            "created_at": now,
            "updated_at": now,
        }

    def _children(self, connection: Connection, report_id: int, result: ParseResult) -> None:
        cells = [(report_id, key, None if v is None else float(v)) for key, v in result.cells.items()]
        if cells:
            self._insert_cells(connection, cells)
        if result.issues:
            connection.execute(ISSUES.insert(), [_issue_row(report_id, issue) for issue in result.issues])

    def _insert_cells(self, connection: Connection, cells: list[tuple[int, str, float | None]]) -> None:
        if self.dialect == "postgresql":
            # COPY is PostgreSQL's bulk path, about twice the rate of a multi-row INSERT.
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy("COPY cells (report_id, key, value) FROM STDIN") as copy:
                for row in cells:
                    copy.write_row(row)
            return
        connection.execute(CELLS.insert(), [{"report_id": r, "key": k, "value": v} for r, k, v in cells])

    def _sighting(self, connection: Connection, report_id: int, arrival: Arrival | None, now: datetime) -> None:
        if arrival is None:
            return
        row = {"report_id": report_id, "path": arrival.path, "size": arrival.size, "mtime": arrival.mtime}
        insert = self._insert(SIGHTINGS).values(**row, seen_at=now)
        connection.execute(insert.on_conflict_do_nothing(index_elements=["report_id", "path", "mtime"]))

    def _outbox(self, connection: Connection, report_id: int, result: ParseResult, now: datetime) -> str:
        key, event = make_event(result, self.parser_version, now)
        row = {
            "id": event.id,
            "report_id": report_id,
            "routing_key": key,
            "body": event.model_dump_json(),
            "created_at": now,
            "attempts": 0,
        }
        connection.execute(self._insert(OUTBOX).values(row).on_conflict_do_nothing(index_elements=["id"]))
        return event.id

    # -- the cross-year check ----------------------------------------------------------------

    def _with_cross_year(self, connection: Connection, result: ParseResult) -> ParseResult:
        """The result with W_CROSS_YEAR against the same organ's stored previous year."""
        meta = result.meta
        if result.status == Status.FAILED or not meta.organization or meta.year is None:
            return result
        previous = self._same_organ(connection, meta.organization, meta.year - 1)
        if previous is None:
            return result
        before = self._carried_forward(connection, previous)
        issues = check_cross_year(result.cells, before, meta.year - 1)
        kept = [i for i in result.issues if i.code != Code.W_CROSS_YEAR]
        return result.model_copy(update={"issues": kept + issues})

    def _recheck_next_year(self, connection: Connection, result: ParseResult, now: datetime) -> None:
        """When last year's report arrives after this year's, the check runs on the newer one."""
        meta = result.meta
        if result.status == Status.FAILED or not meta.organization or meta.year is None:
            return
        newer = self._same_organ(connection, meta.organization, meta.year + 1)
        if newer is None:
            return
        stored = connection.execute(sa.select(REPORTS.c.result).where(REPORTS.c.id == newer)).scalar_one()
        newer_result = ParseResult.model_validate(stored)
        issues = check_cross_year(newer_result.cells, result.cells, meta.year)
        kept = [i for i in newer_result.issues if i.code != Code.W_CROSS_YEAR]
        updated = newer_result.model_copy(update={"issues": kept + issues})
        connection.execute(ISSUES.delete().where(ISSUES.c.report_id == newer, ISSUES.c.code == Code.W_CROSS_YEAR.value))
        if issues:
            connection.execute(ISSUES.insert(), [_issue_row(newer, issue) for issue in issues])
        values = {"result": updated.model_dump(mode="json"), "updated_at": now}
        connection.execute(REPORTS.update().where(REPORTS.c.id == newer).values(values))

    def _same_organ(self, connection: Connection, organization: str, year: int) -> int | None:
        found: int | None = connection.execute(
            sa.select(REPORTS.c.id)
            .where(
                REPORTS.c.organization == organization,
                REPORTS.c.year == year,
                REPORTS.c.status != Status.FAILED.value,
            )
            .order_by(REPORTS.c.updated_at.desc())
            .limit(1)
        ).scalar()
        return found

    def _carried_forward(self, connection: Connection, report_id: int) -> dict[str, float | None]:
        rows = connection.execute(
            sa.select(CELLS.c.key, CELLS.c.value).where(
                CELLS.c.report_id == report_id, CELLS.c.key.startswith(_CARRIED_FORWARD)
            )
        )
        return {key: value for key, value in rows.all()}  # noqa: C416 - Row is not a pair for dict()

    def sight(self, sightings: Sequence[tuple[str, Arrival]]) -> None:
        """Record that stored contents (by SHA-256) were seen again at these paths."""
        now = utcnow()
        with self.begin() as connection:
            for sha256, arrival in sightings:
                report_id = self._report_id(connection, sha256)
                if report_id is not None:
                    self._sighting(connection, report_id, arrival, now)

    # -- reading -------------------------------------------------------------------------------

    def known(self, sha256s: Sequence[str]) -> set[str]:
        """Which of these contents are stored already."""
        if not sha256s:
            return set()
        with self.begin() as connection:
            rows = connection.execute(sa.select(REPORTS.c.sha256).where(REPORTS.c.sha256.in_(list(sha256s))))
            return {sha for (sha,) in rows}


def _issue_row(report_id: int, issue: Issue) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "code": issue.code.value,
        "severity": issue.severity.value,
        "cells": issue.cells,
        "message": issue.message,
    }


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """One line of `govreport reports list`."""

    id: int
    sha256: str
    filename: str
    status: str
    failure_reason: str | None
    template: str | None
    organization: str | None
    year: int | None
    errors: int
    warnings: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A stored report: its outcome and every place its content was seen."""

    id: int
    parser_version: str
    result: ParseResult
    sightings: list[Arrival]


@dataclass(frozen=True, slots=True)
class StoredContent:
    """The bytes of a stored report, for re-parsing."""

    sha256: str
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Filter:
    """Which reports a listing, an export or a re-parse covers."""

    status: str | None = None
    year: int | None = None
    organization: str | None = None
    code: str | None = None
    reason: str | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The filter as SQL conditions on the reports table."""
        conditions: list[sa.ColumnElement[bool]] = []
        if self.status:
            conditions.append(REPORTS.c.status == self.status)
        if self.year is not None:
            conditions.append(REPORTS.c.year == self.year)
        if self.organization:
            conditions.append(REPORTS.c.organization.contains(self.organization, autoescape=True))
        if self.reason:
            conditions.append(REPORTS.c.failure_reason == self.reason)
        if self.code:
            coded = sa.select(ISSUES.c.report_id).where(ISSUES.c.code == self.code)
            conditions.append(REPORTS.c.id.in_(coded))
        return conditions


class Reader:
    """Queries for people: listings, one report, exports, contents to re-parse."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, where: Filter, limit: int = 100) -> list[ReportSummary]:
        """Reports matching a filter, newest first."""
        errors = sa.func.count().filter(ISSUES.c.severity == "error")
        warnings = sa.func.count().filter(ISSUES.c.severity == "warning")
        counts = (
            sa.select(ISSUES.c.report_id, errors.label("errors"), warnings.label("warnings"))
            .group_by(ISSUES.c.report_id)
            .subquery()
        )
        query = (
            sa.select(
                *(REPORTS.c[name] for name in ("id", "sha256", "filename", "status", "failure_reason")),
                *(REPORTS.c[name] for name in ("template", "organization", "year")),
                sa.func.coalesce(counts.c.errors, 0),
                sa.func.coalesce(counts.c.warnings, 0),
                REPORTS.c.updated_at,
            )
            .outerjoin(counts, counts.c.report_id == REPORTS.c.id)
            .where(*where.where())
            .order_by(REPORTS.c.id.desc())
            .limit(limit)
        )
        with self.store.begin() as connection:
            return [ReportSummary(*row) for row in connection.execute(query)]

    def get(self, ident: str) -> StoredReport | None:
        """A report by id, or by SHA-256 (a prefix of 8 characters or more is enough)."""
        if ident.isdigit() and len(ident) < 8:
            condition = REPORTS.c.id == int(ident)
        elif len(ident) >= 8:
            condition = REPORTS.c.sha256.startswith(ident.lower(), autoescape=True)
        else:
            return None
        with self.store.begin() as connection:
            rows = connection.execute(
                sa.select(REPORTS.c.id, REPORTS.c.parser_version, REPORTS.c.result).where(condition).limit(2)
            ).all()
            if len(rows) != 1:
                return None
            report_id, version, result = rows[0]
            seen = connection.execute(
                sa.select(SIGHTINGS.c.path, SIGHTINGS.c.size, SIGHTINGS.c.mtime)
                .where(SIGHTINGS.c.report_id == report_id)
                .order_by(SIGHTINGS.c.seen_at)
            )
            sightings = [Arrival(path, size, mtime) for path, size, mtime in seen]
        return StoredReport(report_id, version, ParseResult.model_validate(result), sightings)

    def results(self, where: Filter) -> Iterator[tuple[int, ParseResult]]:
        """Every matching report's result, streamed in id order."""
        query = sa.select(REPORTS.c.id, REPORTS.c.result).where(*where.where()).order_by(REPORTS.c.id)
        with self.store.begin() as connection:
            for report_id, result in connection.execution_options(yield_per=500).execute(query):
                yield report_id, ParseResult.model_validate(result)

    def contents(self, where: Filter, outdated_only: bool) -> Iterator[StoredContent]:
        """The stored bytes of matching reports (those of an older parser only, if asked)."""
        query = (
            sa.select(REPORTS.c.sha256, REPORTS.c.filename, CONTENTS.c.data)
            .join(CONTENTS, CONTENTS.c.report_id == REPORTS.c.id)
            .where(*where.where())
            .order_by(REPORTS.c.id)
        )
        if outdated_only:
            query = query.where(REPORTS.c.parser_version != self.store.parser_version)
        with self.store.begin() as connection:
            for sha256, filename, data in connection.execution_options(yield_per=100).execute(query):
                yield StoredContent(sha256, filename, bytes(data))
