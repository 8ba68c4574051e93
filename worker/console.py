"""What the commands share: help that reads naturally, one-line errors, and the settings and the
database opened for a command.

Imports stay light here (typer and the standard library): `govreport --help` must not load
SQLAlchemy, pika or the parser. Whatever needs them imports them inside the function.
"""

from enum import Enum
from typing import TYPE_CHECKING, Any, NoReturn

import typer

# typer 0.29 (the minor pyproject pins) vendors click as `typer._click`: no separate click to import.
from typer import _click as click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from worker.errors import ConfigurationError, GovReportError

if TYPE_CHECKING:
    from pydantic import ValidationError
    from sqlalchemy.engine import Engine

    from worker.adapters.broker import Broker
    from worker.adapters.store import Store
    from worker.config import Settings

PROGRAM = "govreport"


class _PlainFlags:
    """A flag's help shows no `<bool>`: its name says what it takes."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params: list[click.Parameter] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""
        return params


class Command(_PlainFlags, TyperCommand):
    """A command whose usage and help name arguments by their metavar (`PATH...`), as people write
    them, instead of `{paths}...` and `<list[Path]>`."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        """`[OPTIONS] PATH...`: a required argument bare, an optional one in brackets."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Arguments by name with their help, then the options as typer writes them."""
        params = self.get_params(ctx)
        arguments = [(_argument_name(p), p.help or "") for p in params if isinstance(p, TyperArgument)]
        options = [r for p in params if isinstance(p, TyperOption) and (r := p.get_help_record(ctx))]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Group(_PlainFlags, TyperGroup):
    """A command group with the same plain flags, where an error govreport raises on purpose (a
    database or a broker that cannot be reached, a setting that cannot work) ends any command with
    one line on stderr and status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a GovReportError becomes one line and status 1."""
        try:
            return super().invoke(ctx)
        except GovReportError as error:
            fail(str(error))


def _argument_name(param: TyperArgument) -> str:
    return param.metavar or (param.name or "").upper()


def new_app(help_text: str, **options: Any) -> typer.Typer:
    """A typer app (or sub-app) with plain help: click's layout, not rich's panels, so that `--help`
    does not load rich (a third of its time)."""
    return typer.Typer(
        help=help_text,
        cls=Group,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        **options,
    )


def choices(enum: type[Enum]) -> str:
    """An option's metavar listing its choices: `[valid|invalid|failed]`."""
    return "[" + "|".join(str(member.value) for member in enum) + "]"


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command with one line on stderr (passwords masked) and an exit status."""
    typer.echo(f"{PROGRAM}: {one_line(message)}", err=True)
    raise typer.Exit(code)


def one_line(message: str) -> str:
    """A message as one line, passwords masked (libpq's messages carry a hint on a line of their own)."""
    from worker.logging import mask_secrets

    return mask_secrets(" ".join(message.split()))


def load() -> "Settings":
    """The settings, with logging configured; a setting that cannot work ends the command in one line."""
    from pydantic import ValidationError

    from worker.config import load_settings
    from worker.logging import configure_logging

    try:
        settings = load_settings()
    except ValidationError as error:
        fail(f"invalid settings: {invalid_settings(error)}")
    except ConfigurationError as error:
        fail(str(error))
    configure_logging(settings.log_level, settings.library_log_level)
    return settings


def invalid_settings(error: "ValidationError") -> str:
    """What a pydantic ValidationError of the settings says, on one line, by variable name."""
    return "; ".join(f"GOVREPORT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())


def open_store(settings: "Settings", *, create: bool) -> "Store":
    """The store of a command; a database that cannot be used ends the command in one line."""
    try:
        return connect_store(settings, create=create)
    except GovReportError as error:
        fail(str(error))


def connect_store(settings: "Settings", *, create: bool) -> "Store":
    """The store of a command: the embedded database migrated, a server's schema checked. A command
    that only reads (`create` false) never creates a SQLite file (DatabaseMissing).

    Raises:
        GovReportError: when the database cannot be used (its URL, its file, its server, its schema).
    """
    from worker.adapters.db import ensure_schema
    from worker.adapters.store import Store

    engine = engine_for(settings, create=create)
    try:
        ensure_schema(engine, migrate=settings.embedded_database)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def engine_for(settings: "Settings", *, create: bool) -> "Engine":
    """The database engine of a command (not connected yet).

    Raises:
        ConfigurationError: when the URL cannot be used (DatabaseMissing: no SQLite file, not `create`).
    """
    import sqlalchemy as sa

    from worker.adapters.db import make_engine

    try:
        return make_engine(settings.database, create=create)
    except (sa.exc.ArgumentError, ValueError) as error:
        raise ConfigurationError(f"GOVREPORT_DATABASE_URL cannot be used: {error}") from error


def broker_for(settings: "Settings", role: str) -> "Broker":
    """A broker connection for a command, named for its role (not connected yet)."""
    from worker.adapters.broker import Broker

    return Broker(settings.broker, role, heartbeat=settings.heartbeat, namespace=settings.namespace)
