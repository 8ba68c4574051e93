"""Metrics and health: `govreport run` serves the series the alert rules query, they move when a file
is ingested, and /readyz follows the broker (cut through a proxy, never the shared RabbitMQ)."""

import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from tests.corpus import CORPUS
from tests.support.pipeline_kit import Proxy, delete_namespace, new_namespace, wait_until
from tests.support.process import Govreport, environment
from tests.support.servers import require
from worker.adapters.broker import Topology
from worker.exporter import application, serve
from worker.probe import Probe

ALERTS = Path(__file__).resolve().parent.parent / "ops" / "prometheus" / "govreport-alerts.yml"
SEED = sorted((CORPUS / "seeds").glob("*.txt"))[0]
# Label names a govreport series may have: a handful of values each, never a file's.
BOUNDED_LABELS = {"outcome", "status", "reason", "format", "role", "le"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    """The status and body of a GET on the process's port (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(port: int) -> Samples:
    """Every govreport sample of /metrics, by name and labels."""
    status, text = get(port, "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("govreport_")
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series is not there yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    """The sum of a metric's samples over all its labels."""
    return sum(v for (n, _), v in samples.items() if n == name)


def alert_series() -> set[str]:
    """Every series name the alert rules select."""
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    selectors: list[Any] = []

    def keep(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)

    for group in document["groups"]:
        for rule in group["rules"]:
            promql_parser.walk(promql_parser.parse(rule["expr"]), keep)
    return {selector.name for selector in selectors}


def wsgi_get(app: Any, path: str) -> tuple[str, str]:
    """Call a WSGI app for one GET: its status line and body."""
    answer: dict[str, str] = {}

    def start_response(status: str, _headers: list[tuple[str, str]]) -> None:
        answer["status"] = status

    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.url_scheme": "http"}, start_response))
    return answer["status"], body.decode()


# --- the HTTP side, without servers -------------------------------------------------------------


def test_healthz_answers_and_readyz_says_what_is_wrong() -> None:
    problems: list[str] = []
    app = application(lambda: list(problems))
    assert wsgi_get(app, "/healthz")[0] == "200 OK"
    assert wsgi_get(app, "/readyz") == ("200 OK", "ready\n")
    problems.append("broker: AMQPConnectionError")
    status, body = wsgi_get(app, "/readyz")
    assert status == "503 Service Unavailable" and "broker: AMQPConnectionError" in body
    assert wsgi_get(app, "/elsewhere")[0] == "404 Not Found"
    status, body = wsgi_get(app, "/metrics")
    assert status == "200 OK" and "# TYPE govreport_files_detected_total counter" in body


def test_a_port_in_use_is_a_warning_and_the_process_goes_on() -> None:
    first = serve(0, list)
    assert first is not None
    try:
        with capture_logs() as logs:
            assert serve(first.port, list) is None
        (line,) = [line for line in logs if line["event"] == "metrics.port_unavailable"]
        assert line["log_level"] == "warning" and line["port"] == first.port
        assert get(first.port, "/healthz") == (200, "alive\n")
    finally:
        first.close()


def test_one_look_at_unreachable_servers_serves_its_max_age() -> None:
    # Port 1: nothing listens there, so both connections are refused at once.
    probe = Probe("postgresql://nobody@127.0.0.1:1/none", "amqp://guest:guest@127.0.0.1:1/%2F", Topology("x"))
    try:
        look = probe.look()
        assert look.database is not None and look.broker is not None
        assert (look.outbox_backlog, look.parse_queue, look.dead_letter_queue) == (None, None, None)
        assert probe.look() is look  # within MAX_AGE: no second look
    finally:
        probe.close()


# --- a real `govreport run` ---------------------------------------------------------------------


@pytest.fixture
def namespace() -> Iterator[str]:
    require("127.0.0.1", 5672, "RabbitMQ")
    name = new_namespace()
    yield name
    delete_namespace(name)


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    forwarder = Proxy(("127.0.0.1", 5672))
    yield forwarder
    forwarder.close()


def start(namespace: str, tmp_path: Path, proxy: Proxy, **extra: str) -> tuple[Govreport, int]:
    """`govreport run` with its broker behind the proxy and its metrics on a port of its own, ready."""
    port = free_port()
    env = environment(
        namespace,
        tmp_path,
        GOVREPORT_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F",
        GOVREPORT_METRICS_PORT=str(port),
        GOVREPORT_QUIET="0.2",
        **extra,
    )
    command = Govreport(["run"], env)
    assert command.wait_for("govreport.started"), command.raw[-20:]
    assert wait_until(lambda: get(port, "/readyz")[0] == 200, timeout=30), get(port, "/readyz")
    return command, port


def drop(inbox: Path, name: str) -> None:
    """Drop a seed report into the inbox as a file appearing whole (a rename)."""
    staged = inbox.parent / f".{name}"
    shutil.copy(SEED, staged)
    os.rename(staged, inbox / name)


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_the_series_move_when_a_file_is_ingested(
    namespace: str, proxy: Proxy, tmp_path: Path, database_url: str
) -> None:
    command, port = start(namespace, tmp_path, proxy, GOVREPORT_DATABASE_URL=database_url)
    try:
        before = scrape(port)
        drop(tmp_path / "inbox", "a.txt")
        assert wait_until(lambda: value(scrape(port), "govreport_drop_to_event_seconds_count") >= 1, timeout=60), (
            command.raw[-20:]
        )
        after = scrape(port)
    finally:
        command.close()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("govreport_files_detected_total") == 1
    assert moved("govreport_files_handed_over_total") == 1
    assert moved("govreport_files_consumed_total", outcome="stored") == 1
    assert moved("govreport_files_consumed_total", outcome="duplicate") == 0
    assert total(after, "govreport_reports_total") - total(before, "govreport_reports_total") == 1
    assert moved("govreport_parse_seconds_count", format="text") == 1
    assert moved("govreport_events_published_total") == 1
    assert moved("govreport_drop_to_event_seconds_count") == 1
    # The file was written just before: from its mtime to its event took seconds, not hours.
    assert 0 < moved("govreport_drop_to_event_seconds_sum") < 60
    for role in ("watcher", "consumer", "relay"):
        assert abs(time.time() - value(after, "govreport_heartbeat_timestamp_seconds", role=role)) < 60
    assert value(after, "govreport_parse_queue_messages") == 0
    assert ("govreport_outbox_backlog", frozenset()) in after
    labels = {label for (_, pairs) in after for label, _ in pairs}
    assert labels <= BOUNDED_LABELS


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_every_series_the_alerts_query_is_exposed(namespace: str, proxy: Proxy, tmp_path: Path) -> None:
    command, port = start(namespace, tmp_path, proxy)
    try:
        exposed = {name for name, _ in scrape(port)}
    finally:
        command.close()
    wanted = alert_series()
    assert "govreport_heartbeat_timestamp_seconds" in wanted  # the rules were read
    assert wanted - exposed == set()


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_readyz_turns_503_while_the_broker_is_away_and_200_once_it_is_back(
    namespace: str, proxy: Proxy, tmp_path: Path
) -> None:
    command, port = start(namespace, tmp_path, proxy)
    try:
        proxy.cut()
        assert wait_until(lambda: get(port, "/readyz")[0] == 503, timeout=30)
        status, body = get(port, "/readyz")
        assert status == 503 and "broker:" in body and "database:" not in body
        assert get(port, "/healthz")[0] == 200  # alive all along
        proxy.restore()
        assert wait_until(lambda: get(port, "/readyz")[0] == 200, timeout=60), get(port, "/readyz")
        assert value(scrape(port), "govreport_retries_total", role="consumer") >= 1
    finally:
        command.close()
    assert "guest:guest" not in "\n".join(command.raw)
