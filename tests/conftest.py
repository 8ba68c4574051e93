"""Shared fixtures: every test starts with pristine logging."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.support.databases import DIALECTS, empty_database
from tests.support.pipeline_kit import EventSink, delete_namespace, new_namespace


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


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL database emptied."""
    yield from empty_database(request, tmp_path)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of its own on the broker for one test: its exchanges and queues deleted after."""
    name = new_namespace()
    yield name
    delete_namespace(name)


@pytest.fixture
def sink(namespace: str) -> Iterator[EventSink]:
    """A consumer of the namespace's events exchange."""
    events = EventSink(namespace)
    yield events
    events.close()
