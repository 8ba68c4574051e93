"""`govreport ingest`, `reports`, `export`, `reparse` and `db` as a user runs them, on both databases."""

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus import CORPUS, cases

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
    first = run(database_url, tmp_path, "ingest", "--no-progress", str(inbox))
    assert first.returncode == 0, first.stderr
    assert "11 file(s): stored 11 (1 failed, 1 invalid, 9 valid), 0 already stored" in first.stdout
    (inbox / "again.txt").write_bytes((inbox / "seeds" / "000_fe5c224497898358.txt").read_bytes())
    second = run(database_url, tmp_path, "ingest", "--no-progress", "--jobs", "2", str(inbox))
    assert "12 file(s): stored 0 (none), 12 already stored" in second.stdout

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
    assert "(empty)" in run(url, tmp_path, "db", "current").stdout
    assert run(url, tmp_path, "db", "upgrade").returncode == 0
    assert "database 0003, code 0003" in run(url, tmp_path, "db", "current").stdout


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
