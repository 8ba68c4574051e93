"""The `govreport` command as a user runs it: the real script, real files, stdout and exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus import CORPUS
from tests.schema_check import assert_valid_result
from worker.core.result import ParseResult

GOVREPORT = Path(sys.executable).parent / "govreport"
SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GOVREPORT), *args], capture_output=True, text=True, check=False, env=env, timeout=120)


def test_every_command_has_help() -> None:
    top = run("--help")
    assert top.returncode == 0
    for command in ("parse", "schemas"):
        assert command in top.stdout
        assert run(command, "--help").returncode == 0


def test_parse_prints_one_result_per_file_in_input_order(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 16)
    paths = [SEEDS[3], empty, SEEDS[0], junk]
    done = run("parse", *map(str, paths))
    assert done.returncode == 0, done.stderr
    results = [ParseResult.model_validate_json(line) for line in done.stdout.splitlines()]
    assert [r.source.filename for r in results] == [p.name for p in paths]
    assert [r.status for r in results] == ["valid", "failed", "valid", "failed"]
    assert [r.failure.reason for r in results if r.failure] == ["empty", "unreadable"]
    for result in results:
        assert_valid_result(result)


def test_one_summary_log_line_per_file_on_stderr() -> None:
    done = run("parse", str(SEEDS[0]), str(SEEDS[1]))
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    parsed = [line for line in lines if line["event"] == "report.parsed"]
    assert [p["filename"] for p in parsed] == [SEEDS[0].name, SEEDS[1].name]
    assert all({"timestamp", "level", "sha256", "status", "duration_ms"} <= p.keys() for p in parsed)


def test_folders_are_read_recursively(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_bytes(SEEDS[0].read_bytes())
    (tmp_path / ".hidden").write_bytes(b"x")
    done = run("parse", str(tmp_path))
    assert len(done.stdout.splitlines()) == 1


def test_a_missing_path_does_not_stop_the_others() -> None:
    done = run("parse", "/nonexistent/report.txt", str(SEEDS[0]))
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 1
    assert "nonexistent" in done.stderr


def test_too_large_files_fail_without_being_read(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(SEEDS[0].read_bytes() * 3)
    done = run("parse", "--max-bytes", "1000", str(big))
    result = ParseResult.model_validate_json(done.stdout)
    assert result.failure is not None and result.failure.reason == "too_large"
    assert result.source.bytes == big.stat().st_size


def test_table_view_marks_problem_cells() -> None:
    done = run("parse", "--table", str(SEEDS[0]))
    assert done.returncode == 0
    assert "-- table 三" in done.stdout
    assert "0?" in done.stdout  # the total the prose contradicts (W_NARRATIVE_MISMATCH)
    assert "W_NARRATIVE_MISMATCH" in done.stdout


@pytest.mark.parametrize("args", [["parse"], ["parse", "--max-bytes", "0", "x"], ["nonsense"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(*args).returncode == 2


def test_schemas_check_passes_on_the_committed_files() -> None:
    assert run("schemas", "--check", "--directory", str(Path(__file__).parent.parent / "schemas")).returncode == 0


def test_the_dropped_file_is_never_modified(tmp_path: Path) -> None:
    copy = tmp_path / "r.txt"
    copy.write_bytes(SEEDS[2].read_bytes())
    before = (copy.read_bytes(), copy.stat().st_mtime_ns)
    run("parse", str(copy))
    assert (copy.read_bytes(), copy.stat().st_mtime_ns) == before
