"""A migrated, empty database for each test, with every table emptied (`paths` included).

conftest.py's `database_url` truncates a fixed list of tables that predates `paths`, and PostgreSQL
refuses to truncate `reports` while a table the statement does not name refers to it. Test modules
that store reports define their own `database_url` from this one:

    @pytest.fixture(params=DIALECTS)
    def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
        yield from empty_database(request, tmp_path)
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL database emptied."""
    from sqlmodel import SQLModel

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
        connection.exec_driver_sql(f"TRUNCATE {', '.join(SQLModel.metadata.tables)} RESTART IDENTITY")
    engine.dispose()
    yield url
