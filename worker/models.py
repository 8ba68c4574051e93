"""The tables, as SQLModel models. Alembic (migrations/) is the only way they are created or changed.

No `from __future__ import annotations` here: SQLModel reads the annotations at class creation.
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

# Constraint names are part of the schema: a convention keeps them stable across dialects, so
# migrations can drop or alter them by name (and SQLite's batch mode can find them).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A JSON column that is JSONB on PostgreSQL (indexable, compact) and JSON text elsewhere.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def utcnow() -> datetime:
    """Now, timezone-aware: every timestamp is stored with its zone."""
    return datetime.now(UTC)


class Report(SQLModel, table=True):
    """One distinct content (SHA-256) and its stored outcome: valid, invalid or failed."""

    __tablename__ = "reports"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    sha256: str = Field(max_length=64, unique=True)
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    encoding: str | None = Field(default=None, max_length=32)
    script: str | None = Field(default=None, max_length=16)
    status: str = Field(max_length=16, index=True)
    failure_reason: str | None = Field(default=None, max_length=32, index=True)
    failure_message: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    template: str | None = Field(default=None, max_length=8)
    organization: str | None = Field(default=None, max_length=200, index=True)
    year: int | None = Field(default=None, index=True)
    title: str | None = Field(default=None, max_length=400)
    filename: str = Field(max_length=1000)
    parser_version: str = Field(max_length=32)
    result: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    # What the bytes are (spec §3 source.format) and a paged format's page count.
    format: str | None = Field(default=None, max_length=8)
    pages: int | None = Field(default=None)
    # Where each number was read (cell key → page and box, table/row/column, or line): shown to
    # people checking a doubtful cell; kept out of the result document, which events carry.
    evidence: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # Where the content was placed (the file's path relative to the inbox, as given to `ingest`):
    # first the path it arrived at, later any path where it replaced another content again.
    path: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    # The content (SHA-256) it replaced at that path, if any: the link from a file's new version to
    # the one before. Not a foreign key: the older version may be pruned, the link stays meaningful.
    supersedes: str | None = Field(default=None, max_length=64)
    # How many times the report was announced again after its first event (a changed outcome, or its
    # content placed again): numbers those events' ids, so each one is new and deterministic.
    revision: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))


class Content(SQLModel, table=True):
    """The bytes of a report as they arrived, so it can be re-parsed without the file."""

    __tablename__ = "contents"

    report_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    )
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


class Cell(SQLModel, table=True):
    """One canonical cell of a report: SQL aggregates across reports from here."""

    __tablename__ = "cells"

    report_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    )
    key: str = Field(sa_column=sa.Column(sa.String(80), primary_key=True))
    # Double precision holds every count exactly (< 2^53) and the amounts' four decimals.
    value: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))


class CheckIssue(SQLModel, table=True):
    """One finding of a check on a report."""

    __tablename__ = "issues"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    report_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    code: str = Field(max_length=32, index=True)
    severity: str = Field(max_length=8)
    cells: list[str] = Field(sa_column=sa.Column(Json, nullable=False))
    message: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class Sighting(SQLModel, table=True):
    """A file seen at a path: one content can arrive under many names, and again later."""

    __tablename__ = "sightings"
    __table_args__ = (sa.UniqueConstraint("report_id", "path", "mtime", name="uq_sightings_file"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    report_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    mtime: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    seen_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class PathVersion(SQLModel, table=True):
    """The content last seen at a path, by the file's modification time: the current version of a file.

    A report is current while some path's row names it, or when it was never seen at a path at all.
    """

    __tablename__ = "paths"

    # The path's SHA-256: a key of bounded size (an index entry has a size limit, a path has none).
    key: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # Null only inside the transaction that claims a new path: the row is locked before its report is known.
    report_id: int | None = Field(
        default=None,
        sa_column=sa.Column(BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    mtime: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class Handover(SQLModel, table=True):
    """A file the broker confirmed: the watcher does not publish it again, even after a restart."""

    __tablename__ = "handovers"
    __table_args__ = (sa.UniqueConstraint("path", "size", "mtime_ns", name="uq_handovers_file"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    mtime_ns: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    sha256: str = Field(max_length=64, index=True)
    handed_over_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))


class OutboxEvent(SQLModel, table=True):
    """An event committed with its report, published by the relay, then marked sent."""

    __tablename__ = "outbox"

    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    report_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    routing_key: str = Field(max_length=64)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    published_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True, index=True)
    )
    attempts: int = Field(default=0)


class Claim(SQLModel, table=True):
    """A file's bytes held for the consumers when they are too big for one broker message (the claim
    check pattern): the message carries the SHA-256, the consumer reads the bytes from here."""

    __tablename__ = "claims"

    sha256: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
