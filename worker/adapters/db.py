"""The database engine and its migrations: SQLite (embedded default, WAL) or PostgreSQL (psycopg 3).

Raises:
    DatabaseUnavailable: when the server cannot be reached or the file cannot be opened.
"""

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url

from worker.errors import ConfigurationError, TransientError

_PACKAGE = Path(__file__).resolve().parent.parent
# A wheel ships migrations/ inside the package (setup.py maps it there); a checkout has it at its top.
_SHIPPED = _PACKAGE / "migrations"
MIGRATIONS = _SHIPPED if _SHIPPED.is_dir() else _PACKAGE.parent / "migrations"


class DatabaseUnavailable(TransientError):
    """Raised when the database cannot be reached; the work is retried later, never failed."""


class DatabaseMissing(ConfigurationError):
    """Raised when a command that only reads finds no SQLite file where the URL points: it never
    creates one (an empty database in the wrong folder would answer "nothing stored")."""


def normalize_url(url: str, *, create: bool = True) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3; a relative SQLite path is made absolute
    (and its folder created, unless `create` is false: then a missing file is DatabaseMissing)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database).expanduser().resolve()
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise DatabaseMissing(
                f"no database at {path} (GOVREPORT_DATABASE_URL): `govreport ingest` or `govreport db upgrade` "
                "creates it; run from the folder that holds var/, or set the URL"
            )
        parsed = parsed.set(database=str(path))
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine with the settings each dialect needs for many small concurrent transactions; with
    `create` false, a SQLite file must exist already (DatabaseMissing)."""
    url = normalize_url(url, create=create)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes writers queue, not fail.
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that runs the project's migrations on this engine."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database up to a revision (the latest by default)."""
    try:
        command.upgrade(alembic_config(engine), revision)
    except sa.exc.OperationalError as error:
        raise DatabaseUnavailable(f"cannot migrate the database: {error.orig}") from error


def head_revision() -> str | None:
    """The latest revision the code knows."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


class SchemaOutdated(TransientError):
    """Raised when a server database is not at the code's revision: run `govreport db upgrade`."""


def ensure_schema(engine: Engine, *, migrate: bool) -> None:
    """Migrate (the embedded database) or check that the schema is current (a server's)."""
    if migrate:
        upgrade(engine)
        return
    current = current_revision(engine)  # DatabaseUnavailable when the server cannot be reached
    if current != head_revision():
        raise SchemaOutdated(
            f"the database is at revision {current}, the code at {head_revision()}: run `govreport db upgrade`"
        )


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
        raise DatabaseUnavailable(f"cannot reach the database: {error.orig}") from error
