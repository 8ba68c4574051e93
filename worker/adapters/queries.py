"""Queries for people: listings, failures, one report with its sightings, exports, contents to re-parse.

Raises:
    DatabaseUnavailable: when the database cannot be reached.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from worker.adapters.store import CONTENTS, ISSUES, REPORTS, SIGHTINGS, Arrival, Store
from worker.adapters.versions import PATHS, is_current, path_key
from worker.core.result import ParseResult

# The statuses `govreport failures` covers.
PROBLEM_STATUSES = ("failed", "invalid")


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
    path: str | None
    current: bool


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A stored report: its outcome, every place its content was seen, and its place among versions."""

    id: int
    parser_version: str
    result: ParseResult
    # Where its content was seen, newest first: the latest few, or all when asked (see `seen`).
    sightings: list[Arrival]
    # Cell key → where its number was read (see worker.core.document.evidence_json).
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str | None = None
    supersedes: str | None = None
    revision: int = 0
    current: bool = True
    # The content now current at `path`, when another one replaced this report there.
    superseded_by: str | None = None
    # How many sightings there are in all.
    seen: int = 0


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One report of an export: its result and where it stands among its file's versions."""

    id: int
    result: ParseResult
    path: str | None
    supersedes: str | None
    current: bool


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
    # Only current versions: the content last seen at some path, or never seen at one.
    current: bool = False
    # Any of these statuses (`failures`: failed and invalid); `status`, when set, narrows it.
    statuses: tuple[str, ...] = ()

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The filter as SQL conditions on the reports table."""
        conditions: list[sa.ColumnElement[bool]] = []
        if self.current:
            conditions.append(is_current())
        if self.statuses:
            conditions.append(REPORTS.c.status.in_(self.statuses))
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


@dataclass(frozen=True, slots=True)
class Problem:
    """One line of `govreport failures`: a failed report and its reason, or an invalid one and the
    codes of its errors."""

    id: int
    sha256: str
    filename: str
    path: str | None
    status: str
    reason: str | None
    message: str | None
    # Error code → how many times the report has it (invalid reports).
    codes: dict[str, int]


@dataclass(frozen=True, slots=True)
class ProblemTally:
    """How many reports failed for each reason, and how many invalid ones have each error code."""

    reasons: dict[str, int]
    codes: dict[str, int]


class Reader:
    """Queries for people: listings, failures, one report, exports, contents to re-parse."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def count(self, where: Filter) -> int:
        """How many reports match a filter."""
        query = sa.select(sa.func.count()).select_from(REPORTS).where(*where.where())
        with self.store.begin() as connection:
            return int(connection.execute(query).scalar_one())

    def problems(self, where: Filter, limit: int) -> list[Problem]:
        """Failed and invalid reports matching a filter, newest first, with their reasons and codes."""
        where = replace(where, statuses=where.statuses or PROBLEM_STATUSES)
        query = (
            sa.select(
                *(REPORTS.c[name] for name in ("id", "sha256", "filename", "path", "status")),
                REPORTS.c.failure_reason,
                REPORTS.c.failure_message,
            )
            .where(*where.where())
            .order_by(REPORTS.c.id.desc())
            .limit(limit)
        )
        with self.store.begin() as connection:
            rows = connection.execute(query).all()
            codes = self._error_codes(connection, [row.id for row in rows])
        return [
            Problem(
                row.id,
                row.sha256,
                row.filename,
                row.path,
                row.status,
                row.failure_reason,
                row.failure_message,
                codes.get(row.id, {}),
            )
            for row in rows
        ]

    def _error_codes(self, connection: sa.Connection, ids: list[int]) -> dict[int, dict[str, int]]:
        query = (
            sa.select(ISSUES.c.report_id, ISSUES.c.code, sa.func.count())
            .where(ISSUES.c.report_id.in_(ids), ISSUES.c.severity == "error")
            .group_by(ISSUES.c.report_id, ISSUES.c.code)
            .order_by(ISSUES.c.report_id, ISSUES.c.code)
        )
        codes: dict[int, dict[str, int]] = {}
        for report_id, code, count in connection.execute(query) if ids else ():
            codes.setdefault(report_id, {})[code] = int(count)
        return codes

    def problem_tally(self, where: Filter) -> ProblemTally:
        """Failed reports by reason, and invalid reports by error code (a report counts once per code)."""
        by_reason = (
            sa.select(REPORTS.c.failure_reason, sa.func.count())
            .where(*where.where(), REPORTS.c.status == "failed")
            .group_by(REPORTS.c.failure_reason)
        )
        matching = sa.select(REPORTS.c.id).where(*where.where(), REPORTS.c.status == "invalid")
        by_code = (
            sa.select(ISSUES.c.code, sa.func.count(sa.distinct(ISSUES.c.report_id)))
            .where(ISSUES.c.severity == "error", ISSUES.c.report_id.in_(matching))
            .group_by(ISSUES.c.code)
        )
        with self.store.begin() as connection:
            reasons = {str(reason): int(n) for reason, n in connection.execute(by_reason)}
            codes = {str(code): int(n) for code, n in connection.execute(by_code)}
        return ProblemTally(_by_count(reasons), _by_count(codes))

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
                REPORTS.c.path,
                is_current(),
            )
            .outerjoin(counts, counts.c.report_id == REPORTS.c.id)
            .where(*where.where())
            .order_by(REPORTS.c.id.desc())
            .limit(limit)
        )
        with self.store.begin() as connection:
            return [_summary(row) for row in connection.execute(query)]

    def get(self, ident: str, *, sightings: int | None = None) -> StoredReport | None:
        """A report by id, or by SHA-256 (a prefix of 8 characters or more is enough), with its latest
        `sightings` (all of them when None)."""
        if ident.isdigit() and len(ident) < 8:
            condition = REPORTS.c.id == int(ident)
        elif len(ident) >= 8:
            condition = REPORTS.c.sha256.startswith(ident.lower(), autoescape=True)
        else:
            return None
        with self.store.begin() as connection:
            rows = connection.execute(
                sa.select(
                    *(REPORTS.c[name] for name in ("id", "parser_version", "result", "evidence")),
                    *(REPORTS.c[name] for name in ("path", "supersedes", "revision")),
                    is_current().label("current"),
                )
                .where(condition)
                .limit(2)
            ).all()
            if len(rows) != 1:
                return None
            row = rows[0]
            seen = connection.execute(
                sa.select(SIGHTINGS.c.path, SIGHTINGS.c.size, SIGHTINGS.c.mtime)
                .where(SIGHTINGS.c.report_id == row.id)
                .order_by(SIGHTINGS.c.seen_at.desc(), SIGHTINGS.c.id.desc())
                .limit(sightings)
            )
            latest = [Arrival(path, size, mtime) for path, size, mtime in seen]
            total = connection.execute(
                sa.select(sa.func.count()).select_from(SIGHTINGS).where(SIGHTINGS.c.report_id == row.id)
            ).scalar_one()
            now_there = self._now_at(connection, row.path) if row.path else None
        result = ParseResult.model_validate(row.result)
        return StoredReport(
            row.id,
            row.parser_version,
            result,
            latest,
            row.evidence or {},
            path=row.path,
            supersedes=row.supersedes,
            revision=row.revision,
            current=bool(row.current),
            superseded_by=now_there if now_there != result.source.sha256 else None,
            seen=int(total),
        )

    def _now_at(self, connection: sa.Connection, path: str) -> str | None:
        """The content (SHA-256) current at a path."""
        query = (
            sa.select(REPORTS.c.sha256)
            .join(PATHS, PATHS.c.report_id == REPORTS.c.id)
            .where(PATHS.c.key == path_key(path))
        )
        found: str | None = connection.execute(query).scalar()
        return found

    def results(self, where: Filter, limit: int | None = None) -> Iterator[ReportRow]:
        """Every matching report's result (the newest `limit` ones), streamed in id order."""
        conditions = where.where()
        if limit is not None:
            newest = sa.select(REPORTS.c.id).where(*conditions).order_by(REPORTS.c.id.desc()).limit(limit)
            conditions = [REPORTS.c.id.in_(newest.scalar_subquery())]
        query = (
            sa.select(REPORTS.c.id, REPORTS.c.result, REPORTS.c.path, REPORTS.c.supersedes, is_current())
            .where(*conditions)
            .order_by(REPORTS.c.id)
        )
        with self.store.begin() as connection:
            for report_id, result, path, supersedes, current in connection.execution_options(yield_per=500).execute(
                query
            ):
                yield ReportRow(report_id, ParseResult.model_validate(result), path, supersedes, bool(current))

    def count_contents(self, where: Filter, outdated_only: bool) -> int:
        """How many reports `contents` gives."""
        query = sa.select(sa.func.count()).select_from(REPORTS).where(*where.where())
        if outdated_only:
            query = query.where(REPORTS.c.parser_version != self.store.parser_version)
        with self.store.begin() as connection:
            return int(connection.execute(query).scalar_one())

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


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    """Most frequent first, then by name."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _summary(row: Any) -> ReportSummary:
    values = list(row)
    values[-1] = bool(values[-1])  # the `current` test: SQLite gives it back as 0 or 1
    return ReportSummary(*values)
