#!/usr/bin/env bash
# Set up everything govreport needs on a Debian machine: Python 3.11-3.13 with venv, LibreOffice (headless,
# with CJK fonts), and ./.venv with the project and its dev tools. Safe to run again: it only does
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    if ! command -v apt-get >/dev/null; then
        echo "bootstrap: please install: $*" >&2
        return 1
    fi
    if [ ! -f /tmp/.govreport-apt-updated ]; then
        as_root apt-get update -qq && touch /tmp/.govreport-apt-updated
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v "$PYTHON" >/dev/null || ! "$PYTHON" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'; then
    apt_install python3 python3-venv python3-dev
    PYTHON=python3
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv
fi

# LibreOffice converts .doc, .wps, .rtf and .odt to .docx (worker/adapters/convert.py); the CJK fonts
# keep Chinese text laid out in the tests' PDF renderings. Calc only lets the tests print .xls/.ods
# fixtures from .xlsx (tests/native/libreoffice.py): the worker reads those itself. Without
# recommends: they would pull in Perl, X11 utilities and a terminal, none of which headless needs.
soffice_found() { command -v soffice >/dev/null || [ -x /usr/lib/libreoffice/program/soffice ]; }
if ! soffice_found; then
    apt_install --no-install-recommends libreoffice-writer-nogui libreoffice-calc-nogui fonts-noto-cjk
elif [ ! -e /usr/lib/libreoffice/program/libsclo.so ]; then
    apt_install --no-install-recommends libreoffice-calc-nogui
fi
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    apt_install --no-install-recommends fonts-noto-cjk
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependencies changed.
stamp=.venv/.govreport-installed
wanted=$(sha256sum pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    echo "$wanted" > "$stamp"
fi
