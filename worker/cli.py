"""The `govreport` command: parses arguments, calls services, prints. Nothing else."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from worker import __version__
from worker.config import load_settings
from worker.core.present import render_tables
from worker.logging import configure_logging
from worker.schemas import stale, write
from worker.services import expand_paths, parse_path

app = typer.Typer(
    name="govreport",
    help="Ingest Chinese government information-disclosure annual reports (政府信息公开工作年度报告).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Ingest Chinese government information-disclosure annual reports (政府信息公开工作年度报告)."""


@app.command(
    help="Parse report files: one result JSON per file, one per line, in input order. "
    "Exit 0 when every file got a result (invalid and failed reports are results), "
    "1 when a path could not be read at all, 2 on a usage error."
)
def parse(
    paths: Annotated[list[Path], typer.Argument(help="Report files, or folders to read recursively.")],
    table: Annotated[bool, typer.Option("--table", help="Print the tables for a person instead of JSON.")] = False,
    max_bytes: Annotated[int | None, typer.Option(min=1, help="Fail files over this many bytes as too_large.")] = None,
) -> None:
    """Parse report files: one result JSON per file, one per line, in input order."""
    settings = load_settings()
    configure_logging(settings.log_level)
    limit = max_bytes or settings.max_bytes
    unreadable = 0
    for path in expand_paths(paths):
        try:
            result = parse_path(path, max_bytes=limit)
        except OSError as error:  # FileUnreadable is not an OSError; this is stdout going away
            raise typer.Exit(1) from error
        except Exception as error:  # noqa: BLE001 - one bad path never stops the others
            unreadable += 1
            typer.echo(f"govreport: {error}", err=True)
            continue
        sys.stdout.write(render_tables(result) if table else result.model_dump_json() + "\n")
        sys.stdout.flush()
    if unreadable:
        raise typer.Exit(1)


@app.command()
def schemas(
    check: Annotated[bool, typer.Option("--check", help="Only check that the committed files are current.")] = False,
    directory: Annotated[Path, typer.Option(help="Where the schema files live.")] = Path("schemas"),
) -> None:
    """Write the JSON Schemas of results and events from the code's models (or --check them)."""
    if check:
        outdated = stale(directory)
        for name in outdated:
            typer.echo(f"stale: {directory / name} (run `govreport schemas`)", err=True)
        raise typer.Exit(1 if outdated else 0)
    for path in write(directory):
        typer.echo(str(path))


def main() -> None:
    """Entry point of the `govreport` script."""
    app()
