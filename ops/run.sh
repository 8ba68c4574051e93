#!/usr/bin/env bash
# The main job on the embedded default: set up, make sure the local RabbitMQ runs, then watch
# ./inbox (GOVREPORT_INBOX), storing into ./var/govreport.db and publishing events.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/bootstrap.sh
bash ops/services.sh rabbitmq
exec ./.venv/bin/govreport run "$@"
