#!/usr/bin/env bash
# The test command: set up, then lint, type-check and run the whole test suite with coverage; then
# the fast part of the suite again on every other supported Python (3.11-3.13) this machine has,
# each in its own venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/bootstrap.sh
# Integration tests talk to the real servers: start them (installing them if needed).
bash ops/services.sh postgres rabbitmq
# promtool checks the alert rules (tests/test_ops_files.py).
PATH="$(bash ops/tools.sh):$PATH"
export PATH

# The coverage the whole suite had when it was first measured (80.7 %, issue 9): raise it as tests
# are added. Code the tests run in subprocesses (cli.py, ingest.py through `govreport`) does not count.
COVERAGE_FLOOR=${COVERAGE_FLOOR:-80}
SUPPORTED="3.11 3.12 3.13"

.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy

# pytest's status; "collected nothing" (5) is a failure too.
run_pytest() {
    local status=0
    "$@" || status=$?
    if [ "$status" -eq 5 ]; then
        echo "test.sh: pytest collected no tests: that is a failure" >&2
        return 1
    fi
    return "$status"
}

# An interpreter for a version that really runs (a pyenv shim can exist for a version not selected).
find_python() {
    local version=$1 candidate
    for candidate in "python$version" "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/"$version".*/bin/"python$version"; do
        if "$candidate" -c "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$version')" \
            >/dev/null 2>&1; then
            command -v "$candidate" || echo "$candidate"
            return 0
        fi
    done
    return 1
}

status=0
run_pytest .venv/bin/pytest --cov=worker --cov-report=term:skip-covered --cov-fail-under="$COVERAGE_FLOOR" "$@" || status=$?

main=$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
for version in $SUPPORTED; do
    [ "$version" = "$main" ] && continue
    if ! python=$(find_python "$version"); then
        echo "test.sh: Python $version is not on this machine: not tested" >&2
        continue
    fi
    venv=".venv-$version"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    stamp="$venv/.govreport-installed"
    wanted=$(sha256sum pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        "$venv/bin/python" -m pip install -q --upgrade pip
        "$venv/bin/python" -m pip install -q -e ".[dev]"
        echo "$wanted" > "$stamp"
    fi
    # The fast tests: the language and library differences show there; the slow ones (servers,
    # LibreOffice) ran above and would double the run.
    echo "test.sh: the suite without its slow tests on Python $version" >&2
    run_pytest "$venv/bin/pytest" -m "not slow" "$@" || status=$?
done
exit "$status"
