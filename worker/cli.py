"""The `govreport` command: parses arguments, calls services, prints. Nothing else."""

import json
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from worker import __version__
from worker.adapters.db import current_revision, ensure_schema, head_revision, make_engine, upgrade
from worker.adapters.queries import Filter, Reader
from worker.adapters.store import Store
from worker.config import Settings, load_settings
from worker.core.document import evidence_json
from worker.core.parse import Parsed
from worker.core.present import render_evidence, render_tables
from worker.errors import GovReportError
from worker.export import ExportFormat, write_csv, write_jsonl
from worker.files import expand_paths
from worker.ingest import ingest as run_ingest
from worker.ingest import reparse as run_reparse
from worker.jobs import parse_path
from worker.logging import configure_logging
from worker.parsing import pool_settings
from worker.runner import Roles, install_stop_signals
from worker.runner import run as run_pipeline
from worker.schemas import stale, write

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
    evidence: Annotated[
        bool,
        typer.Option(
            "--evidence",
            help="Also say where each number was read (page and box, table/row/column, or line): "
            'with JSON, an "evidence" object beside the result.',
        ),
    ] = False,
    max_bytes: Annotated[int | None, typer.Option(min=1, help="Fail files over this many bytes as too_large.")] = None,
) -> None:
    """Parse report files: one result JSON per file, one per line, in input order."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.library_log_level)
    limit = max_bytes or settings.max_bytes
    unreadable = 0
    for path in expand_paths(paths):
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


db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
reports_app = typer.Typer(help="Stored reports: list them, show one.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(reports_app, name="reports")

StatusOption = Annotated[str | None, typer.Option("--status", help="valid, invalid or failed.")]
YearOption = Annotated[int | None, typer.Option("--year", help="Report year.")]
OrgOption = Annotated[str | None, typer.Option("--organization", help="Part of the organization's name.")]
CodeOption = Annotated[str | None, typer.Option("--code", help="Reports with an issue of this code.")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Failed reports with this failure reason.")]


def _store(settings: Settings) -> Store:
    engine = make_engine(settings.database)
    try:
        ensure_schema(engine, migrate=settings.embedded_database)
    except GovReportError as error:
        typer.echo(f"govreport: {error}", err=True)
        raise typer.Exit(1) from error
    return Store(engine)


def _setup() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level, settings.library_log_level)
    return settings


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database's tables to the code's revision."""
    settings = _setup()
    engine = make_engine(settings.database)
    try:
        upgrade(engine)
    except GovReportError as error:
        typer.echo(f"govreport: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"database at revision {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the code's."""
    settings = _setup()
    engine = make_engine(settings.database)
    typer.echo(f"database {current_revision(engine) or '(empty)'}, code {head_revision()}")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Report files, or folders to read recursively.")],
    jobs: Annotated[int, typer.Option(min=1, help="Parsing processes.")] = 1,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Parse and store files or whole folders without the broker, skipping content already stored."""
    settings = _setup()
    store = _store(settings)
    files = list(expand_paths(paths))
    with Progress(disable=not progress, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("ingesting", total=len(files))
        tally = run_ingest(
            files,
            store,
            max_bytes=settings.max_bytes,
            pool=pool_settings(settings, jobs),
            progress=lambda n: bar.advance(task, n),
        )
    typer.echo(tally.summary())
    for line in tally.unreadable:
        typer.echo(f"govreport: unreadable: {line}", err=True)
    if tally.unreadable:
        raise typer.Exit(1)


@reports_app.command("list")
def reports_list(
    status: StatusOption = None,
    year: YearOption = None,
    organization: OrgOption = None,
    code: CodeOption = None,
    reason: ReasonOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
) -> None:
    """List stored reports: id, status, template, year, organization, issue counts, file name."""
    reader = Reader(_store(_setup()))
    where = Filter(status=status, year=year, organization=organization, code=code, reason=reason)
    typer.echo(f"{'id':>6}  {'status':8} {'template':8} {'year':4}  {'errors':>6} {'warnings':>8}  organization / file")
    for r in reader.list(where, limit):
        label = r.failure_reason if r.failure_reason else r.organization or "-"
        typer.echo(
            f"{r.id:>6}  {r.status:8} {r.template or '-':8} {r.year or '-':>4}  {r.errors:>6} {r.warnings:>8}  "
            f"{label} / {r.filename}  {r.sha256[:12]}"
        )


def _printed(parsed: Parsed, *, table: bool, evidence: bool) -> str:
    result = parsed.result
    if table:
        text = render_tables(result)
        return text + render_evidence(result, evidence_json(parsed.evidence)) if evidence else text
    if not evidence:
        return result.model_dump_json() + "\n"
    document = result.model_dump(mode="json")
    document["evidence"] = evidence_json(parsed.evidence)
    return json.dumps(document, ensure_ascii=False) + "\n"


@reports_app.command("show")
def reports_show(
    ident: Annotated[str, typer.Argument(help="Report id, or its SHA-256 (8+ characters).")],
    cell: Annotated[
        list[str] | None,
        typer.Option("--cell", help="Say where this cell's number was read (a canonical key; repeatable)."),
    ] = None,
    evidence: Annotated[bool, typer.Option("--evidence", help="Say where every number was read.")] = False,
) -> None:
    """Show one stored report: its tables with the problem cells marked, its issues, where it was seen."""
    found = Reader(_store(_setup())).get(ident)
    if found is None:
        typer.echo(f"govreport: no single report matches {ident!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"report {found.id}, parsed by govreport {found.parser_version}")
    sys.stdout.write(render_tables(found.result))
    if cell or evidence:
        sys.stdout.write(render_evidence(found.result, found.evidence, cell))
    for seen in found.sightings:
        typer.echo(f"seen: {seen.path} ({seen.size} bytes, modified {seen.mtime})")


@app.command()
def export(
    format: Annotated[ExportFormat, typer.Option("--format", help="csv or jsonl.")] = ExportFormat.csv,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    status: StatusOption = None,
    year: YearOption = None,
    organization: OrgOption = None,
    code: CodeOption = None,
) -> None:
    """One row per report, one column per canonical key, plus meta and status (UTF-8)."""
    reader = Reader(_store(_setup()))
    rows = reader.results(Filter(status=status, year=year, organization=organization, code=code))
    write = write_csv if format == ExportFormat.csv else write_jsonl
    if output is None:
        count = write(rows, sys.stdout)
    else:
        # utf-8-sig: Excel recognises UTF-8 CSV only by its BOM; pandas reads it either way.
        encoding = "utf-8-sig" if format == ExportFormat.csv else "utf-8"
        with output.open("w", encoding=encoding, newline="") as out:
            count = write(rows, out)
    typer.echo(f"exported {count} report(s)", err=True)


@app.command()
def reparse(
    all_reports: Annotated[bool, typer.Option("--all", help="Every matching report, not only older parses.")] = False,
    status: StatusOption = None,
    reason: ReasonOption = None,
) -> None:
    """Parse stored reports again from their stored bytes (by default those of an older version).

    Their cells, issues and result are replaced in one transaction, with a new event each.
    """
    settings = _setup()
    store = _store(settings)
    contents = Reader(store).contents(Filter(status=status, reason=reason), outdated_only=not all_reports)
    typer.echo(run_reparse(contents, store, max_bytes=settings.max_bytes).summary())


InboxOption = Annotated[Path | None, typer.Option("--inbox", help="The folder to watch [GOVREPORT_INBOX].")]
PollOption = Annotated[
    float | None, typer.Option("--poll", min=0.01, help="Poll every SECONDS (network shares) [GOVREPORT_POLL].")
]
ConcurrencyOption = Annotated[
    int | None, typer.Option("--concurrency", min=1, help="Parsing processes [GOVREPORT_CONCURRENCY].")
]


def _pipeline(roles: Roles, **overrides: object) -> None:
    settings = _setup()
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    stop = threading.Event()
    install_stop_signals(stop)
    try:
        run_pipeline(settings, roles, stop)
    except GovReportError as error:
        typer.echo(f"govreport: {error}", err=True)
        raise typer.Exit(1) from error


@app.command()
def run(inbox: InboxOption = None, poll: PollOption = None, concurrency: ConcurrencyOption = None) -> None:
    """The whole pipeline in one process: watch the inbox, consume, store, relay events.

    Stops in order on SIGTERM or Ctrl-C.
    """
    _pipeline(Roles(), inbox=inbox, poll=poll, concurrency=concurrency)


@app.command()
def watch(inbox: InboxOption = None, poll: PollOption = None) -> None:
    """Watch the inbox and hand settled files to RabbitMQ (with publisher confirms)."""
    _pipeline(Roles(watch=True, consume=False, relay=False), inbox=inbox, poll=poll)


@app.command()
def consume(
    concurrency: ConcurrencyOption = None,
    relay: Annotated[bool, typer.Option(help="Also relay the stored events to RabbitMQ.")] = True,
) -> None:
    """Consume files from RabbitMQ: parse, store, acknowledge (run several anywhere)."""
    _pipeline(Roles(watch=False, consume=True, relay=relay), concurrency=concurrency)


@app.command("relay")
def relay_command() -> None:
    """Publish the stored events of the outbox to RabbitMQ (safe to run more than once)."""
    _pipeline(Roles(watch=False, consume=False, relay=True))


@app.command()
def config() -> None:
    """Print the effective settings (passwords masked)."""
    for name, value in load_settings().effective().items():
        typer.echo(f"{name}={value}")


def main() -> None:
    """Entry point of the `govreport` script."""
    app()
