"""The `govreport` command as a user runs it: the real script, real files, stdout and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tests.corpus import CORPUS
from tests.schema_check import assert_valid_result
from worker.cli import app
from worker.console import Group
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


# -- help, start-up, choices ----------------------------------------------------------------------

HEAVY = ("sqlalchemy", "alembic", "pika", "rich", "structlog", "pydantic_settings", "worker.core", "worker.adapters")


def _commands() -> list[list[str]]:
    """Every command and sub-command of the app, as argument lists."""
    found: list[list[str]] = [[]]

    def walk(group: Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            found.append([*prefix, name])
            if isinstance(command, Group):
                walk(command, [*prefix, name])

    root = typer.main.get_command(app)
    assert isinstance(root, Group)
    walk(root, [])
    return found


def test_help_reads_naturally_for_every_command() -> None:
    commands = _commands()
    assert {"status", "failures", "export"} <= {c[0] for c in commands if c}
    assert {("dlq", "list"), ("dlq", "replay"), ("reports", "list"), ("db", "current")} <= {
        tuple(c) for c in commands if len(c) == 2
    }
    for args in commands:
        shown = run(*args, "--help")
        assert shown.returncode == 0, args
        for unnatural in ("<bool>", "{paths}", "<list[Path]>", "<str>", "<int"):
            assert unnatural not in shown.stdout, (args, unnatural)
    assert "Usage: govreport ingest [OPTIONS] PATH..." in run("ingest", "--help").stdout
    assert "--status [valid|invalid|failed]" in run("reports", "list", "--help").stdout


@pytest.mark.parametrize("args", [["--help"], ["ingest", "--help"], ["reports", "list", "--help"]])
def test_help_loads_no_heavy_module(args: list[str]) -> None:
    script = (
        "import sys\nfrom worker.cli import app\n"
        f"try:\n    app({args!r}, prog_name='govreport')\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60)
    assert "Usage: govreport" in done.stdout
    loaded = done.stderr.splitlines()
    assert "typer" in loaded
    assert [m for m in loaded if m.startswith(HEAVY)] == []


def test_the_command_line_choices_are_the_cores() -> None:
    from worker import choices, config
    from worker.core import DEFAULT_MAX_BYTES
    from worker.core.result import Code, FailureReason, Status

    assert [c.value for c in choices.StatusChoice] == [s.value for s in Status]
    assert [c.value for c in choices.ReasonChoice] == [r.value for r in FailureReason]
    assert [c.value for c in choices.CodeChoice] == [c.value for c in Code]
    assert set(choices.ProblemChoice) <= set(choices.StatusChoice)
    assert config.DEFAULT_MAX_BYTES == DEFAULT_MAX_BYTES


@pytest.mark.parametrize(
    "args",
    [
        ["reports", "list", "--status", "bogus"],
        ["reports", "list", "--reason", "bogus"],
        ["failures", "--code", "E_BOGUS"],
        ["failures", "--status", "valid"],
        ["export", "--format", "xml"],
        ["reparse", "--status", "bogus"],
    ],
)
def test_a_choice_that_does_not_exist_is_a_usage_error(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [str(GOVREPORT), *args], capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "Invalid value" in done.stderr
    assert not (tmp_path / "var").exists()


def test_a_folder_gives_its_report_files_only() -> None:
    corpus = CORPUS
    reports = [p for p in corpus.rglob("*") if p.is_file() and p.suffix in {".txt", ".html", ".pdf", ".docx"}]
    others = [p for p in corpus.rglob("*") if p.is_file() and p not in reports]
    assert reports and others  # README.md, the expected JSON, a report converted to markdown
    done = run("parse", str(corpus))
    assert done.returncode == 0, done.stderr
    names = sorted(ParseResult.model_validate_json(line).source.filename for line in done.stdout.splitlines())
    assert names == sorted(p.name for p in reports)
    skipped = next(json.loads(line) for line in done.stderr.splitlines() if '"paths.skipped"' in line)
    assert skipped["count"] == len(others)
    named = run("parse", str(corpus / "real" / "real-002.md"))  # a file named is read whatever its name
    assert ParseResult.model_validate_json(named.stdout).status == "valid"


# -- settings and secrets -------------------------------------------------------------------------

SECRETS = ("S3cretPG", "S3cretQ", "S3cretAMQP")


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVREPORT_")}
    return {**env, **{f"GOVREPORT_{k.upper()}": v for k, v in settings.items()}}


def test_config_masks_a_password_however_it_is_given(tmp_path: Path) -> None:
    secret = tmp_path / "amqp_url"
    secret.write_text("amqps://app:S3cretAMQP@mq.example:5671/prod\n")
    env = _env(database_url="postgresql://app:S3cretPG@db.example/x?password=S3cretQ&sslmode=require")
    done = run("config", env={**env, "GOVREPORT_AMQP_URL_FILE": str(secret)})
    assert done.returncode == 0, done.stderr
    assert "GOVREPORT_DATABASE_URL=postgresql://app:***@db.example/x?password=***&sslmode=require" in done.stdout
    assert "GOVREPORT_AMQP_URL=amqps://app:***@mq.example:5671/prod" in done.stdout
    assert f"GOVREPORT_AMQP_URL_FILE={secret}" in done.stdout
    assert not any(s in done.stdout + done.stderr for s in SECRETS)


def test_a_url_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    secret.write_text(f"sqlite:///{tmp_path / 'from-file.db'}\n")  # the newline a secret file ends with
    env = {**_env(), "GOVREPORT_DATABASE_URL_FILE": str(secret)}
    assert run("db", "upgrade", env=env).returncode == 0
    assert (tmp_path / "from-file.db").is_file()


@pytest.mark.parametrize("problem", ["both", "missing", "empty"])
def test_a_secret_file_that_cannot_work_is_one_line(problem: str, tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    if problem != "missing":
        secret.write_text("" if problem == "empty" else "sqlite:///x.db")
    env = {**_env(), "GOVREPORT_DATABASE_URL_FILE": str(secret)}
    if problem == "both":
        env["GOVREPORT_DATABASE_URL"] = "sqlite:///y.db"
    for args in (["config"], ["reports", "list"], ["run"]):
        done = run(*args, env=env)
        assert done.returncode == 1, args
        assert done.stderr.count("\n") == 1 and "GOVREPORT_DATABASE_URL_FILE" in done.stderr, done.stderr
    assert {"both": "both set", "missing": "No such file", "empty": "is empty"}[problem] in done.stderr


# -- TLS ------------------------------------------------------------------------------------------


def test_amqps_urls_give_tls_parameters() -> None:
    import pika

    parameters = pika.URLParameters("amqps://u:p@mq.example/%2F")
    assert parameters.ssl_options is not None and parameters.port == 5671
    assert pika.URLParameters("amqp://u:p@mq.example/%2F").ssl_options is None


def test_sslmode_reaches_the_postgresql_driver() -> None:
    from worker.adapters.db import make_engine

    engine = make_engine("postgresql://app:pw@db.example/x?sslmode=verify-full&sslrootcert=/etc/ca.pem")
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    assert (kwargs["sslmode"], kwargs["sslrootcert"]) == ("verify-full", "/etc/ca.pem")
    engine.dispose()
