"""The soak (issue 12): 10,000 files dropped over time into the pipeline run as separate processes
(watcher, two consumers, relay) on the real RabbitMQ and PostgreSQL, no faults; every file must be
stored and announced, and each process's resident memory, printed at intervals, must stay flat.

Run from the checkout: `.venv/bin/python bench/soak.py [--files 10000] [--duration 1200] [--every 30]`.
It is the chaos harness (bench/chaos.py) without faults and with the memory log: the same checks
(lost, duplicated, missing events, stuck, inbox changed), then per role the median of its memory in the
first and the last third of the run. Exit status 1 when a count is not 0 or a role's memory grew.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As a script only bench/ is on the path: make `worker` and `tests` importable from the checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.chaos import Config, run  # noqa: E402


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="files to write into the inbox (default 10000)")
    parser.add_argument("--duration", type=float, default=1200.0, help="seconds over which they are dropped")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between memory samples (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the files (default 1)")
    parser.add_argument("--quiet-timeout", type=float, default=1800.0, help="seconds to wait for quiet at the end")
    parser.add_argument("--keep", action="store_true", help="keep the inbox and the roles' logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run once, print the table; 1 when a count is not 0 or memory grew."""
    options = arguments(argv)
    config = Config(
        files=options.files,
        faults=0,
        seed=options.seed,
        duration=options.duration,
        kinds=(),
        quiet_timeout=options.quiet_timeout,
        keep=options.keep,
        memory_every=options.every,
    )
    outcome = run(config)
    print(outcome.table(), flush=True)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
