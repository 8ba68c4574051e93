#!/usr/bin/env bash
# Test-only tools that Debian packages with much more than the tool: promtool (checks the alert rules
# in ops/prometheus/) comes from the prometheus package, which would also install and start a
# Prometheus server. Fetch the package, keep only promtool, under ./.cache/tools/bin. Prints that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.cache/tools/bin
if command -v promtool >/dev/null; then
    dirname "$(command -v promtool)"
    exit 0
fi
if [ ! -x "$bin/promtool" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    if [ ! -f /tmp/.govreport-apt-updated ]; then
        if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
        touch /tmp/.govreport-apt-updated
    fi
    (cd "$work" && apt-get download -qq prometheus >/dev/null)
    dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
    mkdir -p "$bin"
    cp "$work/x/usr/bin/promtool" "$bin/promtool"
fi
echo "$PWD/$bin"
