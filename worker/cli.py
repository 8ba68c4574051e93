"""The `govreport` command: parses arguments, calls services, prints. Nothing else.

Every heavy import (SQLAlchemy, Alembic, pika, the parser, rich) happens inside the command that
needs it: `govreport --help` loads typer and little else. The day-2 commands live in
`worker.operations` and are registered here.
"""

import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from worker import __version__, operations
from worker.console import Command, load, new_app, one_line, open_store

if TYPE_CHECKING:
    from worker.core.parse import Parsed
    from worker.runner import Roles

app = new_app("Ingest Chinese government information-disclosure annual reports (政府信息公开工作年度报告).")
T = TypeVar("T")


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


PathsArgument = Annotated[
    list[Path],
    typer.Argument(
        metavar="PATH...",
        help="Report files (read whatever their names), or folders: read recursively, their files of "
        "report formats only (.txt .htm(l) .pdf .doc(x) .wps .rtf .odt .xls(x) .ods).",
    ),
]


@app.command(
    cls=Command,
    help="Parse report files: one result JSON per file, one per line, in input order. "
    "Exit 0 when every file got a result (invalid and failed reports are results), "
    "1 when a path could not be read at all, 2 on a usage error.",
)
def parse(
    paths: PathsArgument,
    table: Annotated[bool, typer.Option("--table", help="Print the tables for a person instead of JSON.")] = False,
    evidence: Annotated[
        bool,
        typer.Option(
            "--evidence",
            help="Also say where each number was read (page and box, table/row/column, or line): "
            'with JSON, an "evidence" object beside the result.',
        ),
    ] = False,
    max_bytes: Annotated[
        int | None, typer.Option(min=1, metavar="BYTES", help="Fail files over this many bytes as too_large.")
    ] = None,
) -> None:
    """Parse report files: one result JSON per file, one per line, in input order."""
    from worker.jobs import parse_path

    settings = load()
    limit = max_bytes or settings.max_bytes
    unreadable = 0
    for path in _expanded(paths):
        try:
            parsed = parse_path(path, max_bytes=limit)
        except OSError as error:  # FileUnreadable is not an OSError; this is stdout going away
            raise typer.Exit(1) from error
        except Exception as error:  # noqa: BLE001 - one bad path never stops the others
            unreadable += 1
            typer.echo(f"govreport: {error}", err=True)
            continue
        sys.stdout.write(_printed(parsed, table=table, evidence=evidence))
        sys.stdout.flush()
    if unreadable:
        raise typer.Exit(1)


def _expanded(paths: list[Path]) -> list[Path]:
    """The files to read; those of a folder that are not in a report format are skipped, and said."""
    import structlog

    from worker.files import expand_paths

    skipped: list[Path] = []
    files = list(expand_paths(paths, skipped))
    if skipped:
        structlog.get_logger("worker.cli").info(
            "paths.skipped",
            count=len(skipped),
            examples=[str(path) for path in skipped[:5]],
            why="not a report format by its name; name a file to read it anyway",
        )
    return files


def _printed(parsed: "Parsed", *, table: bool, evidence: bool) -> str:
    from worker.core.document import evidence_json
    from worker.core.present import render_evidence, render_tables

    result = parsed.result
    if table:
        text = render_tables(result)
        return text + render_evidence(result, evidence_json(parsed.evidence)) if evidence else text
    if not evidence:
        return result.model_dump_json() + "\n"
    document = result.model_dump(mode="json")
    document["evidence"] = evidence_json(parsed.evidence)
    return json.dumps(document, ensure_ascii=False) + "\n"


@app.command(cls=Command)
def schemas(
    check: Annotated[bool, typer.Option("--check", help="Only check that the committed files are current.")] = False,
    directory: Annotated[Path, typer.Option(metavar="DIR", help="Where the schema files live.")] = Path("schemas"),
) -> None:
    """Write the JSON Schemas of results and events from the code's models (or --check them)."""
    from worker.schemas import stale, write

    if check:
        outdated = stale(directory)
        for name in outdated:
            typer.echo(f"stale: {directory / name} (run `govreport schemas`)", err=True)
        raise typer.Exit(1 if outdated else 0)
    for path in write(directory):
        typer.echo(str(path))


ProgressOption = Annotated[bool, typer.Option(help="Show a progress bar when stderr is a terminal.")]


@app.command(cls=Command)
def ingest(
    paths: PathsArgument,
    jobs: Annotated[int, typer.Option(min=1, metavar="N", help="Parsing processes.")] = 1,
    progress: ProgressOption = True,
) -> None:
    """Parse and store files or whole folders without the broker, skipping content already stored."""
    from worker.ingest import ingest as run_ingest
    from worker.parsing import pool_settings
    from worker.progress import progress_bar

    settings = load()
    store = open_store(settings, create=True)
    files = _expanded(paths)
    with progress_bar("ingesting", len(files), enabled=progress) as advance:
        tally = run_ingest(
            files, store, max_bytes=settings.max_bytes, pool=pool_settings(settings, jobs), progress=advance
        )
    typer.echo(tally.summary())
    for line in tally.unreadable:
        typer.echo(f"govreport: unreadable: {line}", err=True)
    if tally.unreadable:
        raise typer.Exit(1)


@app.command(cls=Command)
def reparse(
    all_reports: Annotated[bool, typer.Option("--all", help="Every matching report, not only older parses.")] = False,
    status: operations.StatusOption = None,
    reason: operations.ReasonOption = None,
    progress: ProgressOption = True,
) -> None:
    """Parse stored reports again from their stored bytes (by default those of an older version).

    A report whose result changed is replaced in one transaction and announced by a change event;
    one whose result is the same only records the new parser version, and nothing is sent.
    """
    from worker.adapters.queries import Reader
    from worker.ingest import reparse as run_reparse
    from worker.progress import progress_bar

    settings = load()
    store = open_store(settings, create=False)
    reader = Reader(store)
    matching = operations.where(status=status, reason=reason)
    total = reader.count_contents(matching, outdated_only=not all_reports)
    with progress_bar("re-parsing", total, enabled=progress) as advance:
        contents = reader.contents(matching, outdated_only=not all_reports)
        tally = run_reparse(_counted(contents, advance), store, max_bytes=settings.max_bytes)
    typer.echo(tally.summary())


def _counted(items: Iterator[T], advance: Callable[[int], None]) -> Iterator[T]:
    """The items, advancing a bar by one as each is taken."""
    for item in items:
        yield item
        advance(1)


app.command("status", cls=Command)(operations.status)
app.command("failures", cls=Command)(operations.failures)
app.command("export", cls=Command)(operations.export)

InboxOption = Annotated[
    Path | None, typer.Option("--inbox", metavar="DIR", help="The folder to watch [GOVREPORT_INBOX].")
]
PollOption = Annotated[
    float | None,
    typer.Option("--poll", min=0.01, metavar="SECONDS", help="Poll every SECONDS (network shares) [GOVREPORT_POLL]."),
]
ConcurrencyOption = Annotated[
    int | None, typer.Option("--concurrency", min=1, metavar="N", help="Parsing processes [GOVREPORT_CONCURRENCY].")
]


def _pipeline(roles: "Roles", **overrides: object) -> None:
    """Run workers; a setting that cannot work ends the command at once with one line and status 1."""
    from worker.errors import GovReportError
    from worker.runner import install_stop_signals
    from worker.runner import run as run_pipeline

    settings = load()  # invalid settings: one line and status 1
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    stop = threading.Event()
    install_stop_signals(stop)
    try:
        run_pipeline(settings, roles, stop)
    except GovReportError as error:
        typer.echo(f"govreport: {one_line(str(error))}", err=True)
        raise typer.Exit(1) from error


@app.command(cls=Command)
def run(inbox: InboxOption = None, poll: PollOption = None, concurrency: ConcurrencyOption = None) -> None:
    """The whole pipeline in one process: watch the inbox, consume, store, relay events.

    Stops in order on SIGTERM or Ctrl-C.
    """
    from worker.runner import Roles

    _pipeline(Roles(), inbox=inbox, poll=poll, concurrency=concurrency)


@app.command(cls=Command)
def watch(inbox: InboxOption = None, poll: PollOption = None) -> None:
    """Watch the inbox and hand settled files to RabbitMQ (with publisher confirms)."""
    from worker.runner import Roles

    _pipeline(Roles(watch=True, consume=False, relay=False), inbox=inbox, poll=poll)


@app.command(cls=Command)
def consume(
    concurrency: ConcurrencyOption = None,
    relay: Annotated[bool, typer.Option(help="Also relay the stored events to RabbitMQ.")] = True,
) -> None:
    """Consume files from RabbitMQ: parse, store, acknowledge (run several anywhere)."""
    from worker.runner import Roles

    _pipeline(Roles(watch=False, consume=True, relay=relay), concurrency=concurrency)


@app.command("relay", cls=Command)
def relay_command() -> None:
    """Publish the stored events of the outbox to RabbitMQ (safe to run more than once)."""
    from worker.runner import Roles

    _pipeline(Roles(watch=False, consume=False, relay=True))


@app.command(cls=Command)
def config() -> None:
    """Print the effective settings (passwords masked)."""
    for name, value in load().effective().items():
        typer.echo(f"{name}={value}")


db_app = new_app("The database: migrations.")
reports_app = new_app("Stored reports: list them, show one.")
dlq_app = new_app("The dead-letter queue: messages that kept crashing their consumer.")
app.add_typer(db_app, name="db")
app.add_typer(reports_app, name="reports")
app.add_typer(dlq_app, name="dlq")
db_app.command("upgrade", cls=Command)(operations.db_upgrade)
db_app.command("current", cls=Command)(operations.db_current)
reports_app.command("list", cls=Command)(operations.reports_list)
reports_app.command("show", cls=Command)(operations.reports_show)
dlq_app.command("list", cls=Command)(operations.dlq_list)
dlq_app.command("replay", cls=Command)(operations.dlq_replay)


def main() -> None:
    """Entry point of the `govreport` script."""
    app()
