"""Queries for people: listings, one report with its sightings, exports, contents to re-parse.

Raises:
    DatabaseUnavailable: when the database cannot be reached.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from worker.adapters.store import CONTENTS, ISSUES, REPORTS, SIGHTINGS, Arrival, Store
from worker.core.result import ParseResult


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
    # Cell key → where its number was read (see worker.core.document.evidence_json).
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)


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
                sa.select(REPORTS.c.id, REPORTS.c.parser_version, REPORTS.c.result, REPORTS.c.evidence)
                .where(condition)
                .limit(2)
            ).all()
            if len(rows) != 1:
                return None
            report_id, version, result, evidence = rows[0]
            seen = connection.execute(
                sa.select(SIGHTINGS.c.path, SIGHTINGS.c.size, SIGHTINGS.c.mtime)
                .where(SIGHTINGS.c.report_id == report_id)
                .order_by(SIGHTINGS.c.seen_at)
            )
            sightings = [Arrival(path, size, mtime) for path, size, mtime in seen]
        return StoredReport(report_id, version, ParseResult.model_validate(result), sightings, evidence or {})

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
