"""What the chaos harness breaks, and how it puts everything back: the pipeline's roles as separate
`govreport` processes (SIGKILLed and restarted), their parsing processes, their database connections
(each role talks to PostgreSQL through a proxy of its own) and the shared servers themselves
(RabbitMQ's application, PostgreSQL), always restored, whatever happens to the harness."""

import atexit
import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from tests.support.pipeline_kit import Proxy, wait_until
from tests.support.process import GOVREPORT, alive, descendants, kill_quietly
from tests.support.servers import reachable

# Faults that touch only the harness's own processes and connections: safe beside other test runs.
LOCAL_FAULTS = ("kill-watcher", "kill-consumer", "kill-relay", "kill-parser", "cut-database")
# Faults that stop a server everybody on this machine uses.
SHARED_FAULTS = ("stop-rabbitmq", "stop-postgresql")
ALL_FAULTS = LOCAL_FAULTS + SHARED_FAULTS
# A stopped server comes back after this many seconds at most: others use it too.
MAX_OUTAGE = 8.0
SERVER_TIMEOUT = 60.0
_COMMAND_TIMEOUT = 120.0
PARSERS_TIMEOUT = 30.0


def _postgres_cluster() -> list[str]:
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".") if p.isdigit()])
    return [versions[-1], "main"]


class Servers:
    """RabbitMQ's application and PostgreSQL, stopped for a fault and always started again: by the
    fault itself, by `restore` in the harness's `finally`, at exit, or on SIGTERM/SIGINT."""

    def __init__(self) -> None:
        self.stopped: set[str] = set()
        self._lock = threading.Lock()
        atexit.register(self.restore)
        self._previous: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Unwind the harness (its `finally` blocks restore and clean up) instead of dying in place.
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def uninstall(self) -> None:
        """Give the signal handlers back (the harness ended)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
        atexit.unregister(self.restore)

    def stop(self, server: str) -> None:
        """Stop `rabbitmq` (its application, the node stays up) or `postgresql`."""
        with self._lock:
            self.stopped.add(server)
            _run(self._command(server, "stop"))

    def start(self, server: str) -> None:
        """Start a server again and wait until it answers."""
        with self._lock:
            _run(self._command(server, "start"))
            port = 5672 if server == "rabbitmq" else 5432
            if not wait_until(lambda: reachable("127.0.0.1", port), SERVER_TIMEOUT, every=0.2):
                raise RuntimeError(f"{server} did not come back on port {port}")
            self.stopped.discard(server)

    def restore(self) -> None:
        """Start whatever is still stopped (idempotent; safe at exit)."""
        for server in sorted(self.stopped):
            with contextlib.suppress(Exception):
                self.start(server)

    @staticmethod
    def _command(server: str, action: str) -> list[str]:
        if server == "rabbitmq":
            return ["rabbitmqctl", "-q", f"{action}_app"]
        # A stop is "fast" by default: sessions are rolled back and cut, as in a crash of the server's clients.
        return ["pg_ctlcluster", "--skip-systemctl-redirect", *_postgres_cluster(), action]


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {completed.stderr.strip() or completed.stdout.strip()}")


def _ancestors() -> set[int]:
    """This process and every process above it."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return found


def other_tests_running() -> list[str]:
    """Other pytest processes on this machine (not this one nor those above it): they would see a
    stopped server fail their tests."""
    mine = _ancestors()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "pytest" in command:
            found.append(f"{entry.name} {command.strip()}")
    return found


@dataclass
class Role:
    """One `govreport` process of the pipeline, restarted after each kill; stderr goes to its log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    proxy: Proxy | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exits: list[int] = field(default_factory=list)  # statuses of exits nobody asked for
    _stream: IO[bytes] | None = None

    def start(self) -> None:
        """Start (or restart) the process."""
        if self._stream is None:
            self._stream = self.log.open("ab")
        self.process = subprocess.Popen([str(GOVREPORT), *self.command], env=self.env, stderr=self._stream)
        self.starts += 1

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the process (its parsing processes notice and exit by themselves)."""
        if self.process is not None:
            kill_quietly(self.process.pid)
            self.process.wait(10)

    def parsers(self) -> list[int]:
        """The parsing processes: the children of the process's fork server."""
        if not self.running or self.process is None:
            return []
        found = []
        for child in descendants(self.process.pid):
            with contextlib.suppress(OSError):
                if b"forkserver" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found += [pid for pid in descendants(child) if alive(pid)]
        return found

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL of the process and everything below it if it lingers."""
        if self.process is not None and self.process.poll() is None:
            below = descendants(self.process.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            for pid in below:
                kill_quietly(pid)
        if self._stream is not None:
            self._stream.close()
            self._stream = None


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: when (seconds from the start), what, to whom, for how long, and its effect."""

    at: float
    kind: str
    target: str
    seconds: float
    note: str = ""


class Injector:
    """Injects faults of the chosen kinds at random moments, one at a time, and logs them."""

    def __init__(
        self, roles: dict[str, Role], servers: Servers, kinds: tuple[str, ...], rng: random.Random, began: float
    ) -> None:
        self.roles, self.servers, self.kinds, self.rng, self.began = roles, servers, kinds, rng, began
        self.log: list[Fault] = []
        self.lock = threading.Lock()  # held while a role is down on purpose: the supervisor waits

    def schedule(self, count: int) -> list[str]:
        """`count` faults, every kind as evenly as the count allows, in a random order."""
        kinds = [self.kinds[index % len(self.kinds)] for index in range(count)]
        self.rng.shuffle(kinds)
        return kinds

    def inject(self, kind: str) -> None:
        """Inject one fault and undo it (restart, reconnect, start the server again)."""
        at = time.monotonic() - self.began
        action: dict[str, Callable[[float], Fault]] = {
            "kill-watcher": lambda t: self._kill(t, "watcher"),
            "kill-consumer": lambda t: self._kill(t, self.rng.choice(("consumer-1", "consumer-2"))),
            "kill-relay": lambda t: self._kill(t, "relay"),
            "kill-parser": self._kill_parser,
            "cut-database": self._cut,
            "stop-rabbitmq": lambda t: self._stop(t, "rabbitmq"),
            "stop-postgresql": lambda t: self._stop(t, "postgresql"),
        }
        self.log.append(action[kind](at))

    def _kill(self, at: float, name: str) -> Fault:
        role = self.roles[name]
        down = self.rng.uniform(0.0, 2.0)
        with self.lock:
            role.kill()
            time.sleep(down)
            role.start()
        return Fault(at, f"kill-{name.split('-')[0]}", name, down, "SIGKILL, restarted")

    def _kill_parser(self, at: float) -> Fault:
        name = self.rng.choice(("consumer-1", "consumer-2"))
        role = self.roles[name]
        # A consumer just restarted (or renewing its pool) may have none yet: they come within seconds.
        wait_until(lambda: bool(role.parsers()), PARSERS_TIMEOUT, every=0.2)
        parsers = role.parsers()
        if not parsers:
            return Fault(at, "kill-parser", name, 0.0, "no parsing process found: nothing killed")
        pid = self.rng.choice(parsers)
        kill_quietly(pid)
        return Fault(at, "kill-parser", name, 0.0, f"SIGKILL of parsing process {pid}")

    def _cut(self, at: float) -> Fault:
        names = [name for name, role in self.roles.items() if role.proxy is not None]
        chosen = names if self.rng.random() < 0.3 else [self.rng.choice(names)]
        seconds = self.rng.uniform(0.5, 5.0)
        for name in chosen:
            proxy = self.roles[name].proxy
            assert proxy is not None
            proxy.cut()
        time.sleep(seconds)
        for name in chosen:
            proxy = self.roles[name].proxy
            assert proxy is not None
            proxy.restore()
        target = "all roles" if len(chosen) > 1 else chosen[0]
        return Fault(at, "cut-database", target, seconds, "connections dropped, new ones refused")

    def _stop(self, at: float, server: str) -> Fault:
        seconds = self.rng.uniform(1.0, MAX_OUTAGE - 2.0)
        started = time.monotonic()
        try:
            self.servers.stop(server)
            time.sleep(seconds)
        finally:
            self.servers.start(server)
        return Fault(at, f"stop-{server}", server, time.monotonic() - started, "stopped, started again")
