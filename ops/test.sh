#!/usr/bin/env bash
# The test command: set up, then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/bootstrap.sh
# Integration tests talk to the real servers: start them (installing them if needed).
bash ops/services.sh postgres rabbitmq

.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy

set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$status"
