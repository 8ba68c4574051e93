"""Fault injection (issue 12): the pipeline as separate processes (watcher, two consumers, relay) on the
real RabbitMQ and PostgreSQL, files dropped while roles are SIGKILLed, parsing processes killed, database
connections cut, RabbitMQ's application and PostgreSQL stopped; then the counts that must all be 0.

Run from the checkout: `.venv/bin/python bench/chaos.py [--files 2000] [--faults 50] [--seed 1] [--duration 300]`.
Exit status 1 when any count is not 0. `--local-only` keeps to the faults that touch only the harness's own
processes and connections (safe while others use the servers); the shared ones (stop-rabbitmq,
stop-postgresql) are skipped, and listed, whenever another pytest runs on the machine. Every server
stopped is started again and the run's namespace, database and folder are deleted, however it ends.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As a script only bench/ is on the path: make `worker` and `tests` importable from the checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.chaos import Config, run  # noqa: E402
from tests.support.chaos_faults import ALL_FAULTS, LOCAL_FAULTS  # noqa: E402


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500, help="files to write into the inbox (default 500)")
    parser.add_argument("--faults", type=int, default=20, help="faults to inject (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the files and of the faults (default 1)")
    parser.add_argument(
        "--duration", type=float, default=120.0, help="seconds over which files are dropped and faults injected"
    )
    parser.add_argument("--kinds", default=",".join(ALL_FAULTS), help=f"faults to inject, of: {', '.join(ALL_FAULTS)}")
    parser.add_argument("--local-only", action="store_true", help=f"only {', '.join(LOCAL_FAULTS)}")
    parser.add_argument("--quiet-timeout", type=float, default=600.0, help="seconds to wait for quiet at the end")
    parser.add_argument("--keep", action="store_true", help="keep the inbox and the roles' logs")
    options = parser.parse_args(argv)
    kinds = [kind for kind in options.kinds.split(",") if kind]
    unknown = set(kinds) - set(ALL_FAULTS)
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    options.kinds = tuple(k for k in kinds if not options.local_only or k in LOCAL_FAULTS)
    return options


def main(argv: list[str] | None = None) -> int:
    """Run once, print the table; 1 when a count is not 0."""
    options = arguments(argv)
    outcome = run(
        Config(
            files=options.files,
            faults=options.faults,
            seed=options.seed,
            duration=options.duration,
            kinds=options.kinds,
            quiet_timeout=options.quiet_timeout,
            keep=options.keep,
        )
    )
    print(outcome.table(), flush=True)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
