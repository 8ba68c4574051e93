"""Looking at the servers for `/readyz` and the backlog gauges of `worker.metrics`.

One look at the database and the broker (`Look`) serves every scrape and readiness probe for
`MAX_AGE` seconds, so probes every second cost one query and one broker round trip per few seconds.
It runs in a thread of its own, which owns a broker connection kept open (and its heartbeats served)
between looks. A process is ready (`Readiness`) when the database and the broker answer and each of
its roles has looped (`worker.metrics.beat`) in the last `FRESH` seconds.
"""

import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from dataclasses import dataclass

import pika
import pika.exceptions
import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric

from worker.adapters.broker import APP_ID, Topology
from worker.adapters.call_thread import CallThread
from worker.adapters.db import normalize_url
from worker.adapters.store import OUTBOX
from worker.logging import mask_secrets
from worker.metrics import BACKLOGS, FRESH, last_beat

# One look at the servers answers the scrapes and probes of this many seconds.
MAX_AGE = 5.0
# What one look may take, each server, and in all (then the process is reported not ready).
_SERVER_TIMEOUT = 2.0
_LOOK_TIMEOUT = 5.0
# How often the probe's idle broker connection is served (its heartbeats).
_KEEPALIVE = 5.0


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


class Backlogs:
    """The gauges that need a look at the servers: taken when scraped (an unknown one is left out)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def describe(self) -> Iterable[Metric]:
        """The gauges without values, for the registry to know their names (no look)."""
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        """The gauges, from the latest look."""
        return self._families(self.probe.look())

    def _families(self, look: Look | None) -> list[Metric]:
        values = (None, None, None) if look is None else (look.outbox_backlog, look.parse_queue, look.dead_letter_queue)
        families: list[Metric] = []
        for (name, documentation), value in zip(BACKLOGS, values, strict=True):
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
            last = last_beat(role)
            if last is None:
                found.append(f"{role}: not looping yet")
            elif now - last > self.fresh:
                found.append(f"{role}: no heartbeat for {now - last:.0f} s")
        return found
