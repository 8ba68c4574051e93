"""How long the `govreport` command takes to start: `--help`, a sub-command's help, and a few
commands that do little else than start (against an empty temporary SQLite database).

Run from the checkout: `.venv/bin/python bench/cli.py [--runs N] [--json]`. Each command runs N times
(default 9) as a fresh process, as a person or a cron job runs it; the median and the spread are
printed, never asserted. The goal: `govreport --help` under 0.3 s (the commands import their heavy
modules lazily; `tests/test_cli.py` checks that `--help` loads none of them).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOVREPORT = Path(sys.executable).parent / "govreport"
COMMANDS = (
    ("--help",),
    ("ingest", "--help"),
    ("config",),
    ("db", "current"),
    ("reports", "list"),
    ("failures",),
)


def timed(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> float:
    """Seconds one run takes, from start to exit."""
    started = time.perf_counter()
    command = [str(GOVREPORT), *args]
    done = subprocess.run(command, capture_output=True, env=env, cwd=cwd, check=False)  # noqa: S603 - our own script
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"govreport {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    """Time each command and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs per command (median of them)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    options = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVREPORT_")}
        env["GOVREPORT_DATABASE_URL"] = f"sqlite:///{cwd / 'bench.db'}"
        timed(("db", "upgrade"), env, cwd)
        for args in COMMANDS:
            timed(args, env, cwd)  # warm the file cache: the figures are of a start, not of a cold disk
            runs = sorted(timed(args, env, cwd) for _ in range(options.runs))
            figures[" ".join(args)] = {"median_s": statistics.median(runs), "min_s": runs[0], "max_s": runs[-1]}
    if options.json:
        print(json.dumps({"runs": options.runs, "commands": figures}, indent=2))
        return
    print(f"govreport start-up, {options.runs} runs each (seconds)")
    print(f"{'command':24} {'median':>8} {'min':>8} {'max':>8}")
    for name, figure in figures.items():
        print(f"{name:24} {figure['median_s']:8.3f} {figure['min_s']:8.3f} {figure['max_s']:8.3f}")


if __name__ == "__main__":
    main()
