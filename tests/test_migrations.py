"""Alembic is the only way tables are made: empty → head works, and models and migrations agree."""

from collections.abc import Iterator

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

TABLES = {"reports", "contents", "cells", "issues", "sightings", "outbox", "handovers", "claims", "alembic_version"}


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
