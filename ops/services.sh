#!/usr/bin/env bash
# Make sure the servers govreport talks to run here: PostgreSQL (tests, production-like runs) and
# RabbitMQ (the pipeline). Installs them from Debian's packages when missing; starts them when down.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port, name
    for _ in $(seq 1 60); do
        if listening "$1"; then return 0; fi
        sleep 1
    done
    echo "services: $2 did not come up on port $1" >&2
    return 1
}

apt_install() {
    if [ ! -f /tmp/.govreport-apt-updated ]; then
        as_root apt-get update -qq && touch /tmp/.govreport-apt-updated
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres() {
    if listening 5432; then return 0; fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        apt_install postgresql
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    # Tests connect as postgres over TCP without a password, as on the development machines.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q "govreport-trust" "$hba"; then
        as_root sh -c "printf 'host all all 127.0.0.1/32 trust # govreport-trust\n' | cat - '$hba' > '$hba.new' && mv '$hba.new' '$hba'"
        as_root chown postgres:postgres "$hba"
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for 5432 PostgreSQL
}

rabbitmq() {
    if listening 5672; then return 0; fi
    if ! command -v rabbitmq-server >/dev/null; then
        apt_install rabbitmq-server
    fi
    as_root rabbitmq-server -detached || true
    wait_for 5672 RabbitMQ
}

for service in "${@:-postgres}"; do
    "$service"
done
