"""End to end: files dropped into an inbox → `govreport run` (a subprocess) → result events, against the broker alone.

Run from the checkout: `.venv/bin/python bench/pipeline.py [--files 1000] [--rate 20] [--json] [--concurrency N]`.
It prints figures, never asserts. Scenarios:

1. throughput: `--files` distinct reports dropped into the inbox as fast as possible; files/s from the
   first drop to the last event, and the latency of each file from its rename ("close") to its event.
   A file is written as `<name>.tmp` in the inbox and renamed into place; `--drop outside` writes it
   outside the inbox and moves it in instead; both are taken at once. `--drop inplace` writes it at its
   name (open, write, close), as most copiers do: the watcher then waits for `quiet` seconds without a
   change, so the goal of the median latency is that quiet period plus 100 ms.
2. steady rate: `--rate` files/s for `--seconds`; the same latency.
3. the broker alone, as the ceiling: the same bytes published with confirms to a fresh quorum queue and
   consumed with manual acks, flat out and at the same rate.

Everything runs in a namespace of its own (`bench_<random>`); its queues and exchanges, the temporary
inbox and database are deleted at the end. With `--log-level INFO` the pipeline's log lines split the
latency into its stages (watcher, consumer, relay).
"""

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pika
import pika.exceptions

ROOT = Path(__file__).resolve().parent.parent
# As a script only bench/ is on the path: make `worker` and `tests` importable from the checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.render import ORGS, SHAPES, YEARS, filename_for, random_cells, render  # noqa: E402
from worker.adapters.broker import Topology  # noqa: E402
from worker.config import Settings  # noqa: E402
from worker.core.forms import Template  # noqa: E402

GOAL_PER_SECOND = 400.0
GOAL_P50_MS = 100.0
GOAL_P99_MS = 1000.0
PROTOTYPE_PER_SECOND = 1160.0
PROTOTYPE_P50_MS = 4.5
WARMUP_FILES = 10
WARMUP_TIMEOUT = 60.0
EVENT_BINDING = "report.#"
PERSISTENT = 2
PREFETCH = 100
ACK_EVERY = 50
TEMPLATES: tuple[Template, ...] = ("2019", "2021")
STOP_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Report:
    """One report file: its name in the inbox, its bytes and their SHA-256 (the event's subject)."""

    name: str
    data: bytes
    sha256: str


@dataclass(slots=True)
class Run:
    """What one scenario measured: files sent, when each one left and arrived."""

    scenario: str
    sent: dict[str, float]
    arrived: dict[str, float]
    names: dict[str, str]
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def latencies_ms(self) -> list[float]:
        """Send (or close) → arrival of every file that arrived, in milliseconds."""
        return [1000 * (self.arrived[s] - t) for s, t in self.sent.items() if s in self.arrived]

    @property
    def missing(self) -> list[str]:
        """Names of the files whose event never arrived."""
        return sorted(self.names[s] for s in self.sent if s not in self.arrived)

    @property
    def seconds(self) -> float:
        """First send → last arrival."""
        arrivals = [self.arrived[s] for s in self.sent if s in self.arrived]
        return max(arrivals) - min(self.sent.values()) if arrivals else math.nan

    @property
    def per_second(self) -> float:
        """Files that arrived per second, end to end."""
        received = len(self.sent) - len(self.missing)
        return received / self.seconds if received else 0.0

    def summary(self) -> dict[str, Any]:
        """The figures as plain values (for the table and for --json)."""
        latencies = self.latencies_ms
        return {
            "scenario": self.scenario,
            "files": len(self.sent),
            "received": len(latencies),
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(max(latencies, default=math.nan), 1),
            "statuses": self.statuses,
            "missing": self.missing[:20],
            "missing_count": len(self.missing),
        }


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- report files


def make_reports(count: int, seed: int) -> list[Report]:
    """`count` distinct synthetic reports, cycling through the renderer's shapes."""
    rng = random.Random(seed)
    reports: list[Report] = []
    seen: set[str] = set()
    while len(reports) < count:
        shape = SHAPES[len(reports) % len(SHAPES)]
        template = rng.choice(TEMPLATES)
        text = render(
            random_cells(rng, template),
            template,
            shape,
            org=rng.choice(ORGS),
            year=rng.choice(YEARS[template]),
            rng=rng,
        )
        data = text.encode("utf-8")
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 not in seen:
            seen.add(sha256)
            suffix = Path(filename_for(shape)).suffix
            reports.append(Report(f"{len(reports):05d}-{shape}{suffix}", data, sha256))
    return reports


def drop(reports: Sequence[Report], inbox: Path, how: str, rate: float | None) -> dict[str, float]:
    """Write each report as `<name>.tmp` in the inbox (`tmp`) or into a folder beside it (`outside`)
    and rename it into place, or write it at its name (`inplace`), at `rate` files/s or flat out; the
    time just after each rename or close, by SHA-256."""
    closed: dict[str, float] = {}
    start = time.time()
    for index, report in enumerate(reports):
        if rate is not None:
            pause = start + index / rate - time.time()
            if pause > 0:
                time.sleep(pause)
        if how == "inplace":
            (inbox / report.name).write_bytes(report.data)
        else:
            temporary = inbox.parent / "staging" / report.name if how == "outside" else inbox / f"{report.name}.tmp"
            temporary.write_bytes(report.data)
            os.rename(temporary, inbox / report.name)
        closed[report.sha256] = time.time()
    return closed


# ---------------------------------------------------------------- receiving from the broker


class Receiver:
    """Consumes one queue in a thread of its own (own connection): when each key first arrived."""

    def __init__(
        self,
        url: str,
        setup: Callable[[Any], str],
        key: Callable[[Any, bytes], str | None],
        *,
        manual_ack: bool,
    ) -> None:
        self.url, self.setup, self.key, self.manual_ack = url, setup, key, manual_ack
        self.arrived: dict[str, float] = {}
        self.routing: dict[str, str] = {}
        self.condition = threading.Condition()
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.unacked = 0
        self.last_tag = 0
        self.thread = threading.Thread(target=self._run, name="bench-receiver", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        """Start consuming; return once the queue is bound and consumed."""
        self.thread.start()
        if not self.ready.wait(timeout) or self.error is not None:
            raise RuntimeError(f"the receiver did not start: {self.error!r}")

    def stop(self) -> None:
        """Stop and close the connection (an exclusive queue goes with it)."""
        self.stopping.set()
        self.thread.join(10.0)

    def wait_all(self, keys: set[str], timeout: float) -> bool:
        """Wait until every key arrived, at most `timeout` seconds; whether they all did."""
        with self.condition:
            return self.condition.wait_for(lambda: keys <= self.arrived.keys() or self.error is not None, timeout)

    def snapshot(self) -> tuple[dict[str, float], dict[str, str]]:
        """A copy of the arrival times and routing keys so far."""
        with self.condition:
            return dict(self.arrived), dict(self.routing)

    def _run(self) -> None:
        connection = None
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
            channel = connection.channel()
            queue = self.setup(channel)
            if self.manual_ack:
                channel.basic_qos(prefetch_count=PREFETCH)
            channel.basic_consume(queue, self._on_message, auto_ack=not self.manual_ack)
            self.ready.set()
            while not self.stopping.is_set():
                connection.process_data_events(time_limit=0.05)
                if self.unacked:
                    self._ack(channel)
        except Exception as error:  # noqa: BLE001 - reported to the waiting thread
            self.error = error
            self.ready.set()
            with self.condition:
                self.condition.notify_all()
        finally:
            if connection is not None and connection.is_open:
                with contextlib.suppress(Exception):
                    connection.close()

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        now = time.time()
        key = self.key(properties, body)
        if key is not None:
            with self.condition:
                if key not in self.arrived:
                    self.arrived[key] = now
                    self.routing[key] = str(method.routing_key)
                self.condition.notify_all()
        if self.manual_ack:
            self.unacked += 1
            self.last_tag = int(method.delivery_tag)
            if self.unacked >= ACK_EVERY:
                self._ack(channel)

    def _ack(self, channel: Any) -> None:
        channel.basic_ack(self.last_tag, multiple=True)
        self.unacked = 0


def event_subject(_properties: Any, body: bytes) -> str | None:
    """The subject (the file's SHA-256) of a CloudEvents JSON body."""
    try:
        subject = json.loads(body).get("subject")
    except (ValueError, AttributeError):
        return None
    return subject if isinstance(subject, str) else None


def message_id(properties: Any, _body: bytes) -> str | None:
    """The AMQP message id."""
    return properties.message_id if isinstance(properties.message_id, str) else None


def bind_events(exchange: str) -> Callable[[Any], str]:
    """Declare the events exchange as the code does, and an exclusive queue bound to every report event."""

    def setup(channel: Any) -> str:
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        queue = str(channel.queue_declare("", exclusive=True, auto_delete=True).method.queue)
        channel.queue_bind(queue, exchange, routing_key=EVENT_BINDING)
        return queue

    return setup


def quorum_queue(name: str) -> Callable[[Any], str]:
    """Declare a durable quorum queue."""

    def setup(channel: Any) -> str:
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
        return name

    return setup


@contextlib.contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    """A started receiver, stopped on exit."""
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


# ---------------------------------------------------------------- the pipeline subprocess


@dataclass(slots=True)
class Pipeline:
    """`govreport run` as a subprocess, with its log file."""

    process: "subprocess.Popen[bytes]"
    log: Path
    cpu_before: float
    stop_seconds: float | None = None
    exit_code: int | None = None
    cpu_seconds: float | None = None
    killed: bool = False

    def stop(self) -> None:
        """SIGTERM, and how long the process took to exit (killed after STOP_TIMEOUT: None)."""
        if self.process.poll() is None:
            began = time.monotonic()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
                self.stop_seconds = time.monotonic() - began
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self.killed = True
        self.exit_code = self.process.returncode
        # The process waited for its parsing processes, so their CPU time is counted too.
        self.cpu_seconds = children_cpu() - self.cpu_before


def children_cpu() -> float:
    """User + system CPU seconds of this process's children that have exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def quiet_of(args: argparse.Namespace) -> float:
    """The pipeline's quiet period: `--set quiet=...`, else the default (the pipeline's environment
    holds no other GOVREPORT_ setting, see pipeline_env)."""
    for setting in args.set:
        name, _, value = setting.partition("=")
        if name.lower() == "quiet":
            return float(value)
    return float(Settings.model_fields["quiet"].default)


def pipeline_env(args: argparse.Namespace, namespace: str, inbox: Path, database: Path) -> dict[str, str]:
    """The subprocess's environment: ours without any GOVREPORT_ setting, then the benchmark's."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GOVREPORT_")}
    env.update(
        GOVREPORT_INBOX=str(inbox),
        GOVREPORT_DATABASE_URL=f"sqlite:///{database}",
        GOVREPORT_NAMESPACE=namespace,
        GOVREPORT_AMQP_URL=args.amqp_url,
        GOVREPORT_LOG_LEVEL=args.log_level,
    )
    if args.concurrency is not None:
        env["GOVREPORT_CONCURRENCY"] = str(args.concurrency)
    for setting in args.set:
        name, _, value = setting.partition("=")
        env[f"GOVREPORT_{name.upper()}"] = value
    return env


@contextlib.contextmanager
def running_pipeline(env: dict[str, str], workdir: Path, log: Path) -> Iterator[Pipeline]:
    """`govreport run` in `workdir`, its stderr in `log`; stopped with SIGTERM on exit."""
    command = [str(Path(sys.executable).parent / "govreport"), "run"]
    cpu_before = children_cpu()
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, cwd=workdir, stdout=stderr, stderr=stderr)  # noqa: S603
    pipeline = Pipeline(process, log, cpu_before)
    try:
        yield pipeline
    finally:
        pipeline.stop()


@dataclass(frozen=True, slots=True)
class Harness:
    """A running pipeline, its inbox, and the receiver of its events."""

    pipeline: Pipeline
    receiver: Receiver
    inbox: Path
    how: str  # --drop
    timeout: float

    def wait(self, keys: set[str], timeout: float) -> bool:
        """Wait for the events of `keys`, at most `timeout` s; raise at once if the pipeline died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.receiver.wait_all(keys, min(1.0, deadline - time.monotonic())):
                return True
            if self.pipeline.process.poll() is not None:
                tail = self.pipeline.log.read_text("utf-8", "replace").splitlines()[-5:]
                raise RuntimeError(f"govreport run exited ({self.pipeline.process.returncode}): {tail}")
        return False

    def warm_up(self, reports: Sequence[Report]) -> float:
        """Drop a few files and wait for their events: the pipeline is up, migrated, its pool started."""
        began = time.monotonic()
        timeout = max(self.timeout, WARMUP_TIMEOUT)
        if not self.wait(set(drop(reports, self.inbox, self.how, None)), timeout):
            raise RuntimeError(f"the pipeline did not answer the warm-up files within {timeout:g} s")
        return time.monotonic() - began

    def run(self, scenario: str, reports: Sequence[Report], rate: float | None) -> Run:
        """Drop the reports into the inbox (flat out or at `rate` files/s) and wait for their events."""
        say(f"{scenario}: dropping {len(reports)} files" + (f" at {rate:g}/s" if rate else " flat out"))
        closed = drop(reports, self.inbox, self.how, rate)
        if not self.wait(set(closed), self.timeout):
            say(f"{scenario}: not every event arrived within {self.timeout:g} s")
        arrived, routing = self.receiver.snapshot()
        statuses = Counter(routing[s] for s in closed if s in routing)
        return Run(scenario, closed, arrived, {r.sha256: r.name for r in reports}, dict(statuses))


# ---------------------------------------------------------------- the broker alone


def publish(url: str, queue: str, reports: Sequence[Report], rate: float | None) -> dict[str, float]:
    """Publish persistent messages with confirms (one at a time); when each publish began."""
    sent: dict[str, float] = {}
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        start = time.time()
        for index, report in enumerate(reports):
            if rate is not None:
                pause = start + index / rate - time.time()
                if pause > 0:
                    connection.sleep(pause)
            properties = pika.BasicProperties(delivery_mode=PERSISTENT, message_id=report.sha256)
            sent[report.sha256] = time.time()
            channel.basic_publish("", queue, report.data, properties, mandatory=True)
    finally:
        connection.close()
    return sent


def broker_run(
    scenario: str, url: str, queue: str, reports: Sequence[Report], rate: float | None, timeout: float
) -> Run:
    """The same bytes through a quorum queue alone: publish with confirms, consume with manual acks."""
    say(f"{scenario}: publishing {len(reports)} messages" + (f" at {rate:g}/s" if rate else " flat out"))
    with receiving(Receiver(url, quorum_queue(queue), message_id, manual_ack=True)) as receiver:
        sent = publish(url, queue, reports, rate)
        if not receiver.wait_all(set(sent), timeout):
            say(f"{scenario}: not every message arrived within {timeout:g} s")
        arrived, _ = receiver.snapshot()
    return Run(scenario, sent, arrived, {r.sha256: r.name for r in reports})


# ---------------------------------------------------------------- the pipeline's own log


def read_log(path: Path) -> list[dict[str, Any]]:
    """The pipeline's JSON log lines (other lines are kept as their text)."""
    lines: list[dict[str, Any]] = []
    if not path.exists():
        return lines
    for text in path.read_text("utf-8", "replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            line = None
        lines.append(line if isinstance(line, dict) else {"event": text, "level": "raw"})
    return lines


def problems(lines: list[dict[str, Any]]) -> list[str]:
    """Warnings, errors and non-JSON output of the pipeline."""
    bad = [line for line in lines if str(line.get("level", "")).lower() in ("warning", "error", "critical", "raw")]
    return [f"{line.get('level')}: {line.get('event')} {line.get('error', '')}".strip() for line in bad]


def stamps(lines: list[dict[str, Any]], event: str) -> dict[str, float]:
    """When each SHA-256 first logged `event` (wall clock)."""
    found: dict[str, float] = {}
    for line in lines:
        if line.get("event") == event and "sha256" in line and "timestamp" in line:
            when = datetime.fromisoformat(str(line["timestamp"])).timestamp()
            found.setdefault(str(line["sha256"]), when)
    return found


def stages(run: Run, handed: dict[str, float], stored: dict[str, float]) -> dict[str, dict[str, float]]:
    """p50/p99 of close → handed over (watcher), → stored (queue, parse, commit), → event (relay)."""
    spans: dict[str, list[float]] = {"close→handed_over": [], "handed_over→stored": [], "stored→event": []}
    for sha, closed in run.sent.items():
        if sha in handed and sha in stored and sha in run.arrived:
            spans["close→handed_over"].append(1000 * (handed[sha] - closed))
            spans["handed_over→stored"].append(1000 * (stored[sha] - handed[sha]))
            spans["stored→event"].append(1000 * (run.arrived[sha] - stored[sha]))
    return {
        name: {"p50_ms": round(percentile(v, 50), 1), "p99_ms": round(percentile(v, 99), 1), "files": len(v)}
        for name, v in spans.items()
    }


# ---------------------------------------------------------------- the whole benchmark


def delete_topology(url: str, topology: Topology, extra_queues: Sequence[str]) -> None:
    """Delete the namespace's queues and exchanges (and the benchmark's own queues)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        deletions: list[tuple[str, str]] = [("queue", q) for q in (topology.parse, topology.dlq, *extra_queues)]
        deletions += [("exchange", x) for x in (topology.files, topology.dlx, topology.events)]
        for kind, name in deletions:
            try:
                if kind == "queue":
                    channel.queue_delete(name)
                else:
                    channel.exchange_delete(name)
            except pika.exceptions.ChannelClosedByBroker as error:
                say(f"cleanup: {kind} {name}: {error.reply_text}")
                channel = connection.channel()
    finally:
        connection.close()


def clean_up(url: str, topology: Topology, extra_queues: Sequence[str], tmp: Path) -> None:
    """Delete the broker objects and the temporary folder; a failure here is reported, not raised."""
    try:
        delete_topology(url, topology, extra_queues)
    except pika.exceptions.AMQPError as error:
        say(f"cleanup: could not delete the {topology.namespace} queues and exchanges: {error!r}")
    shutil.rmtree(tmp, ignore_errors=True)


def bench_pipeline(
    args: argparse.Namespace, namespace: str, tmp: Path, reports: Sequence[Report]
) -> tuple[list[Run], Pipeline]:
    """The two pipeline scenarios on one `govreport run` subprocess."""
    inbox = tmp / "inbox"
    inbox.mkdir()
    if args.drop == "outside":
        (tmp / "staging").mkdir()
    warm, flat, steady = (
        reports[:WARMUP_FILES],
        reports[WARMUP_FILES : WARMUP_FILES + args.files],
        reports[WARMUP_FILES + args.files :],
    )
    env = pipeline_env(args, namespace, inbox, tmp / "bench.db")
    receiver = Receiver(args.amqp_url, bind_events(Topology(namespace).events), event_subject, manual_ack=False)
    with receiving(receiver), running_pipeline(env, tmp, args.log_file or tmp / "pipeline.log") as pipeline:
        harness = Harness(pipeline, receiver, inbox, args.drop, args.timeout)
        say(f"pipeline {namespace}: started, warming up with {len(warm)} files")
        say(f"pipeline ready after {harness.warm_up(warm):.2f} s")
        runs = [harness.run("pipeline, flat out", flat, None)]
        time.sleep(1.0)  # let the last batch's bookkeeping settle before the paced run
        runs.append(harness.run(f"pipeline, {args.rate:g} files/s", steady, args.rate))
        say("stopping the pipeline (SIGTERM)")
    return runs, pipeline


def bench_broker(args: argparse.Namespace, queue: str, reports: Sequence[Report]) -> list[Run]:
    """The broker alone, flat out and at the steady rate."""
    flat = reports[WARMUP_FILES : WARMUP_FILES + args.files]
    steady = reports[WARMUP_FILES + args.files :]
    return [
        broker_run("broker only, flat out", args.amqp_url, queue, flat, None, args.timeout),
        broker_run(f"broker only, {args.rate:g} msg/s", args.amqp_url, queue, steady, args.rate, args.timeout),
    ]


def goal_of(scenario: str, row: dict[str, Any], wait_ms: float) -> str:
    """The goal a row is measured against, and whether it is met; `wait_ms` is what the watcher waits
    by design before it takes a file (its quiet period for a file written in place, else 0)."""
    if scenario == "pipeline, flat out":
        return f"≥ {GOAL_PER_SECOND:g}/s: {'met' if row['per_second'] >= GOAL_PER_SECOND else 'MISSED'}"
    if scenario.startswith("pipeline,"):
        p50, p99 = wait_ms + GOAL_P50_MS, wait_ms + GOAL_P99_MS
        met = row["p50_ms"] <= p50 and row["p99_ms"] <= p99 and not row["missing_count"]
        return f"p50 ≤ {p50:g}, p99 ≤ {p99:g} ms: {'met' if met else 'MISSED'}"
    return "ceiling"


def table(summary: dict[str, Any]) -> str:
    """The figures as a text table, with the goals and what else is worth knowing."""
    head = f"{'scenario':<28} {'files':>9} {'files/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}  goal"
    lines = [head, "-" * len(head)]
    for row in summary["scenarios"]:
        lines.append(
            f"{row['scenario']:<28} {_count(row):>9} {row['per_second']:>9.1f} {row['p50_ms']:>9.1f}"
            f" {row['p99_ms']:>9.1f} {row['max_ms']:>9.1f}  {goal_of(row['scenario'], row, summary['wait_ms'])}"
        )
    lines.append(
        f"{'prototype without parsing':<28} {'':>9} {PROTOTYPE_PER_SECOND:>9.1f} {PROTOTYPE_P50_MS:>9.1f}"
        f" {'':>9} {'':>9}  reference (measured earlier)"
    )
    lines.append("")
    for row in summary["scenarios"]:
        if row["missing_count"]:
            lines.append(f"{row['scenario']}: {row['missing_count']} missing, e.g. {', '.join(row['missing'][:5])}")
        if row["statuses"]:
            lines.append(f"{row['scenario']}: events {row['statuses']}")
    lines.append(_stop_line(summary))
    cpu = summary["pipeline_cpu"]
    if cpu:
        lines.append(
            f"pipeline CPU (all its processes, start to exit): {cpu['seconds']:.1f} s = {cpu['ms_per_file']:.2f}"
            f" ms/file → at most {cpu['files_per_s_on_all_cpus']:.0f} files/s with every CPU to itself"
        )
    lines.extend(_stage_lines(summary["stages"]))
    if summary["log_problems"]:
        lines.append(f"pipeline log: {len(summary['log_problems'])} warnings/errors, first:")
        lines.extend(f"  {p[:200]}" for p in summary["log_problems"][:5])
    lines.append(
        f"({summary['files']['mean_kb']:.1f} KB per file on average; {summary['machine']}, "
        f"load average {summary['load_average'][0]:.2f} at the end; "
        f"concurrency {summary['concurrency'] or 'default'}; drop via {summary['drop']}; "
        f"settings {summary['settings'] or 'default'}; namespace {summary['namespace']})"
    )
    return "\n".join(lines)


def _stop_line(summary: dict[str, Any]) -> str:
    if summary["killed"]:
        return f"SIGTERM → exit: not within {STOP_TIMEOUT:g} s, killed"
    if summary["stop_seconds"] is None:
        return f"the pipeline exited on its own before SIGTERM (exit code {summary['exit_code']})"
    return f"SIGTERM → exit: {summary['stop_seconds']:.2f} s (exit code {summary['exit_code']})"


def _count(row: dict[str, Any]) -> str:
    return str(row["files"]) if row["received"] == row["files"] else f"{row['received']}/{row['files']}"


def _stage_lines(by_scenario: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    lines = []
    for scenario, spans in by_scenario.items():
        parts = [f"{name} p50 {s['p50_ms']:.1f} / p99 {s['p99_ms']:.1f} ms" for name, s in spans.items()]
        lines.append(f"{scenario} stages: " + "; ".join(parts))
    return lines


def summarize(
    args: argparse.Namespace,
    namespace: str,
    reports: Sequence[Report],
    runs: list[Run],
    pipeline: Pipeline | None,
) -> dict[str, Any]:
    """Every figure in one JSON-able object."""
    lines = read_log(pipeline.log) if pipeline is not None else []
    handed, stored = stamps(lines, "file.handed_over"), stamps(lines, "report.stored")
    by_stage = {run.scenario: stages(run, handed, stored) for run in runs if run.scenario.startswith("pipeline")}
    return {
        "namespace": namespace,
        "machine": f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "concurrency": args.concurrency,
        "settings": args.set,
        "drop": args.drop,
        "wait_ms": 1000 * quiet_of(args) if args.drop == "inplace" else 0.0,
        "files": {"count": len(reports), "mean_kb": round(sum(len(r.data) for r in reports) / len(reports) / 1024, 2)},
        "goals": {"per_second": GOAL_PER_SECOND, "p50_ms": GOAL_P50_MS, "p99_ms": GOAL_P99_MS},
        "prototype": {"per_second": PROTOTYPE_PER_SECOND, "p50_ms": PROTOTYPE_P50_MS},
        "scenarios": [run.summary() for run in runs],
        "stop_seconds": None if pipeline is None or pipeline.stop_seconds is None else round(pipeline.stop_seconds, 3),
        "exit_code": None if pipeline is None else pipeline.exit_code,
        "killed": pipeline is not None and pipeline.killed,
        "pipeline_cpu": cpu_figures(pipeline, len(reports)),
        "stages": {name: spans for name, spans in by_stage.items() if any(s["files"] for s in spans.values())},
        "log_problems": problems(lines),
    }


def cpu_figures(pipeline: Pipeline | None, files: int) -> dict[str, float] | None:
    """CPU the pipeline's processes used over the whole run, per file, and the rate that allows."""
    if pipeline is None or not pipeline.cpu_seconds:
        return None
    per_file = pipeline.cpu_seconds / files
    return {
        "seconds": round(pipeline.cpu_seconds, 2),
        "ms_per_file": round(1000 * per_file, 2),
        "files_per_s_on_all_cpus": round((os.cpu_count() or 1) / per_file, 1),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=1000, help="reports in the flat-out run")
    parser.add_argument("--rate", type=float, default=20.0, help="files/s of the steady run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the steady run")
    parser.add_argument("--concurrency", type=int, default=None, help="GOVREPORT_CONCURRENCY of the pipeline")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for a run's events, seconds")
    parser.add_argument(
        "--drop",
        choices=("tmp", "outside", "inplace"),
        default="tmp",
        help="write <name>.tmp in the inbox and rename it (default), write outside and move it in, "
        "or write the file in place (the watcher waits for its quiet period)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the synthetic reports")
    parser.add_argument("--amqp-url", default=Settings().broker, help="RabbitMQ URL (default: GOVREPORT_AMQP_URL)")
    parser.add_argument("--log-level", default="WARNING", help="the pipeline's log level; INFO adds the stages")
    parser.add_argument("--log-file", type=Path, default=None, help="keep the pipeline's log here")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="another pipeline setting, e.g. quiet=0.05"
    )
    return parser.parse_args(argv)


def without_nan(value: Any) -> Any:
    """The value with NaN (a figure with no files) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nan(item) for item in value]
    return value


def interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM stops the benchmark like Ctrl-C: the pipeline is stopped and everything cleaned up."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run every scenario, clean up, print the figures."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    namespace = f"bench_{secrets.token_hex(4)}"
    topology = Topology(namespace)
    ceiling_queue = f"{namespace}.ceiling"
    say(f"rendering {WARMUP_FILES + args.files + round(args.rate * args.seconds)} reports")
    reports = make_reports(WARMUP_FILES + args.files + round(args.rate * args.seconds), args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="govreport-bench-"))
    runs: list[Run] = []
    pipeline: Pipeline | None = None
    try:
        pipeline_runs, pipeline = bench_pipeline(args, namespace, tmp, reports)
        runs.extend(pipeline_runs)
        runs.extend(bench_broker(args, ceiling_queue, reports))
        summary = summarize(args, namespace, reports, runs, pipeline)
    finally:
        clean_up(args.amqp_url, topology, [ceiling_queue], tmp)
    print(json.dumps(without_nan(summary), ensure_ascii=False) if args.json else table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
