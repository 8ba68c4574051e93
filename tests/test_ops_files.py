"""The deployment files of ops/: the RabbitMQ definitions (least privilege, checked against what the
code declares, then imported into the real broker and used by the real pipeline), the systemd units,
and the Prometheus alert rules (their PromQL names only the metrics govreport exports)."""

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
import promql_parser
import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.corpus import CORPUS
from tests.support.pipeline_kit import wait_until
from tests.support.servers import require, require_tool
from worker.adapters.broker import Topology
from worker.core.result import Status
from worker.events import routing_key

ROOT = Path(__file__).resolve().parent.parent
OPS = ROOT / "ops"
DEFINITIONS = OPS / "rabbitmq" / "definitions.json"
USERS_SCRIPT = OPS / "rabbitmq-users.sh"
UNITS = OPS / "systemd"
ALERTS = OPS / "prometheus" / "govreport-alerts.yml"
ALERT_TESTS = OPS / "prometheus" / "govreport-alerts.test.yml"
RUNBOOK = OPS / "RUNBOOK.md"
SCHEMAS = ROOT / "schemas"
GOVREPORT = Path(sys.executable).parent / "govreport"
NAMESPACE = "govreport"  # the one the definitions file is written for
ROLES = ("watcher", "consumer", "relay")


# --- RabbitMQ: the definitions file ------------------------------------------------------------


def load_definitions() -> dict[str, Any]:
    definitions: dict[str, Any] = json.loads(DEFINITIONS.read_text(encoding="utf-8"))
    return definitions


class RecordingChannel:
    """Stands in for a channel to record what `Topology.declare` asks of the broker (no broker: the
    calls are only listed, to derive the permissions they need)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, method: str) -> Callable[..., None]:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((method, args, kwargs))

        return record


def declared(namespace: str) -> RecordingChannel:
    channel = RecordingChannel()
    Topology(namespace).declare(channel)  # type: ignore[arg-type]
    return channel


def needed_permissions(namespace: str, role: str) -> dict[str, set[str]]:
    """The names each permission must cover for a role, from RabbitMQ's access-control table
    (configure: declare; write: publish to, bind a queue; read: consume, bind from an exchange)
    applied to what the code declares, plus what the role does itself."""
    topology = Topology(namespace)
    needed: dict[str, set[str]] = {"configure": set(), "write": set(), "read": set()}
    for method, args, kwargs in declared(namespace).calls:
        name = args[0]
        if method == "exchange_declare":
            needed["configure"].add(name)
        elif method == "queue_declare":
            needed["configure"].add(name)
            dead_letter_exchange = kwargs.get("arguments", {}).get("x-dead-letter-exchange")
            if dead_letter_exchange:
                needed["write"].add(dead_letter_exchange)
                needed["read"].add(name)
        elif method == "queue_bind":
            needed["write"].add(name)
            needed["read"].add(args[1])
        else:
            raise AssertionError(f"Topology.declare calls {method}: add it to this table")
    own = {
        "watcher": ("write", {topology.files}),
        "relay": ("write", {topology.events}),
        "consumer": ("read", {topology.parse, topology.dlq}),
    }
    kind, names = own[role]
    needed[kind] |= names
    return needed


def candidate_names(namespace: str) -> set[str]:
    """Every name of the topology, and names a loose pattern would also let through."""
    topology = Topology(namespace)
    names = {topology.files, topology.dlx, topology.events, topology.parse, topology.dlq}
    decoys = {"", "amq.default", "amq.topic", "amq.gen-x", f"{namespace}.other", f"x{namespace}.files"}
    return names | decoys | {f"{name}.x" for name in names} | {f"{name}x" for name in names}


def allowed(pattern: str, names: set[str]) -> set[str]:
    # RabbitMQ matches a permission's regular expression anywhere in the name (re:run, unanchored).
    return {name for name in names if re.search(pattern, name)}


def permissions_of(definitions: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {entry["user"]: entry for entry in definitions["permissions"]}


def test_the_definitions_hold_no_secret_and_no_user() -> None:
    text = DEFINITIONS.read_text(encoding="utf-8")
    definitions = json.loads(text)
    assert "users" not in definitions
    assert "password" not in text.lower()


def test_the_definitions_create_the_vhost_and_grant_each_role_user() -> None:
    definitions = load_definitions()
    assert [v["name"] for v in definitions["vhosts"]] == [NAMESPACE]
    assert set(permissions_of(definitions)) == {f"govreport-{role}" for role in ROLES}
    assert {entry["vhost"] for entry in definitions["permissions"]} == {NAMESPACE}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_user_may_do_exactly_what_the_role_needs(role: str) -> None:
    entry = permissions_of(load_definitions())[f"govreport-{role}"]
    names = candidate_names(NAMESPACE)
    for kind, needed in needed_permissions(NAMESPACE, role).items():
        assert allowed(entry[kind], names) == needed, f"{role}: {kind}"


def test_only_the_watcher_publishes_files_and_only_the_relay_events() -> None:
    permissions = permissions_of(load_definitions())
    topology = Topology(NAMESPACE)
    writers = {
        exchange: {user for user, entry in permissions.items() if re.search(entry["write"], exchange)}
        for exchange in (topology.files, topology.events, "amq.default")
    }
    assert writers == {
        topology.files: {"govreport-watcher"},
        topology.events: {"govreport-relay"},
        "amq.default": set(),
    }


def test_the_definitions_exchanges_are_the_ones_the_code_declares() -> None:
    calls = declared(NAMESPACE).calls
    code = {
        (args[0], kwargs["exchange_type"], kwargs["durable"])
        for method, args, kwargs in calls
        if method == "exchange_declare"
    }
    definitions = load_definitions()["exchanges"]
    assert {(e["name"], e["type"], e["durable"]) for e in definitions} == code
    # pika declares with these defaults: anything else and the code's declaration would be refused.
    assert all(not e["auto_delete"] and not e["internal"] and e["arguments"] == {} for e in definitions)
    assert {e["vhost"] for e in definitions} == {NAMESPACE}


def test_no_policy_limits_the_parse_queue_or_overrides_its_arguments() -> None:
    # The watcher publishes in transactions, and RabbitMQ commits a transaction whose messages a full
    # reject-publish queue dropped: a length limit on the parse queue would lose files silently.
    definitions = load_definitions()
    assert not definitions["queues"], "queues are declared by the code, with its arguments"
    parse = Topology(NAMESPACE).parse
    forbidden = {"max-length", "max-length-bytes", "overflow", "delivery-limit", "dead-letter-exchange"}
    for policy in definitions["policies"]:
        if re.search(policy["pattern"], parse):
            assert not forbidden & set(policy["definition"]), policy["name"]


def test_the_runbook_grants_the_one_process_user_the_union_of_the_roles() -> None:
    found = re.search(r"set_permissions -p govreport govreport '([^']+)' '([^']+)' '([^']+)'", RUNBOOK.read_text())
    assert found is not None
    names = candidate_names(NAMESPACE)
    for kind, pattern in zip(("configure", "write", "read"), found.groups(), strict=True):
        union = set().union(*(needed_permissions(NAMESPACE, role)[kind] for role in ROLES))
        assert allowed(pattern, names) == union, kind


# --- RabbitMQ: imported into the real broker, used by the real pipeline --------------------------


def rendered(definitions: dict[str, Any], vhost: str, namespace: str, users: dict[str, str]) -> dict[str, Any]:
    """The definitions for another vhost, namespace and user names (the file is for `govreport`)."""
    prefix = "^" + re.escape(f"{NAMESPACE}.")

    def pattern(text: str) -> str:
        assert text.startswith(prefix), text
        return "^" + re.escape(f"{namespace}.") + text.removeprefix(prefix)

    def renamed(user: str) -> str:
        return users[user.removeprefix("govreport-")]

    result = json.loads(json.dumps(definitions))
    result["vhosts"] = [{**v, "name": vhost} for v in definitions["vhosts"]]
    result["permissions"] = [
        {**p, "user": renamed(p["user"]), "vhost": vhost, **{k: pattern(p[k]) for k in ("configure", "write", "read")}}
        for p in definitions["permissions"]
    ]
    result["exchanges"] = [
        {**e, "vhost": vhost, "name": namespace + e["name"].removeprefix(NAMESPACE)} for e in definitions["exchanges"]
    ]
    return result


def rabbitmqctl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rabbitmqctl", *args], input=stdin, capture_output=True, text=True, check=False, timeout=120)


@dataclass(frozen=True)
class Deployment:
    """A vhost, namespace and role users made from the definitions file for one test module."""

    vhost: str
    namespace: str
    users: dict[str, str]
    passwords: dict[str, str]

    def url(self, role: str) -> str:
        return f"amqp://{self.users[role]}:{self.passwords[role]}@127.0.0.1:5672/{quote(self.vhost, safe='')}"

    def guest_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:5672/{quote(self.vhost, safe='')}"


def can_connect(url: str) -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError:
        return False
    return True


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The definitions file and the users script applied to the local RabbitMQ, under unique names;
    the vhost (with its queues and exchanges) and the users are deleted afterwards."""
    require("127.0.0.1", 5672, "RabbitMQ")
    require_tool("rabbitmqctl", "it loads the definitions")
    suffix = uuid.uuid4().hex[:10]
    users = {role: f"govreport-test-{suffix}-{role}" for role in ROLES}
    first = {role: secrets.token_hex(24) for role in ROLES}
    passwords = {role: secrets.token_hex(24) for role in ROLES}
    found = Deployment(f"govreport-test-{suffix}", f"t{suffix}", users, passwords)
    folder = tmp_path_factory.mktemp("rabbitmq")
    definitions = folder / "definitions.json"
    definitions.write_text(json.dumps(rendered(load_definitions(), found.vhost, found.namespace, users)))
    try:
        # Created with one set of passwords, then rotated to another: both paths of the script.
        assert set_passwords(folder, users, first) == [f"{user}: created" for user in users.values()]
        assert set_passwords(folder, users, passwords) == [f"{user}: password set" for user in users.values()]
        # On standard input: Debian's rabbitmqctl runs as the rabbitmq user from /var/lib/rabbitmq, so
        # it can read neither a relative path nor a private temporary folder.
        imported = rabbitmqctl("import_definitions", stdin=definitions.read_text())
        assert imported.returncode == 0, imported.stdout + imported.stderr
        # The event sink of the tests reads as guest.
        assert rabbitmqctl("set_permissions", "-p", found.vhost, "guest", ".*", ".*", ".*").returncode == 0
        # The import finishes asynchronously: wait until every user may use the vhost.
        assert wait_until(lambda: all(can_connect(found.url(role)) for role in ROLES), timeout=60)
        rotated_away = Deployment(found.vhost, found.namespace, users, first)
        assert not any(can_connect(rotated_away.url(role)) for role in ROLES)
        yield found
    finally:
        rabbitmqctl("delete_vhost", found.vhost)
        for user in users.values():
            rabbitmqctl("delete_user", user)


def set_passwords(folder: Path, users: dict[str, str], passwords: dict[str, str]) -> list[str]:
    """Run ops/rabbitmq-users.sh with these password files; what it said it did."""
    for role, user in users.items():
        secret = folder / f"{user}.password"
        secret.touch(mode=0o600)
        secret.write_text(passwords[role] + "\n")
    script = subprocess.run(
        ["bash", str(USERS_SCRIPT), *users.values()],
        env={**os.environ, "GOVREPORT_RABBITMQ_SECRETS": str(folder)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert script.returncode == 0, script.stderr
    return [line.removeprefix("rabbitmq-users: ") for line in script.stdout.splitlines()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    from tests.support.servers import postgres_database
    from worker.adapters.db import make_engine, upgrade

    with postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def started(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen([str(GOVREPORT), *command], env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def log_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return lines


@pytest.mark.rabbitmq
@pytest.mark.postgres
@pytest.mark.slow
def test_the_pipeline_runs_with_the_least_privilege_users(
    deployment: Deployment, server_database: str, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    from worker.adapters.db import make_engine

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    report = sorted((CORPUS / "seeds").glob("*.txt"))[0]
    sha256 = hashlib.sha256(report.read_bytes()).hexdigest()
    shutil.copy(report, inbox / "report.txt")

    sink = pika.BlockingConnection(pika.URLParameters(deployment.guest_url()))
    channel = sink.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, f"{deployment.namespace}.events", routing_key="report.*")

    common = {
        **os.environ,
        "GOVREPORT_NAMESPACE": deployment.namespace,
        "GOVREPORT_DATABASE_URL": server_database,
        "GOVREPORT_INBOX": str(inbox),
        "GOVREPORT_CONCURRENCY": "1",
        "GOVREPORT_LOG_LEVEL": "INFO",
    }
    commands = {"watcher": ["watch"], "consumer": ["consume", "--no-relay"], "relay": ["relay"]}
    logs = {role: tmp_path / f"{role}.log" for role in ROLES}
    processes = {
        role: started(
            commands[role],
            {**common, "GOVREPORT_AMQP_URL": deployment.url(role), "GOVREPORT_METRICS_PORT": str(free_port())},
            logs[role],
        )
        for role in ROLES
    }
    delivered: list[tuple[str, dict[str, Any]]] = []

    def event_arrived() -> bool:
        dead = {role: p.returncode for role, p in processes.items() if p.poll() is not None}
        assert not dead, f"exited: {dead}; " + " ".join(logs[role].read_text()[-2000:] for role in dead)
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            delivered.append((method.routing_key, json.loads(body)))
        return bool(delivered)

    try:
        assert wait_until(event_arrived, timeout=120), "no event delivered"
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        sink.close()

    key, event = delivered[0]
    assert event["subject"] == sha256
    schema = json.loads((SCHEMAS / f"event.{key}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema).validate(event)
    engine = make_engine(server_database)
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT status FROM reports WHERE sha256 = :s"), {"s": sha256}).scalar_one()
    engine.dispose()
    assert key == routing_key(Status(stored))
    assert {role: p.returncode for role, p in processes.items()} == dict.fromkeys(ROLES, 0)
    for role in ROLES:
        text = logs[role].read_text(encoding="utf-8", errors="replace")
        assert not any(deployment.passwords[r] in text for r in ROLES), f"a password in the {role}'s log"
        failures = [line for line in log_lines(logs[role]) if line.get("level") in ("error", "critical")]
        assert failures == [], f"{role}: {failures[:3]}"


@pytest.mark.rabbitmq
@pytest.mark.slow
@pytest.mark.parametrize(
    ("role", "exchange", "refused"),
    [
        ("consumer", "events", True),
        ("watcher", "events", True),
        ("relay", "files", True),
        ("consumer", "files", True),
        ("watcher", "", True),  # the default exchange: straight into a queue, around the exchanges
        ("relay", "events", False),  # the control: the right role is not refused
        ("watcher", "files", False),
    ],
)
def test_a_role_user_may_publish_only_where_its_role_does(
    deployment: Deployment, role: str, exchange: str, refused: bool
) -> None:
    name = f"{deployment.namespace}.{exchange}" if exchange else ""
    connection = pika.BlockingConnection(pika.URLParameters(deployment.url(role)))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        # Routed nowhere and not mandatory: the permission is checked, and nothing reaches a queue.
        if refused:
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as error:
                channel.basic_publish(name, "nowhere.test", b"{}", mandatory=False)
            assert error.value.reply_code == 403
        else:
            channel.basic_publish(name, "nowhere.test", b"{}", mandatory=False)
    finally:
        if connection.is_open:
            connection.close()


@pytest.mark.rabbitmq
@pytest.mark.slow
@pytest.mark.parametrize(("role", "refused"), [("watcher", True), ("relay", True), ("consumer", False)])
def test_only_the_consumer_user_reads_the_dead_letter_queue(deployment: Deployment, role: str, refused: bool) -> None:
    guest = pika.BlockingConnection(pika.URLParameters(deployment.guest_url()))
    Topology(deployment.namespace).declare(guest.channel())  # the queue exists, as once any role ran
    guest.close()
    connection = pika.BlockingConnection(pika.URLParameters(deployment.url(role)))
    try:
        channel = connection.channel()
        dlq = Topology(deployment.namespace).dlq
        if refused:
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as error:
                channel.basic_get(dlq, auto_ack=False)
            assert error.value.reply_code == 403
        else:
            assert channel.basic_get(dlq, auto_ack=False) == (None, None, None)
    finally:
        if connection.is_open:
            connection.close()


# --- systemd units ----------------------------------------------------------------------------------


def unit_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections, each with its (key, value) lines in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
            continue
        key, _, value = line.partition("=")
        sections[current].append((key, value))
    return sections


def values(path: Path, section: str, key: str) -> list[str]:
    return [value for k, value in unit_entries(path)[section] if k == key]


EXPECTED_UNITS = {
    "govreport-watcher.service": ("watch", "amqp-watcher.url"),
    "govreport-consumer@.service": ("consume --no-relay", "amqp-consumer.url"),
    "govreport-relay.service": ("relay", "amqp-relay.url"),
    "govreport.service": ("run", "amqp.url"),
}
HARDENING = {
    "NoNewPrivileges": "true",
    "ProtectSystem": "strict",
    "ProtectHome": "true",
    "PrivateTmp": "true",
    "PrivateDevices": "true",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "true",
    "ProtectKernelTunables": "true",
    "ProtectControlGroups": "true",
    "UMask": "0077",
}


def test_the_units_are_the_expected_ones() -> None:
    assert {path.name for path in UNITS.glob("*.service")} == set(EXPECTED_UNITS)
    assert not (OPS / "govreport.service").exists(), "the unit moved to ops/systemd/"


@pytest.mark.parametrize("name", sorted(EXPECTED_UNITS))
def test_a_unit_runs_its_role_hardened_with_credentials_and_a_graceful_stop(name: str) -> None:
    path = UNITS / name
    command, broker_credential = EXPECTED_UNITS[name]
    service = dict(unit_entries(path)["Service"])
    assert values(path, "Service", "ExecStart") == [f"/opt/govreport/.venv/bin/govreport {command}"]
    assert values(path, "Service", "EnvironmentFile") == ["/etc/govreport/env"]
    assert sorted(values(path, "Service", "LoadCredential")) == [
        f"amqp-url:/etc/govreport/credentials/{broker_credential}",
        "database-url:/etc/govreport/credentials/database.url",
    ]
    environment = dict(v.partition("=")[::2] for v in values(path, "Service", "Environment"))
    assert environment["GOVREPORT_AMQP_URL_FILE"] == "%d/amqp-url"
    assert environment["GOVREPORT_DATABASE_URL_FILE"] == "%d/database-url"
    assert "GOVREPORT_AMQP_URL" not in environment and "GOVREPORT_DATABASE_URL" not in environment
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert int(service["TimeoutStopSec"]) >= 10
    assert service["User"] == "govreport"
    assert {key: service.get(key) for key in HARDENING} == HARDENING


def test_each_unit_serves_metrics_on_its_own_port() -> None:
    ports = [values(UNITS / name, "Service", "Environment") for name in sorted(EXPECTED_UNITS)]
    found = [next(v.partition("=")[2] for v in env if v.startswith("GOVREPORT_METRICS_PORT=")) for env in ports]
    assert len(set(found)) == len(found)
    assert dict(zip(sorted(EXPECTED_UNITS), found, strict=True))["govreport-consumer@.service"] == "%i"


@pytest.mark.parametrize("name", sorted(EXPECTED_UNITS))
def test_a_unit_command_is_one_govreport_accepts(name: str) -> None:
    command = EXPECTED_UNITS[name][0].split()
    result = subprocess.run([str(GOVREPORT), *command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def installed_units(tmp_path: Path) -> list[Path]:
    """The units with their ExecStart pointing at this checkout's govreport (verify checks it exists)."""
    require_tool("systemd-analyze", "it verifies the units")
    copies = []
    for path in sorted(UNITS.glob("*.service")):
        copy = tmp_path / path.name
        copy.write_text(path.read_text(encoding="utf-8").replace("/opt/govreport/.venv/bin/govreport", str(GOVREPORT)))
        copies.append(copy)
    return copies


def test_systemd_accepts_the_units(installed_units: list[Path]) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", *map(str, installed_units)], capture_output=True, text=True, timeout=120
    )
    # Unknown or misspelt keys are only warned about: any line on stderr is a failure.
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("index", range(len(EXPECTED_UNITS)))
def test_systemd_rates_each_unit_well_protected(installed_units: list[Path], index: int) -> None:
    # Exposure 0-10 (10: unprotected); --threshold is in tenths. 2.0 and under is "OK".
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(installed_units[index])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr


def test_the_users_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(USERS_SCRIPT)], capture_output=True, timeout=30).returncode == 0


# --- Prometheus alert rules -------------------------------------------------------------------------

# The metrics govreport exports (the contract of the metrics work), with their labels.
METRICS: dict[str, set[str]] = {
    "govreport_files_detected_total": set(),
    "govreport_files_handed_over_total": set(),
    "govreport_files_consumed_total": {"outcome"},
    "govreport_reports_total": {"status", "reason"},
    "govreport_parse_seconds": {"format"},
    "govreport_drop_to_event_seconds": set(),
    "govreport_events_published_total": set(),
    "govreport_outbox_backlog": set(),
    "govreport_retries_total": {"role"},
    "govreport_dead_letters_total": set(),
    "govreport_dead_letter_queue_messages": set(),
    "govreport_parse_queue_messages": set(),
    "govreport_heartbeat_timestamp_seconds": {"role"},
}
HISTOGRAMS = {"govreport_parse_seconds", "govreport_drop_to_event_seconds"}
LABEL_VALUES = {
    "outcome": {"stored", "duplicate", "requeued", "dead_lettered"},
    "status": {s.value for s in Status},
    "role": set(ROLES),
}
TARGET_LABELS = {"job", "instance"}  # what Prometheus adds to every scraped series
REQUIRED_ALERTS = {"GovreportDeadLettersPresent", "GovreportParseBacklogGrowing", "GovreportNoHeartbeat"}
REQUIRED_ALERTS |= {"GovreportFailureRateHigh"}


def series_labels() -> dict[str, set[str]]:
    """Every series name a query may select, with the labels it has."""
    names = dict(METRICS)
    for histogram in HISTOGRAMS:
        names[f"{histogram}_bucket"] = METRICS[histogram] | {"le"}
        names[f"{histogram}_sum"] = METRICS[histogram]
        names[f"{histogram}_count"] = METRICS[histogram]
    return {name: labels | TARGET_LABELS for name, labels in names.items()}


def load_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def nodes(expression: Any, kind: type) -> list[Any]:
    found: list[Any] = []
    promql_parser.walk(expression, lambda node: found.append(node) if isinstance(node, kind) else None)
    return found


def test_the_required_alerts_are_there_once_each() -> None:
    names = [rule["alert"] for rule in load_rules()]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED_ALERTS


@pytest.mark.parametrize("rule", load_rules(), ids=lambda rule: rule["alert"])
def test_an_alert_queries_only_govreport_metrics_by_their_labels(rule: dict[str, Any]) -> None:
    expression = promql_parser.parse(rule["expr"])  # a syntax error raises here
    known = series_labels()
    selectors = nodes(expression, promql_parser.VectorSelector)
    assert selectors, "an alert must look at some metric"
    for selector in selectors:
        assert selector.name in known, f"not a govreport metric: {selector.name}"
        for matcher in selector.matchers.matchers:
            assert matcher.name in known[selector.name], f"{selector.name} has no label {matcher.name}"
            if matcher.op == promql_parser.MatchOp.Equal and matcher.name in LABEL_VALUES:
                assert matcher.value in LABEL_VALUES[matcher.name], f"{matcher.name}={matcher.value}"
    for aggregate in nodes(expression, promql_parser.AggregateExpr):
        if aggregate.modifier is not None and aggregate.modifier.type == promql_parser.AggModifierType.By:
            inside = set().union(*(known[s.name] for s in nodes(aggregate.expr, promql_parser.VectorSelector)))
            assert set(aggregate.modifier.labels) <= inside, f"grouped by a label no series has: {aggregate}"


@pytest.mark.parametrize("rule", load_rules(), ids=lambda rule: rule["alert"])
def test_an_alert_has_a_severity_and_its_runbook_section(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert rule["annotations"]["runbook_url"] == f"ops/RUNBOOK.md#{rule['alert'].lower()}"
    headings = re.findall(r"^#+ (.+)$", RUNBOOK.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert rule["alert"] in headings


def test_every_alert_has_promtool_cases_that_make_it_fire() -> None:
    document = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    cases = [case for test in document["tests"] for case in test["alert_rule_test"]]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    assert firing == {rule["alert"] for rule in load_rules()}


@pytest.mark.parametrize("check", [["check", "rules", ALERTS.name], ["test", "rules", ALERT_TESTS.name]])
def test_promtool_accepts_the_rules_and_their_cases(check: list[str]) -> None:
    promtool = require_tool("promtool", "Debian's prometheus package has it: ops/tools.sh fetches it")
    result = subprocess.run([promtool, *check], cwd=ALERTS.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
