#!/usr/bin/env bash
# Create govreport's RabbitMQ users (one per role), or set their passwords again (rotation).
#
# Each password comes from a file, <folder>/<user>.password, and reaches rabbitmqctl on its standard
# input: never on a command line (where `ps` shows it) and never in ops/rabbitmq/definitions.json
# (which is committed, and whose re-import would reset every password it held). The users get no
# tags: no management UI, no administration.
#
# Run it on a RabbitMQ node as a user that may run rabbitmqctl (root), BEFORE
#   rabbitmqctl import_definitions < ops/rabbitmq/definitions.json
# which grants the permissions and fails with no_such_user for a user that does not exist yet.
#
# Usage: ops/rabbitmq-users.sh [USER...]
#   USER defaults to govreport-watcher govreport-consumer govreport-relay.
# Environment:
#   GOVREPORT_RABBITMQ_SECRETS  the folder of the password files (default /etc/govreport/rabbitmq)
#   RABBITMQCTL                 the rabbitmqctl command, options included (default rabbitmqctl)
#
# A password file holds one line of 16 to 128 URL-safe characters (A-Z a-z 0-9 . _ ~ -), so that it
# can go into an amqp:// URL as it is; make one with `openssl rand -hex 32`. It must not be readable
# by group or others.
set -euo pipefail

secrets=${GOVREPORT_RABBITMQ_SECRETS:-/etc/govreport/rabbitmq}
read -r -a ctl <<<"${RABBITMQCTL:-rabbitmqctl}"
if [ "$#" -gt 0 ]; then
    users=("$@")
else
    users=(govreport-watcher govreport-consumer govreport-relay)
fi

fail() {
    echo "rabbitmq-users: $*" >&2
    exit 1
}

# Check every file before changing anything: a typo in the third must not leave the first two rotated.
passwords=()
for user in "${users[@]}"; do
    file="$secrets/$user.password"
    [ -f "$file" ] || fail "$file is missing (make it: umask 077; openssl rand -hex 32 > $file)"
    if [ $(($(stat -c '%#a' "$file") & 077)) -ne 0 ]; then
        fail "$file is readable by group or others: chmod 600 $file"
    fi
    password=$(head -n 1 "$file")
    [[ $password =~ ^[A-Za-z0-9._~-]{16,128}$ ]] ||
        fail "$file must hold one line of 16 to 128 characters from A-Z a-z 0-9 . _ ~ - (openssl rand -hex 32)"
    passwords+=("$password")
done

existing=$("${ctl[@]}" list_users --silent | cut -f 1)
for i in "${!users[@]}"; do
    user=${users[$i]}
    if grep -qxF -- "$user" <<<"$existing"; then
        printf '%s' "${passwords[$i]}" | "${ctl[@]}" change_password --quiet "$user" >/dev/null
        echo "rabbitmq-users: $user: password set"
    else
        printf '%s' "${passwords[$i]}" | "${ctl[@]}" add_user --quiet "$user" >/dev/null
        echo "rabbitmq-users: $user: created"
    fi
done
