"""How fast the Store writes parse results, against SQLAlchemy Core and the raw driver for the same rows.

Run from the checkout: `.venv/bin/python bench/store.py [--seconds S] [--json] [--backend sqlite|postgres|both]`
(also `--rounds N`, `--postgres-url URL`, `--profile`). It prints figures, never asserts. The goal: the
Store, one transaction per report, reaches >= 80 % of what SQLAlchemy Core reaches inserting the same
rows (reports, cells, issues, outbox) one transaction per report. Each backend runs on a fresh database
(a temporary SQLite file, a temporary PostgreSQL database), migrated with Alembic and dropped at the end.
"""

import argparse
import contextlib
import cProfile
import hashlib
import io
import itertools
import json
import platform
import pstats
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
# As a script only bench/ is on the path: make `worker` importable from the checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from worker import __version__  # noqa: E402  (needs the path set above)
from worker.adapters.db import make_engine, upgrade  # noqa: E402
from worker.adapters.store import CELLS, ISSUES, OUTBOX, REPORTS, Outcome, Store, report_row  # noqa: E402
from worker.core import parse_bytes  # noqa: E402
from worker.core.result import ParseResult  # noqa: E402
from worker.events import make_event  # noqa: E402
from worker.models import utcnow  # noqa: E402

T = TypeVar("T")
SEEDS = ROOT / "tests" / "fixtures" / "corpus" / "seeds"
GOAL_PERCENT = 80.0
BATCH = 50
CORE = "core 1/txn"
STORE = "store 1/txn"
STORE_BATCH = f"store {BATCH}/txn"
CHUNK = 50  # reports prepared (off the clock) before each timed stretch
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Measured on this machine earlier: Core, one transaction per report.
REFERENCE = {"sqlite": 1500.0, "postgresql": 370.0}
# Children first: the tables the benchmark writes, emptied between runs.
TABLES = ("outbox", "sightings", "issues", "cells", "contents", "paths", "reports")

# The raw driver's statements: the columns of the Store's rows, in the same order.
REPORT_COLUMNS = (
    "sha256",
    "size",
    "encoding",
    "script",
    "status",
    "failure_reason",
    "failure_message",
    "template",
    "organization",
    "year",
    "title",
    "filename",
    "parser_version",
    "result",
    "created_at",
    "updated_at",
)
SQLITE_REPORT = (
    "INSERT INTO reports (sha256, size, encoding, script, status, failure_reason, failure_message, template,"
    " organization, year, title, filename, parser_version, result, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SQLITE_CELL = "INSERT INTO cells (report_id, key, value) VALUES (?, ?, ?)"
SQLITE_ISSUE = "INSERT INTO issues (report_id, code, severity, cells, message) VALUES (?, ?, ?, ?, ?)"
SQLITE_OUTBOX = "INSERT INTO outbox (id, report_id, routing_key, body, created_at, attempts) VALUES (?, ?, ?, ?, ?, ?)"
PG_REPORT = (
    "INSERT INTO reports (sha256, size, encoding, script, status, failure_reason, failure_message, template,"
    " organization, year, title, filename, parser_version, result, created_at, updated_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
PG_CELL = "INSERT INTO cells (report_id, key, value) VALUES (%s, %s, %s)"
PG_COPY_CELLS = "COPY cells (report_id, key, value) FROM STDIN"
PG_ISSUE = "INSERT INTO issues (report_id, code, severity, cells, message) VALUES (%s, %s, %s, %s, %s)"
PG_OUTBOX = (
    "INSERT INTO outbox (id, report_id, routing_key, body, created_at, attempts) VALUES (%s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows the Store writes for one new report, built ahead (report_id comes at insert time)."""

    report: dict[str, Any]
    cells: list[tuple[str, float | None]]
    issues: list[dict[str, Any]]
    outbox: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Figure:
    """One mode on one backend: how many reports in how long, and the rows each left."""

    backend: str
    mode: str
    reports: int
    seconds: float
    cells_per_report: float
    issues_per_report: float
    percent_of_core: float | None = None

    @property
    def per_second(self) -> float:
        """Reports per second."""
        return self.reports / self.seconds


@dataclass(slots=True)
class Backend:
    """A fresh, migrated database: its engine and the raw driver modes that run on it."""

    name: str
    engine: Engine
    raw: dict[str, Callable[[list[Rows]], None]] = field(default_factory=dict)


class Copies:
    """Distinct copies of the seed results: the same content under a new SHA-256 each time."""

    def __init__(self, seeds: Sequence[ParseResult]) -> None:
        self.seeds = list(seeds)
        self.token = secrets.token_hex(8)
        self.counter = itertools.count()

    def take(self, count: int) -> list[ParseResult]:
        """The next `count` copies, cycling through the seeds."""
        return [self._copy(next(self.counter)) for _ in range(count)]

    def _copy(self, number: int) -> ParseResult:
        seed = self.seeds[number % len(self.seeds)]
        sha256 = hashlib.sha256(f"{self.token}/{number}".encode()).hexdigest()
        return seed.model_copy(update={"source": seed.source.model_copy(update={"sha256": sha256})})


def parse_seeds() -> list[ParseResult]:
    """The seed reports, parsed once."""
    return [parse_bytes(path.read_bytes(), path.name) for path in sorted(SEEDS.glob("*.txt"))]


def build_rows(result: ParseResult, now: datetime) -> Rows:
    """The same rows `Store._save` writes for a new report without bytes or arrival."""
    key, event = make_event(result, __version__, now)
    report = report_row(result, __version__, now)
    cells = [(k, None if v is None else float(v)) for k, v in result.cells.items()]
    issues = [
        {"code": i.code.value, "severity": i.severity.value, "cells": i.cells, "message": i.message}
        for i in result.issues
    ]
    outbox = {"id": event.id, "routing_key": key, "body": event.model_dump_json(), "created_at": now, "attempts": 0}
    return Rows(report, cells, issues, outbox)


# -- the timed steps -------------------------------------------------------------------------------


def store_one_each(store: Store, results: list[ParseResult]) -> None:
    """The Store, one transaction per report."""
    for result in results:
        store.save([Outcome(result)])


def store_batch(store: Store, results: list[ParseResult]) -> None:
    """The Store, all of them in one transaction."""
    store.save([Outcome(result) for result in results])


def core_one_each(engine: Engine, batch: list[Rows]) -> None:
    """SQLAlchemy Core, plain inserts, one transaction per report."""
    insert_report = REPORTS.insert().returning(REPORTS.c.id)
    for rows in batch:
        with engine.begin() as connection:
            report_id = connection.execute(insert_report, rows.report).scalar_one()
            connection.execute(CELLS.insert(), [{"report_id": report_id, "key": k, "value": v} for k, v in rows.cells])
            if rows.issues:
                connection.execute(ISSUES.insert(), [{**issue, "report_id": report_id} for issue in rows.issues])
            connection.execute(OUTBOX.insert(), {**rows.outbox, "report_id": report_id})


def sqlite_one_each(connection: sqlite3.Connection, batch: list[Rows]) -> None:
    """sqlite3 alone: executemany, one transaction per report."""
    cursor = connection.cursor()
    for rows in batch:
        report = rows.report
        created = report["created_at"].isoformat(" ")
        values = [report[column] for column in REPORT_COLUMNS[:-3]]
        cursor.execute("BEGIN")
        cursor.execute(SQLITE_REPORT, [*values, json.dumps(report["result"]), created, created])
        report_id = cursor.lastrowid
        cursor.executemany(SQLITE_CELL, [(report_id, k, v) for k, v in rows.cells])
        issues = [(report_id, i["code"], i["severity"], json.dumps(i["cells"]), i["message"]) for i in rows.issues]
        cursor.executemany(SQLITE_ISSUE, issues)
        event = rows.outbox
        cursor.execute(SQLITE_OUTBOX, (event["id"], report_id, event["routing_key"], event["body"], created, 0))
        cursor.execute("COMMIT")


def psycopg_one_each(connection: psycopg.Connection[Any], batch: list[Rows], *, copy: bool) -> None:
    """psycopg alone: executemany (or COPY) for the cells, one transaction per report."""
    cursor = connection.cursor()
    for rows in batch:
        report = rows.report
        values = [report[column] for column in REPORT_COLUMNS]
        values[REPORT_COLUMNS.index("result")] = Jsonb(report["result"])
        cursor.execute(PG_REPORT, values)
        found = cursor.fetchone()
        report_id = found[0] if found else None
        if copy:
            with cursor.copy(PG_COPY_CELLS) as writer:
                for key, value in rows.cells:
                    writer.write_row((report_id, key, value))
        else:
            cursor.executemany(PG_CELL, [(report_id, k, v) for k, v in rows.cells])
        issues = [(report_id, i["code"], i["severity"], Jsonb(i["cells"]), i["message"]) for i in rows.issues]
        if issues:
            cursor.executemany(PG_ISSUE, issues)
        event = rows.outbox
        cursor.execute(PG_OUTBOX, (event["id"], report_id, event["routing_key"], event["body"], event["created_at"], 0))
        connection.commit()


# -- running ---------------------------------------------------------------------------------------


def timed(seconds: float, prepare: Callable[[int], list[T]], step: Callable[[list[T]], None]) -> tuple[int, float]:
    """Feed `step` chunks from `prepare` until it has run `seconds` (its own time), after a warm-up."""
    step(prepare(CHUNK))
    reports, elapsed = 0, 0.0
    while elapsed < seconds:
        inputs = prepare(CHUNK)
        started = time.perf_counter()
        step(inputs)
        elapsed += time.perf_counter() - started
        reports += len(inputs)
    return reports, elapsed


def empty(engine: Engine) -> None:
    """Delete every row the benchmark wrote, so each run starts from empty tables."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
        else:
            for table in TABLES:
                connection.execute(sa.text(f"DELETE FROM {table}"))


def rows_per_report(engine: Engine) -> tuple[float, float]:
    """Cells and issues stored per report: every mode must leave the same rows."""
    with engine.connect() as connection:
        reports, cells, issues = (
            connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("reports", "cells", "issues")
        )
    return (cells / reports, issues / reports) if reports else (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Mode:
    """A way of writing reports: how to prepare a chunk of inputs (off the clock) and the timed step."""

    name: str
    prepare: Callable[[int], list[Any]]
    step: Callable[[list[Any]], None]


def measure(backend: Backend, mode: Mode, seconds: float) -> Figure:
    """One mode on empty tables."""
    empty(backend.engine)
    reports, elapsed = timed(seconds, mode.prepare, mode.step)
    cells, issues = rows_per_report(backend.engine)
    return Figure(backend.name, mode.name, reports, elapsed, cells, issues)


def merge(slices: list[Figure]) -> Figure:
    """The slices of one mode as one figure: their reports over their time."""
    first, count = slices[0], len(slices)
    return replace(
        first,
        reports=sum(f.reports for f in slices),
        seconds=sum(f.seconds for f in slices),
        cells_per_report=sum(f.cells_per_report for f in slices) / count,
        issues_per_report=sum(f.issues_per_report for f in slices) / count,
    )


def rows_maker(copies: Copies) -> Callable[[int], list[Rows]]:
    """Prepare the rows of `count` new copies (off the clock)."""

    def prepare(count: int) -> list[Rows]:
        now = utcnow()
        return [build_rows(result, now) for result in copies.take(count)]

    return prepare


def modes(backend: Backend, copies: Copies) -> list[Mode]:
    """The Store, Core and the raw driver on one backend."""
    store, make_rows = Store(backend.engine), rows_maker(copies)
    return [
        Mode(STORE, copies.take, lambda r: store_one_each(store, r)),
        Mode(STORE_BATCH, lambda _: copies.take(BATCH), lambda r: store_batch(store, r)),
        Mode(CORE, make_rows, lambda r: core_one_each(backend.engine, r)),
        *(Mode(name, make_rows, step) for name, step in backend.raw.items()),
    ]


def run_backend(backend: Backend, copies: Copies, seconds: float, rounds: int) -> list[Figure]:
    """Every mode on one backend, interleaved in rounds so a busy moment hits them alike."""
    ways = modes(backend, copies)
    slices = [measure(backend, mode, seconds / rounds) for _ in range(rounds) for mode in ways]
    figures = [merge([f for f in slices if f.mode == mode.name]) for mode in ways]
    core = next(f.per_second for f in figures if f.mode == CORE)
    return [replace(f, percent_of_core=100 * f.per_second / core) for f in figures]


# -- the databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_backend() -> Iterator[Backend]:
    """A fresh migrated SQLite file, and sqlite3 on it; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="govreport_bench_") as directory:
        path = Path(directory) / "bench.db"
        engine = make_engine(f"sqlite:///{path}")
        raw = sqlite3.connect(path, isolation_level=None)
        try:
            upgrade(engine)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                raw.execute(f"PRAGMA {pragma}")
            yield Backend("sqlite", engine, {"sqlite3 1/txn": lambda batch: sqlite_one_each(raw, batch)})
        finally:
            raw.close()
            engine.dispose()


@contextlib.contextmanager
def postgres_backend(admin_url: str) -> Iterator[Backend]:
    """A fresh migrated PostgreSQL database, and psycopg on it; dropped afterwards."""
    name = f"govreport_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            engine = make_engine(url)
            try:
                with psycopg.connect(url, connect_timeout=5) as raw:
                    upgrade(engine)
                    yield Backend(
                        "postgresql",
                        engine,
                        {
                            "psycopg 1/txn": lambda batch: psycopg_one_each(raw, batch, copy=False),
                            "psycopg+COPY 1/txn": lambda batch: psycopg_one_each(raw, batch, copy=True),
                        },
                    )
            finally:
                engine.dispose()
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# -- output ----------------------------------------------------------------------------------------


def print_table(figures: list[Figure], notes: list[str], seconds: float) -> None:
    """The figures as a table a person reads, with the goal beside them."""
    print(f"govreport store benchmark: ~{seconds:g} s per figure, Python {platform.python_version()}")
    print(f"goal: Store 1/txn >= {GOAL_PERCENT:g} % of SQLAlchemy Core 1/txn for the same rows")
    print(
        f"{'backend':<11}{'mode':<20}{'reports/s':>10}{'ms/report':>10}{'% core':>8}{'cells/rep':>10}{'issues/rep':>11}"
    )
    for f in figures:
        share = "-" if f.percent_of_core is None else f"{f.percent_of_core:.0f}"
        print(
            f"{f.backend:<11}{f.mode:<20}{f.per_second:>10,.0f}{1000 / f.per_second:>10.3f}{share:>8}"
            f"{f.cells_per_report:>10.1f}{f.issues_per_report:>11.2f}"
        )
    for backend, summary in summaries(figures).items():
        met = "met" if summary["percent_of_core"] >= GOAL_PERCENT else "NOT met"
        print(
            f"{backend}: Store 1/txn is {summary['percent_of_core']:.0f} % of Core here: goal {met}"
            f" (Core measured earlier: {REFERENCE[backend]:,.0f}/s); {summary['percent_of_driver']:.0f} % of"
            f" the fastest raw driver mode ({summary['driver_mode']})"
        )
    for note in notes:
        print(f"note: {note}")


def summaries(figures: list[Figure]) -> dict[str, dict[str, Any]]:
    """Per backend, the Store's one-per-transaction rate against Core's and the fastest raw driver's."""
    found: dict[str, dict[str, Any]] = {}
    for store in (f for f in figures if f.mode == STORE):
        drivers = [f for f in figures if f.backend == store.backend and f.mode not in (STORE, STORE_BATCH, CORE)]
        driver = max(drivers, key=lambda f: f.per_second)
        found[store.backend] = {
            "percent_of_core": store.percent_of_core,
            "percent_of_driver": 100 * store.per_second / driver.per_second,
            "driver_mode": driver.mode,
        }
    return found


def print_json(figures: list[Figure], notes: list[str], seconds: float) -> None:
    """The figures as one JSON object."""
    rows = [{**asdict(f), "reports_per_s": f.per_second} for f in figures]
    document = {
        "seconds": seconds,
        "goal": {"store_percent_of_core": GOAL_PERCENT},
        "reference_core_per_s": REFERENCE,
        "figures": rows,
        "store": summaries(figures),
        "notes": notes,
    }
    print(json.dumps(document, ensure_ascii=False))


def profile_store(backend: Backend, copies: Copies, seconds: float) -> str:
    """The top of a cProfile of the Store, one transaction per report, by own time."""
    store = Store(backend.engine)
    empty(backend.engine)
    store_one_each(store, copies.take(CHUNK))
    results = copies.take(max(CHUNK, int(300 * seconds)))
    profiler = cProfile.Profile()
    profiler.runcall(store_one_each, store, results)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


# -- the command -----------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per figure (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved slices per figure (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="a server database to create the bench one from")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the Store, 1/txn")
    return parser.parse_args(argv)


def backends(names: str, postgres_url: str, stack: contextlib.ExitStack, notes: list[str]) -> list[Backend]:
    """The fresh databases asked for; PostgreSQL is skipped with a note when it cannot be reached."""
    found = []
    if names in ("sqlite", "both"):
        found.append(stack.enter_context(sqlite_backend()))
    if names in ("postgres", "both"):
        try:
            found.append(stack.enter_context(postgres_backend(postgres_url)))
        except psycopg.OperationalError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            notes.append(f"PostgreSQL unreachable ({first}): measured SQLite only")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every mode on every backend asked for and print the figures."""
    args = parse_arguments(argv)
    notes: list[str] = []
    copies = Copies(parse_seeds())
    figures: list[Figure] = []
    profiles: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for backend in backends(args.backend, args.postgres_url, stack, notes):
            figures += run_backend(backend, copies, args.seconds, max(1, args.rounds))
            if args.profile:
                profiles[backend.name] = profile_store(backend, copies, args.seconds)
    if args.json:
        print_json(figures, notes, args.seconds)
    else:
        print_table(figures, notes, args.seconds)
    for name, text in profiles.items():
        # Under --json stdout stays one JSON object: the profiles go to stderr.
        print(
            f"\n== cProfile: Store 1/txn on {name}, by own time ==\n{text}",
            file=sys.stderr if args.json else sys.stdout,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
