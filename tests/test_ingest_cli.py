"""`govreport ingest`, `reports`, `export`, `reparse` and `db` as a user runs them, on both databases."""

import contextlib
import csv
import hashlib
import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.corpus import CORPUS, cases
from worker.adapters.db import head_revision, make_engine

GOVREPORT = Path(sys.executable).parent / "govreport"


def run(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOVREPORT_DATABASE_URL": url}
    return subprocess.run(
        [str(GOVREPORT), *args], capture_output=True, text=True, check=False, env=env, cwd=cwd, timeout=300
    )


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    shutil.copytree(CORPUS / "seeds", folder / "seeds", ignore=shutil.ignore_patterns("expected"))
    shutil.copytree(CORPUS / "real", folder / "real", ignore=shutil.ignore_patterns("expected"))
    # A real PDF, and the blank national form as Word (a blank form is an invalid report).
    shutil.copytree(CORPUS / "native", folder / "native", ignore=shutil.ignore_patterns("expected"))
    return folder


def test_ingest_skips_what_is_stored_and_export_round_trips_the_numbers(
    database_url: str, inbox: Path, tmp_path: Path
) -> None:
    # A folder gives its files of report formats; a file named is read whatever its name (.md).
    markdown = inbox / "real" / "real-002.md"
    first = run(database_url, tmp_path, "ingest", "--no-progress", str(inbox), str(markdown))
    assert first.returncode == 0, first.stderr
    assert "11 file(s): stored 11 (1 failed, 1 invalid, 9 valid), 0 already stored" in first.stdout
    (inbox / "again.txt").write_bytes((inbox / "seeds" / "000_fe5c224497898358.txt").read_bytes())
    second = run(database_url, tmp_path, "ingest", "--no-progress", "--jobs", "2", str(inbox))
    assert "11 file(s): stored 0 (none), 11 already stored" in second.stdout
    skipped = [json.loads(line) for line in second.stderr.splitlines() if '"paths.skipped"' in line]
    assert skipped and str(markdown) in skipped[0]["examples"]

    exported = run(database_url, tmp_path, "export", "--format", "csv")
    rows = {row["filename"]: row for row in csv.DictReader(io.StringIO(exported.stdout))}
    for case in cases():
        row = rows[case.path.name]
        if case.truth.get("expect_failure"):
            assert row["status"] == "failed" and row["failure_reason"] == case.truth["expect_failure"]
            continue
        assert row["organization"] == (case.truth["meta"]["organization"] or "")
        for key, value in case.truth["cells"].items():
            assert (None if row[key] == "" else float(row[key])) == value, key

    lines = run(database_url, tmp_path, "export", "--format", "jsonl", "--status", "valid").stdout.splitlines()
    assert len(lines) == 9 and all(json.loads(line)["status"] == "valid" for line in lines)
    out = tmp_path / "reports.csv"
    run(database_url, tmp_path, "export", "--format", "csv", "--output", str(out))
    assert out.read_bytes().startswith(b"\xef\xbb\xbfid,")  # Excel finds UTF-8 by its BOM
    assert "柳北区科学技术局" in out.read_text(encoding="utf-8-sig")


def test_reports_list_show_and_reparse(database_url: str, inbox: Path, tmp_path: Path) -> None:
    run(database_url, tmp_path, "ingest", "--no-progress", str(inbox / "seeds"))
    listed = run(database_url, tmp_path, "reports", "list", "--code", "W_NARRATIVE_MISMATCH")
    assert listed.returncode == 0
    assert "000_fe5c224497898358.txt" in listed.stdout and "001_" not in listed.stdout
    assert "川汇区信访局" in run(database_url, tmp_path, "reports", "list", "--year", "2021").stdout
    sha = next(line.split()[-1] for line in listed.stdout.splitlines()[1:])
    shown = run(database_url, tmp_path, "reports", "show", sha)
    assert shown.returncode == 0 and "-- table 三" in shown.stdout and "seen:" in shown.stdout
    assert run(database_url, tmp_path, "reports", "show", "nope-nope").returncode == 1
    assert "0 file(s)" in run(database_url, tmp_path, "reparse").stdout  # nothing parsed by an older version
    assert "5 file(s): stored 5" in run(database_url, tmp_path, "reparse", "--all").stdout


def test_db_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    missing = run(url, tmp_path, "db", "current")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "x.db").exists()
    assert run(url, tmp_path, "db", "upgrade").returncode == 0
    assert f"database {head_revision()}, code {head_revision()}" in run(url, tmp_path, "db", "current").stdout
    (tmp_path / "empty.db").touch()
    assert "(empty)" in run(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path, "db", "current").stdout


def test_the_embedded_default_is_a_file_under_the_working_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOVREPORT_DATABASE_URL"}
    seed = CORPUS / "seeds" / "002_cdc05c08fc0c0e5d.txt"
    done = subprocess.run(
        [str(GOVREPORT), "ingest", "--no-progress", str(seed)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "var" / "govreport.db").exists()


def test_config_masks_passwords(tmp_path: Path) -> None:
    done = run("postgresql://app:topsecret@db.example/x", tmp_path, "config")
    assert "GOVREPORT_DATABASE_URL=postgresql://app:***@db.example/x" in done.stdout
    assert "topsecret" not in done.stdout + done.stderr


def test_reports_show_says_where_a_stored_number_was_read(database_url: str, inbox: Path, tmp_path: Path) -> None:
    run(database_url, tmp_path, "ingest", "--no-progress", str(inbox / "native"))
    sha = hashlib.sha256((inbox / "native" / "huaian-2024.pdf").read_bytes()).hexdigest()
    key = "applications.new_received.natural_person"
    shown = run(database_url, tmp_path, "reports", "show", sha[:12], "--cell", key)
    assert shown.returncode == 0, shown.stderr
    line = next(line for line in shown.stdout.splitlines() if line.strip().startswith(key))
    assert "= 3001" in line and "page 4" in line and "box (" in line
    everything = run(database_url, tmp_path, "reports", "show", sha[:12], "--evidence").stdout
    assert everything.count(" page ") >= 150  # every number of the three tables, each with its page


def _events(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        bodies = connection.exec_driver_sql("SELECT body FROM outbox ORDER BY created_at, id").scalars().all()
    engine.dispose()
    return [json.loads(body) for body in bodies]


def _put(path: Path, source: Path, minute: int) -> str:
    """Copy a seed over `path` with a given mtime; its SHA-256."""
    data = source.read_bytes()
    path.write_bytes(data)
    os.utime(path, (1_800_000_000 + 60 * minute,) * 2)
    return hashlib.sha256(data).hexdigest()


def test_a_replaced_file_supersedes_its_old_version_and_only_current_ones_are_listed(
    database_url: str, tmp_path: Path
) -> None:
    seeds = sorted((CORPUS / "seeds").glob("*.txt"))
    folder = tmp_path / "reports"
    folder.mkdir()
    report = folder / "huaian.txt"
    old = _put(report, seeds[0], 0)
    _put(folder / "other.txt", seeds[2], 0)
    assert run(database_url, tmp_path, "ingest", "--no-progress", str(folder)).returncode == 0
    new = _put(report, seeds[1], 5)
    assert "stored 1 " in run(database_url, tmp_path, "ingest", "--no-progress", str(folder)).stdout
    last = _events(database_url)[-1]
    assert (last["subject"], last["supersedes"], last["revision"]) == (new, old, 0)
    assert last["path"].endswith("huaian.txt")

    everything = run(database_url, tmp_path, "reports", "list").stdout
    assert old[:12] in everything and "(superseded)" in everything
    listed = run(database_url, tmp_path, "reports", "list", "--current").stdout
    assert new[:12] in listed and old[:12] not in listed and "(superseded)" not in listed
    rows = list(csv.DictReader(io.StringIO(run(database_url, tmp_path, "export", "--current").stdout)))
    assert sorted(row["sha256"] for row in rows) == sorted([new, hashlib.sha256(seeds[2].read_bytes()).hexdigest()])
    assert next(row for row in rows if row["sha256"] == new)["supersedes"] == old
    assert all(row["current"] == "true" for row in rows)
    shown = run(database_url, tmp_path, "reports", "show", old[:12]).stdout
    assert f"(superseded; the path now holds {new[:12]}; revision 0)" in shown

    _put(report, seeds[0], 9)  # back to the first version: content already stored, placed again
    assert "1 already stored" in run(database_url, tmp_path, "ingest", "--no-progress", str(report)).stdout
    last = _events(database_url)[-1]
    assert (last["subject"], last["cause"], last["supersedes"], last["revision"]) == (old, "placement", new, 1)
    assert old[:12] in run(database_url, tmp_path, "reports", "list", "--current").stdout


def test_reparse_announces_only_the_results_that_changed(database_url: str, inbox: Path, tmp_path: Path) -> None:
    run(database_url, tmp_path, "ingest", "--no-progress", str(inbox / "seeds"))
    first = _events(database_url)
    unchanged = run(database_url, tmp_path, "reparse", "--all")
    assert "5 file(s): stored 5" in unchanged.stdout and "0 changed and announced" in unchanged.stdout
    assert len(_events(database_url)) == len(first) == 5

    # As an older parser would have left it: another number in one cell.
    sha = first[0]["subject"]
    engine = make_engine(database_url)
    with engine.begin() as connection:
        reports = sa.table("reports", sa.column("sha256"), sa.column("parser_version"), sa.column("result", sa.JSON()))
        result = connection.execute(sa.select(reports.c.result).where(reports.c.sha256 == sha)).scalar_one()
        result["cells"]["active.penalty.decisions"] = 12345
        connection.execute(
            reports.update().where(reports.c.sha256 == sha).values(result=result, parser_version="0.0.1")
        )
    engine.dispose()
    changed = run(database_url, tmp_path, "reparse")
    assert "1 file(s): stored 1" in changed.stdout and "1 changed and announced" in changed.stdout
    events = _events(database_url)
    assert len(events) == 6
    assert (events[-1]["subject"], events[-1]["cause"], events[-1]["cellschanged"]) == (
        sha,
        "reparse",
        "active.penalty.decisions",
    )


# -- what people expect of the day-2 commands ------------------------------------------------------


def _rows(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_read_only_commands_never_create_a_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVREPORT_")}
    env["GOVREPORT_AMQP_URL"] = "amqp://guest:guest@127.0.0.1:1/%2F"  # nothing listens: fails fast
    commands = [
        ["reports", "list"],
        ["reports", "show", "1"],
        ["export"],
        ["failures"],
        ["status"],
        ["db", "current"],
        ["reparse"],
    ]
    for args in commands:
        done = subprocess.run(
            [str(GOVREPORT), *args], capture_output=True, text=True, check=False, env=env, cwd=tmp_path, timeout=60
        )
        assert done.returncode == 1, (args, done.stderr)
        missing = f"no database at {tmp_path / 'var' / 'govreport.db'}"
        assert missing in done.stdout + done.stderr, args
        if args != ["status"]:  # status says it among what it could read, on stdout
            assert done.stderr.count("\n") == 1, (args, done.stderr)
    assert list(tmp_path.iterdir()) == []


def test_lists_say_when_they_are_cut(database_url: str, inbox: Path, tmp_path: Path) -> None:
    run(database_url, tmp_path, "ingest", "--no-progress", str(inbox / "seeds"))
    cut = run(database_url, tmp_path, "reports", "list", "--limit", "2")
    assert len(cut.stdout.splitlines()) == 1 + 2
    assert cut.stderr.strip() == "showing 2 of 5; --limit to see more"
    whole = run(database_url, tmp_path, "reports", "list", "--limit", "5")
    assert len(whole.stdout.splitlines()) == 1 + 5 and whole.stderr == ""


def test_export_filters_by_reason_and_keeps_the_newest(database_url: str, inbox: Path, tmp_path: Path) -> None:
    run(database_url, tmp_path, "ingest", "--no-progress", str(inbox))
    everything = _rows(run(database_url, tmp_path, "export", "--format", "jsonl"))
    reasons = {row["failure_reason"] for row in everything} - {None}
    assert reasons
    for reason in reasons:
        rows = _rows(run(database_url, tmp_path, "export", "--format", "jsonl", "--reason", reason))
        assert rows and [r["sha256"] for r in rows] == [
            r["sha256"] for r in everything if r["failure_reason"] == reason
        ]
    newest = run(database_url, tmp_path, "export", "--format", "jsonl", "--limit", "3")
    assert [r["id"] for r in _rows(newest)] == sorted(r["id"] for r in everything)[-3:]
    assert f"exported 3 of {len(everything)} report(s); --limit to export more" in newest.stderr


def test_failures_give_the_reasons_and_the_codes(database_url: str, inbox: Path, tmp_path: Path) -> None:
    run(database_url, tmp_path, "ingest", "--no-progress", str(inbox))
    everything = _rows(run(database_url, tmp_path, "export", "--format", "jsonl"))
    failed = [r for r in everything if r["status"] == "failed"]
    invalid = [r for r in everything if r["status"] == "invalid"]
    assert failed and invalid
    listed = run(database_url, tmp_path, "failures")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith(f"failed: {len(failed)} ({failed[0]['failure_reason']} ")
    assert lines[1].startswith(f"invalid: {len(invalid)} (reports with E_")
    for row in failed + invalid:
        line = next(line for line in lines if row["sha256"][:12] in line)
        assert row["status"] in line
        assert (row["failure_reason"] if row["status"] == "failed" else "E_") in line
    assert not any(r["sha256"][:12] in listed.stdout for r in everything if r["status"] == "valid")
    only_invalid = run(database_url, tmp_path, "failures", "--status", "invalid").stdout
    assert all(r["sha256"][:12] not in only_invalid for r in failed)
    cut = run(database_url, tmp_path, "failures", "--limit", "1")
    assert f"showing 1 of {len(failed) + len(invalid)}" in cut.stderr


def test_show_gives_the_latest_sightings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    folder = tmp_path / "copies"
    folder.mkdir()
    seed = (CORPUS / "seeds" / "000_fe5c224497898358.txt").read_bytes()
    for n in range(8):
        (folder / f"copy-{n}.txt").write_bytes(seed)
    assert run(url, tmp_path, "ingest", "--no-progress", str(folder)).returncode == 0
    shown = run(url, tmp_path, "reports", "show", "1").stdout
    assert shown.count("seen: ") == 5 and "… and 3 more, seen earlier (--all to see them)" in shown
    every = run(url, tmp_path, "reports", "show", "1", "--all").stdout
    assert every.count("seen: ") == 8 and "more, seen earlier" not in every


# -- the progress bar ------------------------------------------------------------------------------

_ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _on_a_terminal(url: str, cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (stdout a pipe); exit status, stdout, what the terminal got."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "GOVREPORT_DATABASE_URL": url, "COLUMNS": "100"}
    process = subprocess.Popen(
        [str(GOVREPORT), *args], stdout=subprocess.PIPE, stderr=terminal, stdin=subprocess.DEVNULL, env=env, cwd=cwd
    )
    os.close(terminal)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the process and its children closed the terminal
        while chunk := os.read(controller, 65536):
            shown += chunk
    os.close(controller)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=60), out, shown.decode("utf-8", errors="replace")


def test_the_bar_shows_on_a_terminal_and_log_lines_stay_whole(inbox: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    status, out, shown = _on_a_terminal(url, tmp_path, "ingest", str(inbox / "seeds"), str(inbox / "native"))
    assert status == 0 and "7 file(s): stored 7" in out
    text = _ESCAPE.sub(b"", shown.encode()).decode()
    assert "ingesting" in text  # the bar was there
    lines = [line for line in re.split(r"[\r\n]+", text) if '"event"' in line]
    events = [json.loads(line) for line in lines]  # a bar torn into a line would not parse
    assert len([e for e in events if e["event"] == "report.parsed"]) == 7


def test_no_bar_and_no_escape_codes_when_stderr_is_not_a_terminal(inbox: Path, tmp_path: Path) -> None:
    done = run(f"sqlite:///{tmp_path / 'g.db'}", tmp_path, "ingest", str(inbox / "seeds"))
    assert done.returncode == 0
    assert "\x1b" not in done.stderr and "ingesting" not in done.stderr
    assert all(json.loads(line) for line in done.stderr.splitlines())
