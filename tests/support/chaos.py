"""The chaos harness (issue 12): the pipeline as separate processes — a watcher, two consumers, a relay —
against the real RabbitMQ and PostgreSQL, files dropped into its inbox while faults are injected at
random moments; then, once quiet, the checks of spec §5 from the database and from its own queue on the
events exchange. `bench/chaos.py` runs it from the command line, `tests/test_chaos.py` in CI.

Everything it makes is its own: a namespace `chaos<random>` (queues, exchanges), a database
`govreport_chaos_<random>`, a working folder (inbox, the roles' logs). All of it is deleted at the end,
and every server it stopped is started again, however the run ends.
"""

import contextlib
import json
import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import psycopg

from tests.support.chaos_faults import ALL_FAULTS, SHARED_FAULTS, Fault, Injector, Role, Servers, other_tests_running
from tests.support.chaos_files import Drop, kinds, plan, sha256, write
from tests.support.chaos_outcome import Outcome
from tests.support.memory_log import MemoryLog
from tests.support.pipeline_kit import AMQP, Proxy, delete_namespace, wait_until
from tests.support.servers import PG_HOST, PG_USER
from worker.adapters.broker import Topology

ROLE_NAMES = ("watcher", "consumer-1", "consumer-2", "relay")
_COMMANDS = {
    "watcher": ["watch"],
    "consumer-1": ["consume", "--no-relay"],
    "consumer-2": ["consume", "--no-relay"],
    "relay": ["relay"],
}
# Quick enough for a short run, long enough for a slow writer's pauses (chaos_files.SLOW_PAUSE).
_SETTINGS = {
    "GOVREPORT_QUIET": "0.5",
    "GOVREPORT_OPEN_QUIET": "1.5",
    "GOVREPORT_RESCAN_EVERY": "3",
    "GOVREPORT_CONCURRENCY": "2",
    "GOVREPORT_METRICS_PORT": "0",  # four processes on one host: none serves metrics
    "GOVREPORT_RELAY_INTERVAL": "0.5",
    "GOVREPORT_HEARTBEAT": "10",
    "GOVREPORT_PARSE_SECONDS": "30",
}
_STARTUP = 90.0
_SETTLE = 3.0  # seconds the pipeline must stay quiet before the checks


@dataclass(frozen=True, slots=True)
class Config:
    """One run: how many files and faults, from which seed, spread over how many seconds."""

    files: int = 150
    faults: int = 10
    seed: int = 1
    duration: float = 60.0
    kinds: tuple[str, ...] = ALL_FAULTS
    quiet_timeout: float = 300.0
    keep: bool = False  # keep the working folder (inbox, logs) and say where it is
    memory_every: float = 0.0  # seconds between samples of each process's memory (0: none)


def _say(message: str) -> None:
    print(f"chaos: {message}", flush=True)


@contextlib.contextmanager
def _database(name: str) -> Iterator[str]:
    admin = f"host={PG_HOST} user={PG_USER} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"host={PG_HOST} user={PG_USER} dbname={name} connect_timeout=5"
    finally:
        # PostgreSQL may be on its way back from a fault: wait for it rather than leave the database.
        wait_until(lambda: _can_connect(admin), 60, every=0.5)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _can_connect(conninfo: str) -> bool:
    try:
        with psycopg.connect(conninfo, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _query(conninfo: str, sql: str, *parameters: object) -> list[tuple[Any, ...]] | None:
    """Rows of a query, or None while the database cannot be reached (a fault)."""
    try:
        with psycopg.connect(conninfo, connect_timeout=3) as connection:
            return list(connection.execute(sql.encode(), parameters or None))
    except psycopg.Error:
        return None


class _EventQueue:
    """The harness's own durable queue on the events exchange: it outlives RabbitMQ's application
    being stopped, and is read once the pipeline is quiet."""

    def __init__(self, namespace: str) -> None:
        self.exchange = Topology(namespace).events
        self.queue = f"{namespace}.chaos.events"

    def declare(self) -> None:
        with self._channel() as channel:
            channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            channel.queue_declare(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(self.queue, self.exchange, routing_key="report.#")

    def drain(self) -> list[dict[str, Any]]:
        events = []
        with self._channel() as channel:
            for method, _properties, body in channel.consume(self.queue, inactivity_timeout=2.0):
                if method is None:
                    break
                events.append(json.loads(body))
                channel.basic_ack(method.delivery_tag)
            channel.cancel()
        return events

    def delete(self) -> None:
        with self._channel() as channel:
            channel.queue_delete(self.queue)

    @contextlib.contextmanager
    def _channel(self) -> Iterator[Any]:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP))
        try:
            yield connection.channel()
        finally:
            with contextlib.suppress(Exception):
                connection.close()


def _queued(namespace: str) -> dict[str, int] | None:
    """Messages waiting in the parse queue and the dead-letter queue; None while the broker is away."""
    topology = Topology(namespace)
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    except pika.exceptions.AMQPError:
        return None
    try:
        channel = connection.channel()
        return {q: channel.queue_declare(q, passive=True).method.message_count for q in (topology.parse, topology.dlq)}
    except pika.exceptions.AMQPError:
        return None
    finally:
        with contextlib.suppress(Exception):
            connection.close()


class Run:
    """One chaos run, from setup to checks; `execute` returns its Outcome."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.namespace = f"chaos{uuid.uuid4().hex[:10]}"
        self.work = Path(tempfile.mkdtemp(prefix="govreport-chaos-"))
        self.inbox = self.work / "inbox"
        self.written: dict[str, bytes] = {}  # path in the inbox → the bytes last written there
        self.skipped: list[str] = []
        self.roles: dict[str, Role] = {}
        self.proxies: list[Proxy] = []
        self.unexpected_exits: list[str] = []
        self.done = threading.Event()
        self.failures: list[BaseException] = []

    # ------------------------------------------------------------------ the run

    def execute(self) -> Outcome:
        """Plan, set up, drop and break, wait for quiet, check; clean up whatever happens."""
        config = self.config
        servers = Servers()  # first: from here on a SIGTERM or Ctrl-C unwinds through the cleanup
        events = _EventQueue(self.namespace)
        failed = True
        try:
            _say(f"planning {config.files} files (seed {config.seed})")
            drops = plan(config.files, config.seed)
            with _database(f"govreport_{self.namespace}") as conninfo:
                self.conninfo = conninfo
                events.declare()
                try:
                    outcome = self._run(drops, servers, events)
                finally:
                    self._stop_roles()
                    servers.restore()
            failed = not outcome.ok
            return outcome
        finally:
            servers.restore()
            servers.uninstall()
            self._cleanup(events, keep=config.keep or failed)

    def _run(self, drops: list[Drop], servers: Servers, events: _EventQueue) -> Outcome:
        database = self.conninfo.split("dbname=")[1].split()[0]
        self._migrate(database)
        self._start_roles(database)
        began = time.monotonic()
        injector = Injector(self.roles, servers, self.config.kinds, self.rng, began)
        memory = MemoryLog(self.roles, self.config.memory_every, began, _say) if self.config.memory_every else None
        if memory is not None:
            memory.start()
        threads = [
            threading.Thread(target=self._guarded, args=(self._drop_all, drops), name="chaos-drops", daemon=True),
            threading.Thread(target=self._guarded, args=(self._inject_all, injector), name="chaos-faults", daemon=True),
            threading.Thread(target=self._supervise, args=(injector,), name="chaos-supervisor", daemon=True),
        ]
        for thread in threads:
            thread.start()
        for thread in threads[:2]:
            while thread.is_alive():
                thread.join(0.5)  # wakes often: a SIGINT must reach the main thread
        if self.failures:
            raise self.failures[0]
        _say(
            f"{len(drops)} drops and {len(injector.log)} faults done after {time.monotonic() - began:.0f} s; "
            "waiting for quiet"
        )
        expected = {sha256(data) for drop in drops for data in drop.contents}
        quiet_after = self._wait_for_quiet(expected, began)
        if memory is not None:
            memory.stop()  # before the roles stop: their memory at the end of the run is the last sample
        self.done.set()
        self._stop_roles()
        outcome = self._check(drops, expected, events.drain(), injector.log, quiet_after)
        if memory is not None:
            outcome.memory = memory.verdicts()
        return outcome

    def _guarded(self, target: Any, argument: Any) -> None:
        try:
            target(argument)
        except BaseException as error:  # noqa: BLE001 - the main thread re-raises it
            self.failures.append(error)

    # ------------------------------------------------------------------ setup

    def _migrate(self, database: str) -> None:
        import subprocess

        from tests.support.process import GOVREPORT

        env = {**os.environ, "GOVREPORT_DATABASE_URL": f"postgresql+psycopg://{PG_USER}@{PG_HOST}/{database}"}
        subprocess.run([str(GOVREPORT), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)

    def _start_roles(self, database: str) -> None:
        self.inbox.mkdir()
        logs = self.work / "logs"
        logs.mkdir()
        for name in ROLE_NAMES:
            proxy = Proxy((PG_HOST, 5432))
            self.proxies.append(proxy)
            env = {
                **os.environ,
                **_SETTINGS,
                "GOVREPORT_NAMESPACE": self.namespace,
                "GOVREPORT_AMQP_URL": AMQP,
                "GOVREPORT_DATABASE_URL": f"postgresql+psycopg://{PG_USER}@127.0.0.1:{proxy.port}/{database}",
                "GOVREPORT_INBOX": str(self.inbox),
            }
            role = Role(name, _COMMANDS[name], env, logs / f"{name}.log", proxy)
            role.start()
            self.roles[name] = role
        for role in self.roles.values():
            _wait_started(role)
        _say(f"pipeline started in namespace {self.namespace}; logs in {logs}")

    # ------------------------------------------------------------------ drops and faults

    def _drop_all(self, drops: list[Drop]) -> None:
        """Drop the files spread over the run's duration; a replaced file gets its second version once
        its first was handed over (before that, the watcher may rightly never see the first)."""
        pause = self.config.duration / max(1, len(drops))
        replacers = []
        writer_rng = random.Random(self.config.seed + 1)
        for drop in drops:
            write(self.inbox, drop.path, drop.data, drop.writing, writer_rng)
            self.written[drop.path] = drop.data
            if drop.then is not None:
                thread = threading.Thread(target=self._replace, args=(drop,), daemon=True)
                thread.start()
                replacers.append(thread)
            time.sleep(writer_rng.uniform(0, 2 * pause))
        for thread in replacers:
            thread.join(self.config.quiet_timeout)

    def _replace(self, drop: Drop) -> None:
        assert drop.then is not None
        first = sha256(drop.data)
        wait_until(
            lambda: bool(_query(self.conninfo, "SELECT 1 FROM handovers WHERE sha256 = %s", first)),
            self.config.quiet_timeout,
            every=0.3,
        )
        time.sleep(random.uniform(0.0, 1.0))
        write(self.inbox, drop.path, drop.then, "rename" if len(drop.then) % 2 else "direct", random.Random(first))
        self.written[drop.path] = drop.then

    def _inject_all(self, injector: Injector) -> None:
        kinds = injector.schedule(self.config.faults)
        # Within the drops, and a little after the last one (faults while the backlog drains).
        span = self.config.duration * 1.1
        moments = sorted(self.rng.uniform(0.05 * span, span) for _ in kinds)
        for kind, moment in zip(kinds, moments, strict=True):
            time.sleep(max(0.0, moment - (time.monotonic() - injector.began)))
            if kind in SHARED_FAULTS and (others := other_tests_running()):
                # Others' tests would fail on a stopped server: a fault of ours replaces it.
                instead = self.rng.choice([k for k in self.config.kinds if k not in SHARED_FAULTS] or [None])
                self.skipped.append(f"{kind}: other tests are running ({others[0][:60]}); {instead} instead")
                if instead is None:
                    continue
                kind = instead
            injector.inject(kind)

    def _supervise(self, injector: Injector) -> None:
        """A role that exited without being killed is a finding: logged, and restarted."""
        while not self.done.wait(0.5):
            with injector.lock:
                for role in self.roles.values():
                    if not self.done.is_set() and not role.running and role.process is not None:
                        status = role.process.returncode
                        self.unexpected_exits.append(f"{role.name} exited with status {status}")
                        role.start()

    # ------------------------------------------------------------------ quiet and checks

    def _wait_for_quiet(self, expected: set[str], began: float) -> float:
        """Seconds from the start until every content is stored, the outbox is empty and the queues
        too, and that held for a few seconds (or the timeout passed)."""
        deadline = time.monotonic() + self.config.quiet_timeout
        last: tuple[Any, ...] | None = None
        since = time.monotonic()
        while time.monotonic() < deadline:
            state = self._state(expected)
            if state is not None and state != last:
                last, since = state, time.monotonic()
            settled = time.monotonic() - since >= _SETTLE
            if settled and state is not None and state[0] == 0 and state[2] == 0 and not any(state[3].values()):
                return since - began
            time.sleep(0.5)
        _say("timed out waiting for quiet")
        return time.monotonic() - began

    def _state(self, expected: set[str]) -> tuple[Any, ...] | None:
        stored = _query(self.conninfo, "SELECT sha256 FROM reports")
        pending = _query(
            self.conninfo, "SELECT count(*), (SELECT count(*) FROM outbox) FROM outbox WHERE published_at IS NULL"
        )
        queued = _queued(self.namespace)
        if stored is None or pending is None or queued is None:
            return None
        missing = len(expected - {row[0] for row in stored})
        return missing, len(stored), pending[0][0], queued, pending[0][1]

    def _check(
        self,
        drops: list[Drop],
        expected: set[str],
        events: list[dict[str, Any]],
        faults: list[Fault],
        quiet_after: float,
    ) -> Outcome:
        reports = _query(self.conninfo, "SELECT sha256, status, failure_reason, failure_message FROM reports") or []
        outbox = _query(self.conninfo, "SELECT id, published_at IS NULL FROM outbox") or []
        queued = _queued(self.namespace) or {}
        stored = Counter(row[0] for row in reports)
        by_id = {event["id"]: event for event in events}  # the consumer's de-duplication
        firsts: dict[str, set[str]] = {}
        for event in by_id.values():
            if event.get("revision", 0) == 0:
                firsts.setdefault(event["subject"], set()).add(event["id"])
        changed, gone, extra = self._inbox_differences()
        lost = sorted(expected - set(stored))
        unexpected = sorted(set(stored) - expected)
        no_event = sorted(set(stored) - set(firsts))
        published_unseen = sorted(row[0] for row in outbox if not row[1] and row[0] not in by_id)
        counts = {
            "lost (content without outcome)": len(lost),
            "duplicated (outcomes per content > 1)": sum(n - 1 for n in stored.values() if n > 1),
            "duplicated first events (ids > 1)": sum(len(ids) - 1 for ids in firsts.values() if len(ids) > 1),
            "unknown contents stored (torn reads)": len(unexpected),
            "missing events (outcome, no event)": len(no_event),
            "published events never received": len(published_unseen),
            "stuck in outbox": sum(1 for row in outbox if row[1]),
            "stuck in queues (parse + dlq)": sum(queued.values()) if queued else -1,
            "inbox files changed or gone": len(changed) + len(gone),
            "unknown files in the inbox": len(extra),
        }
        statuses = Counter(row[1] for row in reports)
        reasons = Counter(row[2] for row in reports if row[2])
        internal = [f"{row[0][:12]} {str(row[3])[:120]}" for row in reports if row[2] == "internal_error"]
        figures: dict[str, Any] = {
            "files written": sum(len(drop.contents) for drop in drops),
            "files by kind": dict(kinds(drops)),
            "distinct contents": len(expected),
            "outcomes stored": sum(stored.values()),
            "statuses": dict(statuses),
            "failure reasons": dict(reasons),
            "internal_error failures (faults reached an outcome)": len(internal),
            "events received (all / distinct ids)": f"{len(events)} / {len(by_id)}",
            "change events (revision > 0)": sum(1 for e in by_id.values() if e.get("revision", 0) > 0),
            "role restarts not asked for": len(self.unexpected_exits),
            "seconds until quiet": round(quiet_after, 1),
        }
        examples = {
            "lost": lost[:10],
            "missing events": no_event[:10],
            "unknown contents": unexpected[:10],
            "inbox changed": (changed + gone + extra)[:10],
            "internal_error failures": internal[:10],
            "role exits": self.unexpected_exits[:10],
        }
        return Outcome(counts, figures, faults, self.skipped, examples)

    def _inbox_differences(self) -> tuple[list[str], list[str], list[str]]:
        present = {str(p.relative_to(self.inbox)) for p in self.inbox.rglob("*") if p.is_file()}
        changed = [
            path for path, data in self.written.items() if path in present and (self.inbox / path).read_bytes() != data
        ]
        gone = [path for path in self.written if path not in present]
        extra = sorted(present - set(self.written))
        return changed, gone, extra

    # ------------------------------------------------------------------ teardown

    def _stop_roles(self) -> None:
        self.done.set()
        for role in self.roles.values():
            role.stop()
        for proxy in self.proxies:
            proxy.close()
        self.proxies.clear()

    def _cleanup(self, events: _EventQueue, *, keep: bool) -> None:
        with contextlib.suppress(Exception):
            events.delete()
        with contextlib.suppress(Exception):
            delete_namespace(self.namespace)
        if keep:
            _say(f"kept the inbox and the roles' logs in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def _wait_started(role: Role) -> None:
    if not wait_until(lambda: _logged(role.log, "govreport.started") or not role.running, _STARTUP, every=0.2):
        raise RuntimeError(f"{role.name} did not start: see {role.log}")
    if not role.running:
        raise RuntimeError(f"{role.name} exited at start: {role.log.read_text()[-2000:]}")


def _logged(log: Path, event: str) -> bool:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return False
    return f'"event": "{event}"' in text or f'"event":"{event}"' in text


def run(config: Config) -> Outcome:
    """Run the harness once."""
    return Run(config).execute()
