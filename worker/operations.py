"""The day-2 commands, for the people who run govreport: what is stored (`reports`, `failures`,
`export`), how the deployment is doing (`status`), the dead-letter queue (`dlq`) and the database's
revision (`db`). `worker.cli` registers them.

None of them creates a database: they read the one that is there. Heavy modules (SQLAlchemy, pika,
the parser) are imported inside the functions, so that `govreport --help` stays quick.
"""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worker.choices import CodeChoice, ExportFormat, ProblemChoice, ReasonChoice, StatusChoice
from worker.console import broker_for, choices, engine_for, fail, load, open_store
from worker.errors import GovReportError

if TYPE_CHECKING:
    from worker.adapters.queries import Filter, Problem

StatusOption = Annotated[
    StatusChoice | None, typer.Option("--status", metavar=choices(StatusChoice), help="Reports with this status.")
]
YearOption = Annotated[int | None, typer.Option("--year", metavar="YEAR", help="Report year.")]
OrgOption = Annotated[
    str | None, typer.Option("--organization", metavar="TEXT", help="Part of the organization's name.")
]
CodeOption = Annotated[
    CodeChoice | None,
    typer.Option("--code", metavar="CODE", help=f"Reports with an issue of this code: {', '.join(CodeChoice)}."),
]
ReasonOption = Annotated[
    ReasonChoice | None,
    typer.Option(
        "--reason", metavar="REASON", help=f"Failed reports with this failure reason: {', '.join(ReasonChoice)}."
    ),
]
CurrentOption = Annotated[
    bool,
    typer.Option(
        "--current", help="Only current versions: no report whose file was replaced at its path by newer content."
    ),
]
SHOWN_SIGHTINGS = 5


def where(
    status: str | None = None,
    year: int | None = None,
    organization: str | None = None,
    code: str | None = None,
    reason: str | None = None,
    current: bool = False,
) -> "Filter":
    """The filter of the options (an enum choice as its plain value)."""
    from worker.adapters.queries import Filter

    def plain(value: str | None) -> str | None:
        return None if value is None else str(value)

    return Filter(
        status=plain(status),
        year=year,
        organization=organization,
        code=plain(code),
        reason=plain(reason),
        current=current,
    )


def cut(shown: int, total: int, what: str = "showing") -> None:
    """Say on stderr that a list stops before its end."""
    if total > shown:
        typer.echo(f"{what} {shown} of {total}; --limit to see more", err=True)


def reports_list(
    status: StatusOption = None,
    year: YearOption = None,
    organization: OrgOption = None,
    code: CodeOption = None,
    reason: ReasonOption = None,
    current: CurrentOption = False,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many, newest first.")] = 100,
) -> None:
    """List stored reports: id, status, template, year, organization, issue counts, path (or file name);
    a version replaced by newer content at its path is marked (superseded)."""
    from worker.adapters.queries import Reader

    reader = Reader(open_store(load(), create=False))
    matching = where(status, year, organization, code, reason, current)
    rows = reader.list(matching, limit)
    typer.echo(f"{'id':>6}  {'status':8} {'template':8} {'year':4}  {'errors':>6} {'warnings':>8}  organization / file")
    for r in rows:
        label = r.failure_reason if r.failure_reason else r.organization or "-"
        typer.echo(
            f"{r.id:>6}  {r.status:8} {r.template or '-':8} {r.year or '-':>4}  {r.errors:>6} {r.warnings:>8}  "
            f"{label} / {r.path or r.filename}  {r.sha256[:12]}{'' if r.current else '  (superseded)'}"
        )
    if len(rows) == limit:
        cut(limit, reader.count(matching))


def reports_show(
    ident: Annotated[str, typer.Argument(metavar="REPORT", help="Report id, or its SHA-256 (8+ characters).")],
    cell: Annotated[
        list[str] | None,
        typer.Option(
            "--cell", metavar="KEY", help="Say where this cell's number was read (a canonical key; repeatable)."
        ),
    ] = None,
    evidence: Annotated[bool, typer.Option("--evidence", help="Say where every number was read.")] = False,
    all_sightings: Annotated[
        bool, typer.Option("--all", help=f"Every place the file was seen, not only the latest {SHOWN_SIGHTINGS}.")
    ] = False,
) -> None:
    """Show one stored report: its tables with the problem cells marked, its issues, where it was seen."""
    from worker.adapters.queries import Reader
    from worker.core.present import render_evidence, render_tables

    found = Reader(open_store(load(), create=False)).get(ident, sightings=None if all_sightings else SHOWN_SIGHTINGS)
    if found is None:
        fail(f"no single report matches {ident!r}")
    typer.echo(f"report {found.id}, parsed by govreport {found.parser_version}")
    sys.stdout.write(render_tables(found.result))
    if cell or evidence:
        sys.stdout.write(render_evidence(found.result, found.evidence, cell))
    if found.path:
        replaced = f", superseding {found.supersedes[:12]}" if found.supersedes else ""
        now_there = f"; the path now holds {found.superseded_by[:12]}" if found.superseded_by else ""
        state = "current" if found.current else "superseded"
        typer.echo(f"path: {found.path} ({state}{replaced}{now_there}; revision {found.revision})")
    for seen in found.sightings:
        typer.echo(f"seen: {seen.path} ({seen.size} bytes, modified {seen.mtime})")
    if found.seen > len(found.sightings):
        typer.echo(f"… and {found.seen - len(found.sightings)} more, seen earlier (--all to see them)")


def failures(
    status: Annotated[
        ProblemChoice | None, typer.Option("--status", metavar=choices(ProblemChoice), help="Only these.")
    ] = None,
    reason: ReasonOption = None,
    code: CodeOption = None,
    year: YearOption = None,
    organization: OrgOption = None,
    current: CurrentOption = False,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many, newest first.")] = 100,
) -> None:
    """Failed reports with their reasons and invalid ones with their error codes: a tally, then one
    line each (newest first)."""
    from dataclasses import replace

    from worker.adapters.queries import PROBLEM_STATUSES, Reader

    reader = Reader(open_store(load(), create=False))
    matching = replace(where(status, year, organization, code, reason, current), statuses=PROBLEM_STATUSES)
    tally = reader.problem_tally(matching)
    failed = sum(tally.reasons.values())
    invalid = reader.count(replace(matching, statuses=("invalid",)))
    typer.echo(f"failed: {failed}" + (f" ({_counts(tally.reasons)})" if failed else ""))
    typer.echo(f"invalid: {invalid}" + (f" (reports with {_counts(tally.codes)})" if invalid else ""))
    rows = reader.problems(matching, limit)
    if rows:
        typer.echo(f"\n{'id':>6}  {'status':7}  {'reason / error codes':32}  file")
    for problem in rows:
        typer.echo(_problem_line(problem))
    if len(rows) == limit:
        cut(limit, failed + invalid)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def _problem_line(problem: "Problem") -> str:
    if problem.status == "failed":
        why = problem.reason or "?"
    else:
        why = ", ".join(f"{code}×{n}" if n > 1 else code for code, n in problem.codes.items()) or "-"
    line = f"{problem.id:>6}  {problem.status:7}  {why:32}  {problem.path or problem.filename}  {problem.sha256[:12]}"
    if problem.message:
        message = " ".join(problem.message.split())
        line += f"\n{'':17}{message[:200]}{'…' if len(message) > 200 else ''}"
    return line


def export(
    format: Annotated[
        ExportFormat, typer.Option("--format", metavar=choices(ExportFormat), help="CSV or JSON lines.")
    ] = ExportFormat.csv,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="File to write (default: stdout).")
    ] = None,
    status: StatusOption = None,
    year: YearOption = None,
    organization: OrgOption = None,
    code: CodeOption = None,
    reason: ReasonOption = None,
    current: CurrentOption = False,
    limit: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Only the newest N (still written in id order).")
    ] = None,
) -> None:
    """One row per report, one column per canonical key, plus meta, status and version (UTF-8)."""
    from worker.adapters.queries import Reader
    from worker.export import write_csv, write_jsonl

    reader = Reader(open_store(load(), create=False))
    matching = where(status, year, organization, code, reason, current)
    rows = reader.results(matching, limit)
    write = write_csv if format == ExportFormat.csv else write_jsonl
    if output is None:
        count = write(rows, sys.stdout)
    else:
        # utf-8-sig: Excel recognises UTF-8 CSV only by its BOM; pandas reads it either way.
        encoding = "utf-8-sig" if format == ExportFormat.csv else "utf-8"
        with output.open("w", encoding=encoding, newline="") as out:
            count = write(rows, out)
    total = reader.count(matching) if limit is not None and count == limit else count
    if total > count:
        typer.echo(f"exported {count} of {total} report(s); --limit to export more", err=True)
    else:
        typer.echo(f"exported {count} report(s)", err=True)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
) -> None:
    """Queue depths, dead letters, the outbox backlog, reports by status, the last arrivals.

    Exit 1 when the database or the broker could not be read (what could be read is still shown).
    """
    from worker.adapters.broker import Topology
    from worker.console import connect_store, one_line
    from worker.status import Status, queues, store_figures

    settings = load()
    found = Status(settings.namespace)
    try:
        store = connect_store(settings, create=False)
        try:
            found.database = store_figures(store)
        finally:
            store.engine.dispose()
    except GovReportError as error:
        found.database_error = one_line(str(error))
    broker = broker_for(settings, "status")
    try:
        found.queues = queues(broker, Topology(settings.namespace, settings.delivery_limit))
    except GovReportError as error:
        found.broker_error = one_line(str(error))
    finally:
        broker.close()
    if as_json:
        typer.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo("\n".join(found.lines()))
    if not found.healthy:
        raise typer.Exit(1)


def dlq_list(
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many, oldest first.")] = 20,
) -> None:
    """The messages in the dead-letter queue, without taking them: file, size, why, when."""
    from worker.adapters.broker import Topology
    from worker.dead_letter_commands import HEADER, peek

    settings = load()
    topology = Topology(settings.namespace, settings.delivery_limit)
    broker = broker_for(settings, "dlq")
    try:
        letters, total = peek(broker, topology, limit)
    finally:
        broker.close()
    if not total:
        typer.echo(f"{topology.dlq}: no message")
        return
    typer.echo(HEADER)
    for letter in letters:
        typer.echo(letter.line())
    cut(len(letters), total)


def dlq_replay(
    limit: Annotated[int | None, typer.Option(min=1, metavar="N", help="Only the oldest N (default: all).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar when stderr is a terminal.")] = True,
) -> None:
    """Send the dead letters back to the parse queue (each removed once the broker has its copy)."""
    from worker.adapters.broker import Topology
    from worker.dead_letter_commands import replay
    from worker.progress import progress_bar

    settings = load()
    topology = Topology(settings.namespace, settings.delivery_limit)
    broker = broker_for(settings, "dlq")
    try:
        depth = broker.depth(topology.dlq)
        waiting = 0 if depth is None else depth.ready
        with progress_bar("replaying", min(waiting, limit or waiting), enabled=progress) as advance:
            replayed = replay(broker, topology, limit, advance) if depth is not None else 0
    finally:
        broker.close()
    typer.echo(f"replayed {replayed} message(s) from {topology.dlq} to {topology.files}")


def db_upgrade() -> None:
    """Create or migrate the database's tables to the code's revision."""
    from worker.adapters.db import current_revision, upgrade

    engine = engine_for(load(), create=True)
    try:
        upgrade(engine)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


def db_current() -> None:
    """Print the database's revision and the code's."""
    from worker.adapters.db import current_revision, head_revision

    engine = engine_for(load(), create=False)
    try:
        typer.echo(f"database {current_revision(engine) or '(empty)'}, code {head_revision()}")
    finally:
        engine.dispose()
