"""Metrics and health of the long-running commands (`run`, `watch`, `consume`, `relay`).

Every series lives in one registry, `REGISTRY`, and each process serves it on its own port
(`GOVREPORT_METRICS_PORT`; 0 serves nothing) beside two health checks:

- `/metrics`: the Prometheus exposition. Counters and histograms move as the pipeline works (the
  one-line calls below, from the pipeline's modules); the backlogs (outbox, parse queue, dead-letter
  queue) are looked up when scraped, never polled.
- `/healthz`: 200 while the process answers at all.
- `/readyz`: 200 when the database and the broker answer and each role of the process has looped
  in the last `FRESH` seconds; else 503, the body saying what is wrong.

The names are a contract with `ops/prometheus/govreport-alerts.yml` and `ops/RUNBOOK.md`. Labels
take a handful of values each (roles, outcomes, statuses, reasons, formats): never a file's.

One look at the servers serves every scrape and readiness probe for `MAX_AGE` seconds, so probes
every second cost one query and one broker round trip per few seconds. It runs in a thread of its
own, which owns a broker connection kept open (and its heartbeats served) between looks.
"""

import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pika
import pika.exceptions
import sqlalchemy as sa
import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from worker.adapters.broker import APP_ID, Topology
from worker.adapters.call_thread import CallThread
from worker.adapters.db import DatabaseUnavailable, normalize_url
from worker.adapters.store import HANDOVERS, OUTBOX, Store
from worker.adapters.store import REPORTS as REPORT_ROWS
from worker.core.result import FailureReason, ParseResult, Status
from worker.logging import mask_secrets

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from worker.config import Settings
    from worker.core.parse import Parsed
    from worker.events import PendingRow

log = structlog.get_logger("worker.metrics")
T = TypeVar("T")

ROLES = ("watcher", "consumer", "relay")
OUTCOMES = ("stored", "duplicate", "requeued", "dead_lettered")
# A role whose loop has not turned for this long makes its process not ready. Every loop turns at
# least every few seconds, idle or not (the watcher's at least every `HEARTBEAT_EVERY`), and a
# retry counts as a turn (retries back off up to 30 s).
FRESH = 60.0
HEARTBEAT_EVERY = 5.0
# One look at the servers answers the scrapes and probes of this many seconds.
MAX_AGE = 5.0
# What one look may take, each server, and in all (then the process is reported not ready).
_SERVER_TIMEOUT = 2.0
_LOOK_TIMEOUT = 5.0
# How often the probe's idle broker connection is served (its heartbeats).
_KEEPALIVE = 5.0
_POLL = 0.2  # how soon the HTTP server notices a shutdown

# `_created` series double every counter for a timestamp nobody here reads.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client 0.26
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

FILES_DETECTED = Counter(
    "govreport_files_detected",
    "Files the watcher saw appear or change in the inbox (after a restart, the inbox's files again).",
    registry=REGISTRY,
)
FILES_HANDED_OVER = Counter(
    "govreport_files_handed_over",
    "Files the broker confirmed, handed over to the consumers.",
    registry=REGISTRY,
)
FILES_CONSUMED = Counter(
    "govreport_files_consumed",
    "Deliveries a consumer finished: stored (a new report), duplicate (content stored before), requeued "
    "(given back after a failure), dead_lettered (a dead letter stored as an internal_error failure).",
    ["outcome"],
    registry=REGISTRY,
)
REPORTS = Counter(
    "govreport_reports",
    "Reports stored by consumers, by status and failure reason (empty unless failed).",
    ["status", "reason"],
    registry=REGISTRY,
)
PARSE_SECONDS = Histogram(
    "govreport_parse_seconds",
    "Seconds a parsing process took to read one document, by the format its bytes are.",
    ["format"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
DROP_TO_EVENT_SECONDS = Histogram(
    "govreport_drop_to_event_seconds",
    "Seconds from a dropped file's modification time to its report's first event being published "
    "(files the watcher handed over; measured by the relay).",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400),
    registry=REGISTRY,
)
EVENTS_PUBLISHED = Counter("govreport_events_published", "Events the broker confirmed to the relay.", registry=REGISTRY)
RETRIES = Counter(
    "govreport_retries",
    "Attempts retried after an outage of the broker or the database, by role (store: waiting for "
    "the database at start-up).",
    ["role"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "govreport_dead_letters",
    "Dead letters stored (messages that kept crashing their consumer up to the delivery limit).",
    registry=REGISTRY,
)
HEARTBEAT = Gauge(
    "govreport_heartbeat_timestamp_seconds",
    "Unix time a role's loop last turned (it turns every few seconds, also while idle).",
    ["role"],
    registry=REGISTRY,
)
# Gauges looked up when scraped (`_Backlogs`), the same numbers from every process.
_BACKLOGS = (
    ("govreport_outbox_backlog", "Events committed and not yet published."),
    ("govreport_parse_queue_messages", "Files waiting in the parse queue (ready, not yet delivered)."),
    ("govreport_dead_letter_queue_messages", "Messages waiting in the dead-letter queue (ready, not yet delivered)."),
)

# Every label value known in advance exists from the start: rate() and increase() need a series
# to have been there before its first increment.
for _outcome in OUTCOMES:
    FILES_CONSUMED.labels(outcome=_outcome)
for _status in (Status.VALID, Status.INVALID):
    REPORTS.labels(status=_status.value, reason="")
for _reason in FailureReason:
    REPORTS.labels(status=Status.FAILED.value, reason=_reason.value)

_beats: dict[str, float] = {}  # role: time.monotonic() of its last heartbeat


# --- what the pipeline's modules call -------------------------------------------------------------


def beat(role: str) -> None:
    """A role's loop turned."""
    HEARTBEAT.labels(role=role).set(time.time())
    _beats[role] = time.monotonic()


def retried(role: str) -> None:
    """A role retries after an outage: counted, and its loop counts as turning (it is not hung)."""
    RETRIES.labels(role=role).inc()
    if role in ROLES:
        beat(role)


def consumed(result: ParseResult, *, created: bool, dead_letter: bool) -> None:
    """A consumer stored and acknowledged a delivery: a new report, a duplicate, or a dead letter."""
    if dead_letter:
        DEAD_LETTERS.inc()
    FILES_CONSUMED.labels(outcome="dead_lettered" if dead_letter else "stored" if created else "duplicate").inc()
    if created:
        REPORTS.labels(status=result.status.value, reason=result.failure.reason.value if result.failure else "").inc()


def requeued() -> None:
    """A consumer gave a delivery back to the queue after failing on it."""
    FILES_CONSUMED.labels(outcome="requeued").inc()


def observe_parse(parsed: "Parsed") -> None:
    """Record a parse's duration, when the parsing process measured it (`worker.jobs.parse_timed`)."""
    seconds = getattr(parsed, "seconds", None)
    if seconds is not None:
        source = parsed.result.source
        PARSE_SECONDS.labels(format=source.format.value if source.format else "unknown").observe(seconds)


def published(store: Store, rows: "Sequence[PendingRow]") -> None:
    """The broker confirmed these events: count them, and time the first events of dropped files."""
    EVENTS_PUBLISHED.inc(len(rows))
    if not rows:
        return
    now_ns = time.time_ns()
    try:
        dropped = dropped_at(store, [row.id for row in rows])
    except (DatabaseUnavailable, sa.exc.SQLAlchemyError) as error:  # a metric never stops the relay
        log.debug("metrics.drop_times_unavailable", error=mask_secrets(str(error)))
        return
    for mtime_ns in dropped.values():
        DROP_TO_EVENT_SECONDS.observe(max(0.0, (now_ns - mtime_ns) / 1e9))


def dropped_at(store: Store, event_ids: Sequence[str]) -> dict[str, int]:
    """The modification time (ns) of the dropped file behind each of these events that is a report's
    first event (no change event yet) of a file the watcher handed over; other events are left out
    (`govreport ingest` hands nothing over, and a change event is not about a drop)."""
    query = (
        sa.select(OUTBOX.c.id, sa.func.min(HANDOVERS.c.mtime_ns))
        .select_from(OUTBOX)
        .join(REPORT_ROWS, REPORT_ROWS.c.id == OUTBOX.c.report_id)
        .join(HANDOVERS, HANDOVERS.c.sha256 == REPORT_ROWS.c.sha256)
        .where(OUTBOX.c.id.in_(list(event_ids)), REPORT_ROWS.c.revision == 0)
        .group_by(OUTBOX.c.id)
    )
    with store.begin() as connection:
        return {str(ident): int(mtime_ns) for ident, mtime_ns in connection.execute(query)}


# --- looking at the servers -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Look:
    """What one look at the servers found: each server's problem (None: it answered) and the backlogs
    (None: not known)."""

    at: float
    database: str | None
    broker: str | None
    outbox_backlog: int | None = None
    parse_queue: int | None = None
    dead_letter_queue: int | None = None


class Probe:
    """Looks at the database and the broker when asked, at most every `max_age` seconds: the
    readiness checks and the backlog gauges come from one look. A look that takes over `timeout`
    seconds counts as both servers not answering."""

    def __init__(
        self,
        database_url: str,
        amqp_url: str,
        topology: Topology,
        *,
        heartbeat: int = 30,
        max_age: float = MAX_AGE,
        timeout: float = _LOOK_TIMEOUT,
    ) -> None:
        self.topology, self.max_age, self.timeout = topology, max_age, timeout
        self._engine = _probe_engine(database_url)
        self._parameters = _broker_parameters(amqp_url, heartbeat)
        self._connection: pika.BlockingConnection | None = None
        self._lock = threading.Lock()
        self._last: Look | None = None
        self._looking: Future[Look] | None = None
        self._thread = CallThread("govreport-metrics-probe", self._keep_alive, min(_KEEPALIVE, heartbeat / 4))

    def look(self) -> Look:
        """The latest look, or a new one if it is older than `max_age`."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last.at < self.max_age:
                return self._last
            if self._looking is None:  # else one is under way (perhaps stuck): wait for it, never pile up
                self._looking = self._thread.submit(self._look)
            looking = self._looking
        try:
            return looking.result(timeout=self.timeout)
        except FutureTimeout:
            late = f"no answer within {self.timeout:g} s"
            return Look(time.monotonic(), late, late)

    def close(self) -> None:
        """Close the broker connection and the database's (in the probe's thread, if it is free soon)."""
        self._thread.submit(self._disconnect)
        self._thread.close(timeout=1.0)
        self._engine.dispose()

    def _look(self) -> Look:
        found = None
        try:
            database, backlog = self._database()
            broker, parse, dead = self._broker()
            found = Look(time.monotonic(), database, broker, backlog, parse, dead)
            return found
        finally:  # even after a bug: the next look starts afresh
            with self._lock:
                self._looking = None
                if found is not None:
                    self._last = found

    def _database(self) -> tuple[str | None, int | None]:
        try:
            with self._engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
                return None, _outbox_backlog(connection)
        except sa.exc.SQLAlchemyError as error:
            return _problem(getattr(error, "orig", None) or error), None

    def _broker(self) -> tuple[str | None, int | None, int | None]:
        problem = None
        # A connection idle since the last look may have been dropped meanwhile: one fresh try.
        for _ in range(2):
            try:
                return None, self._depth(self.topology.parse), self._depth(self.topology.dlq)
            except (pika.exceptions.AMQPError, OSError) as error:
                self._disconnect()
                problem = _problem(error)
        return problem, None, None

    def _depth(self, name: str) -> int | None:
        """Messages ready in a queue; None when it does not exist (yet), or may not be looked at."""
        if self._connection is None or not self._connection.is_open:
            self._connection = pika.BlockingConnection(self._parameters)
        channel = self._connection.channel()
        try:
            return int(channel.queue_declare(name, passive=True).method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None
        finally:
            if channel.is_open:
                channel.close()

    def _keep_alive(self) -> None:
        if self._connection is not None:
            try:
                self._connection.process_data_events(time_limit=0)
            except (pika.exceptions.AMQPError, OSError):
                self._disconnect()

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            with suppress(pika.exceptions.AMQPError, OSError):
                connection.close()


def _probe_engine(url: str) -> sa.Engine:
    """An engine of one connection with short timeouts, apart from the workers' pool."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": _SERVER_TIMEOUT, "check_same_thread": False})
    milliseconds = int(_SERVER_TIMEOUT * 1000)
    return sa.create_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": max(1, int(_SERVER_TIMEOUT)),
            "options": f"-c statement_timeout={milliseconds}",
        },
    )


def _broker_parameters(url: str, heartbeat: int) -> pika.URLParameters:
    parameters = pika.URLParameters(url)
    parameters.heartbeat = heartbeat
    parameters.connection_attempts = 1
    parameters.socket_timeout = _SERVER_TIMEOUT
    parameters.stack_timeout = _SERVER_TIMEOUT
    parameters.blocked_connection_timeout = _SERVER_TIMEOUT
    parameters.client_properties = {"connection_name": "govreport-metrics", "product": APP_ID}
    return parameters


def _outbox_backlog(connection: sa.Connection) -> int | None:
    query = sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
    try:
        return int(connection.execute(query).scalar_one())
    except sa.exc.SQLAlchemyError:  # no outbox table yet: the schema is being created
        return None


def _problem(error: BaseException) -> str:
    """A short description of a failure, without a password."""
    # pika's connection errors have an empty str(): their cause is in their arguments' repr().
    text = str(error).strip() or ", ".join(repr(argument) for argument in error.args)
    detail = text.splitlines()
    return mask_secrets(f"{type(error).__name__}: {detail[0][:200]}" if detail else type(error).__name__)


class _Backlogs:
    """The gauges that need a look at the servers: taken when scraped (an unknown one is left out)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        return self._families(self.probe.look())

    def _families(self, look: Look | None) -> list[Metric]:
        values = (None, None, None) if look is None else (look.outbox_backlog, look.parse_queue, look.dead_letter_queue)
        families: list[Metric] = []
        for (name, documentation), value in zip(_BACKLOGS, values, strict=True):
            family = GaugeMetricFamily(name, documentation)
            if value is not None:
                family.add_metric([], value)
            families.append(family)
        return families


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether a process is ready: its servers answer, and each of its roles loops."""

    probe: Probe
    roles: tuple[str, ...]
    fresh: float = FRESH

    def problems(self) -> list[str]:
        """What is wrong; nothing when ready."""
        look = self.probe.look()
        servers = (("database", look.database), ("broker", look.broker))
        found = [f"{server}: {problem}" for server, problem in servers if problem is not None]
        now = time.monotonic()
        for role in self.roles:
            last = _beats.get(role)
            if last is None:
                found.append(f"{role}: not looping yet")
            elif now - last > self.fresh:
                found.append(f"{role}: no heartbeat for {now - last:.0f} s")
        return found


# --- serving --------------------------------------------------------------------------------------


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds up the process's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line each."""


def application(ready: Callable[[], list[str]], registry: CollectorRegistry = REGISTRY) -> "WSGIApplication":
    """The WSGI app: /metrics (and /), /healthz, /readyz."""
    metrics = make_wsgi_app(registry)

    def app(environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        try:
            return route(path, environ, start_response)
        except Exception:  # a bug: a JSON log line with its traceback (wsgiref would print a bare one)
            log.exception("metrics.request_failed", path=path)
            return _text(start_response, "500 Internal Server Error", "internal error\n")

    def route(path: str, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        if path in ("/", "/metrics"):
            exposition: Iterable[bytes] = metrics(environ, start_response)
            return exposition
        if path == "/healthz":
            return _text(start_response, "200 OK", "alive\n")
        if path == "/readyz":
            problems = ready()
            if problems:
                return _text(start_response, "503 Service Unavailable", "not ready\n" + "\n".join(problems) + "\n")
            return _text(start_response, "200 OK", "ready\n")
        return _text(start_response, "404 Not Found", "not found: /metrics, /healthz, /readyz\n")

    return app


def _text(start_response: "StartResponse", status: str, body: str) -> list[bytes]:
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]


class Exporter:
    """The HTTP server of one process, in a daemon thread."""

    def __init__(self, server: WSGIServer) -> None:
        self.server = server
        self.port = int(server.server_address[1])
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": _POLL}, name="govreport-metrics", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(1.0)


def serve(
    port: int, ready: Callable[[], list[str]], *, address: str = "", registry: CollectorRegistry = REGISTRY
) -> Exporter | None:
    """Serve the metrics and health checks on a port (0: a free one); None, with a warning, when the
    port is taken: the process works on without them."""
    try:
        server = make_server(address, port, application(ready, registry), _Server, _QuietHandler)
    except OSError as error:
        log.warning(
            "metrics.port_unavailable",
            port=port,
            error=str(error),
            then="serving no metrics; give each process on a host its own GOVREPORT_METRICS_PORT (0: none)",
        )
        return None
    exporter = Exporter(server)
    # Debug: a command refused at start-up says so in one line (`govreport config` shows the port).
    log.debug("metrics.serving", port=exporter.port, paths=["/metrics", "/healthz", "/readyz"])
    return exporter


@contextmanager
def exporting(settings: "Settings", roles: Sequence[str]) -> Iterator[Exporter | None]:
    """Serve this process's metrics and health on `GOVREPORT_METRICS_PORT` for the duration of a block
    (nothing when it is 0); `roles` are the loops whose heartbeats make the process ready."""
    if settings.metrics_port == 0:
        yield None
        return
    probe = Probe(
        settings.database,
        settings.broker,
        Topology(settings.namespace, settings.delivery_limit),
        heartbeat=settings.heartbeat,
    )
    backlogs = _Backlogs(probe)
    REGISTRY.register(backlogs)
    exporter = serve(settings.metrics_port, Readiness(probe, tuple(roles)).problems)
    if exporter is None:  # nobody can ask: no looks either
        REGISTRY.unregister(backlogs)
        probe.close()
        yield None
        return
    for role in roles:
        RETRIES.labels(role=role)
    try:
        yield exporter
    finally:
        exporter.close()
        REGISTRY.unregister(backlogs)
        probe.close()
