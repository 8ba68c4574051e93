"""Versions of a file: which content is current at each path, and which one a new content replaces.

The `paths` table holds, for each path, the content last seen there by the file's modification time
(not by arrival order: versions of a file may be consumed out of order). A new content at a path
names the one it replaced (`reports.supersedes`, and `supersedes` on its event). A report is current
while some path holds it, or when it was never seen at a path. A transaction claims and locks the
rows of its paths before it decides anything, so two consumers storing two versions of one file at
once still link them. The edge cases:

- the same content at two paths is one report, current while either path holds it; the second path
  is only a sighting and is not announced (spec §5: stored once, announced once);
- a path going back to a content stored before (a revert, or a copy over another version) makes no
  new report, but that content becomes the current version there again: its `path` and `supersedes`
  are updated and a `placement` change event says so, or downstream could not tell what is current;
- a file deleted and later put back: deletions are not seen, so the same content again is only a
  sighting, and another content supersedes whatever was last seen at that path;
- a version older (by mtime) than the current one at its path that arrives late is stored but is not
  current, and its first event names the current content in `supersededby`.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import worker.models  # noqa: F401 - defines the tables read below
from worker.events import Placement

_T = SQLModel.metadata.tables
REPORTS, SIGHTINGS, PATHS = _T["reports"], _T["sightings"], _T["paths"]
_UPDATE = (
    PATHS.update()
    .where(PATHS.c.key == sa.bindparam("_key"))
    .values(report_id=sa.bindparam("_report"), mtime=sa.bindparam("_mtime"), updated_at=sa.bindparam("_at"))
)


def path_key(path: str) -> str:
    """The `paths` key of a path (migration 0005 computes the same for the paths it fills in)."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()


def is_current() -> sa.ColumnElement[bool]:
    """Whether a report is a current version: the content last seen at some path, or never seen at one."""
    placed = sa.exists().where(PATHS.c.report_id == REPORTS.c.id)
    seen = sa.exists().where(SIGHTINGS.c.report_id == REPORTS.c.id)
    return placed | ~seen


def aware(moment: datetime) -> datetime:
    """A stored datetime with its zone: SQLite gives them back naive, and every one stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(slots=True)
class Version:
    """The content at a path as a transaction sees it (None: a path claimed for the first time)."""

    report_id: int | None
    sha256: str | None
    mtime: datetime | None


class Paths:
    """The paths one transaction claimed, with their current versions as it changes them."""

    def __init__(self, versions: dict[str, Version] | None = None) -> None:
        self.versions = versions or {}
        self.moved: set[str] = set()

    @classmethod
    def claim(cls, connection: Connection, paths: Iterable[str], now: datetime) -> "Paths":
        """Lock the rows of these paths (creating the missing ones) and read them. Claimed in key order,
        so two transactions claiming the same paths cannot deadlock; one storing another version of
        the same file waits here until the other commits, then sees its version."""
        claims = {path_key(path): path for path in paths}
        if not claims:
            return cls()
        keys = sorted(claims)
        postgres = connection.dialect.name == "postgresql"
        insert = (postgresql.insert if postgres else sqlite.insert)(PATHS).on_conflict_do_nothing(
            index_elements=["key"]
        )
        connection.execute(insert, [{"key": k, "path": claims[k], "updated_at": now} for k in keys])
        query = (
            sa.select(PATHS.c.path, PATHS.c.report_id, REPORTS.c.sha256, PATHS.c.mtime)
            .outerjoin(REPORTS, REPORTS.c.id == PATHS.c.report_id)
            .where(PATHS.c.key.in_(keys))
            .order_by(PATHS.c.key)
        )
        if postgres:
            query = query.with_for_update(of=PATHS)
        # On SQLite the claiming INSERT took the database's write lock: the read is as safe.
        rows = connection.execute(query)
        return cls({path: Version(rid, sha, aware(mtime) if mtime else None) for path, rid, sha, mtime in rows})

    def place(self, path: str | None, mtime: datetime | None, sha256: str) -> tuple[Placement, bool]:
        """Where a content arrived and what it replaced there; and whether it is now the current version
        at that path (not when an older version, by mtime, arrives after a newer one). A content that
        came with no path is current: nothing can replace it."""
        if path is None or mtime is None:
            return Placement(), True
        version = self.versions[path]
        other = version.sha256 if version.sha256 != sha256 else None
        if version.mtime is None or mtime >= version.mtime:
            return Placement(path, supersedes=other), True
        return Placement(path, superseded_by=other), False

    def settle(self, path: str | None, mtime: datetime | None, report_id: int, sha256: str) -> None:
        """Make a content the current version at a path (for the rest of the transaction too)."""
        if path is not None:
            self.versions[path] = Version(report_id, sha256, mtime)
            self.moved.add(path)

    def flush(self, connection: Connection, now: datetime) -> None:
        """Write the paths whose current content changed."""
        moved = [
            {"_key": path_key(path), "_report": v.report_id, "_mtime": v.mtime, "_at": now}
            for path, v in self.versions.items()
            if path in self.moved
        ]
        if moved:
            connection.execute(_UPDATE, moved)
        unfilled = [path_key(path) for path, v in self.versions.items() if v.report_id is None]
        if unfilled:  # pragma: no cover - every claimed path is given its content; never leave a hole
            connection.execute(PATHS.delete().where(PATHS.c.key.in_(unfilled), PATHS.c.report_id.is_(None)))
