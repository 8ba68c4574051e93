"""Alembic is the only way tables are made: empty → head works, and models and migrations agree."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from tests.support.servers import postgres_database
from worker.adapters.db import (
    SchemaOutdated,
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    upgrade,
)
from worker.adapters.queries import Filter, Reader
from worker.adapters.store import Store
from worker.adapters.versions import path_key

TABLES = {
    "reports",
    "contents",
    "cells",
    "issues",
    "sightings",
    "outbox",
    "handovers",
    "claims",
    "paths",
    "alembic_version",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'empty.db'}"
        return
    with postgres_database() as url:
        yield url


def test_an_empty_database_upgrades_to_head_with_no_drift(empty_url: str) -> None:
    engine = make_engine(empty_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(sa.inspect(engine).get_table_names()) == TABLES
    # `alembic check`: autogenerate finds nothing to add, drop or alter.
    command.check(alembic_config(engine))
    engine.dispose()


def test_downgrade_to_nothing_and_back(empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine)
    command.downgrade(alembic_config(engine), "base")
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) == TABLES
    engine.dispose()


def test_a_server_database_is_checked_not_migrated(empty_url: str) -> None:
    engine = make_engine(empty_url)
    with pytest.raises(SchemaOutdated, match="govreport db upgrade"):
        ensure_schema(engine, migrate=False)
    ensure_schema(engine, migrate=True)
    ensure_schema(engine, migrate=False)
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_0005_fills_in_paths_and_current_versions_from_the_sightings(empty_url: str) -> None:
    """Reports stored before 0005: each gets the path of its first sighting, each path the content of
    its latest sighting (by mtime), so `--current` is right for old data too."""
    engine = make_engine(empty_url)
    upgrade(engine, "0004")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    reports = sa.table(
        "reports",
        *(sa.column(name) for name in ("id", "sha256", "size", "status", "filename", "parser_version")),
        sa.column("result", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    sightings = sa.table(
        "sightings",
        *(sa.column(name) for name in ("report_id", "path", "size")),
        sa.column("mtime", sa.DateTime(timezone=True)),
        sa.column("seen_at", sa.DateTime(timezone=True)),
    )
    row = {"size": 1, "status": "failed", "filename": "a.txt", "parser_version": "0.1.0", "result": {}}
    stamps = {"created_at": when, "updated_at": when}
    seen = [(1, "in/a.txt", 0), (5, "in/a.txt", 5), (2, "in/a.txt", 10), (1, "copy/a.txt", 20), (3, "in/b.txt", 5)]
    with engine.begin() as connection:
        connection.execute(
            reports.insert(), [{"id": n, "sha256": f"{n:064d}", **row, **stamps} for n in (1, 2, 3, 4, 5)]
        )
        connection.execute(
            sightings.insert(),
            [
                {"report_id": n, "path": path, "size": 1, "mtime": when + timedelta(minutes=m), "seen_at": when}
                for n, path, m in seen
            ],
        )
    upgrade(engine)
    with engine.connect() as connection:
        paths = dict(connection.execute(sa.text("SELECT key, report_id FROM paths")).all())
        placed = dict(connection.execute(sa.text("SELECT id, path FROM reports")).all())
    assert paths == {path_key("in/a.txt"): 2, path_key("copy/a.txt"): 1, path_key("in/b.txt"): 3}
    assert placed == {1: "in/a.txt", 2: "in/a.txt", 3: "in/b.txt", 4: None, 5: "in/a.txt"}
    current = {r.id for r in Reader(Store(engine)).list(Filter(current=True))}
    assert current == {1, 2, 3, 4}  # not 5 (replaced by 2); 1 through its copy; 4 never seen at a path
    engine.dispose()
