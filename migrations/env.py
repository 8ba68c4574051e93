"""Alembic environment: the models' metadata, batch mode for SQLite, the engine given in code.

Logging is left to worker.logging (no fileConfig here: it would silence the app's loggers).
"""

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import worker.models  # noqa: F401 - registers the tables on SQLModel.metadata
from worker.adapters.db import make_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run against the engine the caller put in `config.attributes`, or the configured URL."""
    engine = context.config.attributes.get("engine")
    if engine is None:
        engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite:///var/govreport.db")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL for a URL without connecting (`alembic upgrade --sql`)."""
    url = context.config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

__all__ = ["sa"]
