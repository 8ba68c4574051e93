"""Shared fixtures: every test starts with pristine logging."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog


@pytest.fixture(autouse=True)
def _pristine_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated database on the real PostgreSQL, for the whole session."""
    from tests.support.servers import postgres_database
    from worker.adapters.db import make_engine, upgrade

    with postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL database emptied."""
    from worker.adapters.db import make_engine, upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'govreport.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "TRUNCATE reports, contents, cells, issues, sightings, outbox, handovers RESTART IDENTITY"
        )
    engine.dispose()
    yield url
