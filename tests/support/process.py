"""`govreport` as a real process for lifecycle tests: its JSON log lines as they come, its process
tree, the CPU it used and the broker connections it holds (all read from /proc)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.pipeline_kit import AMQP, wait_until

GOVREPORT = Path(sys.executable).parent / "govreport"
_AMQP_PORT = 5672


def environment(namespace: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `govreport` process for one test: its namespace, database and inbox."""
    return {
        **os.environ,
        "GOVREPORT_NAMESPACE": namespace,
        "GOVREPORT_AMQP_URL": AMQP,
        "GOVREPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'govreport.db'}",
        "GOVREPORT_INBOX": str(tmp_path / "inbox"),
        "GOVREPORT_CONCURRENCY": "1",
        "GOVREPORT_METRICS_PORT": "0",  # tests run side by side: none takes the metrics port
        **extra,
    }


# Root reads any file whatever its mode: run as root without the capabilities that allow it, a
# command meets permissions as any user does (the owner of the venv, root, still reads it).
AS_A_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []


class Govreport:
    """A `govreport` command running in a process of its own, its stderr read line by line."""

    def __init__(self, command: list[str], env: dict[str, str], wrapper: list[str] | None = None) -> None:
        argv = [*(wrapper or []), str(GOVREPORT), *command]
        self.process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.raw.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (a line that is not JSON shows as {"raw": line})."""
        parsed = []
        for line in list(self.raw):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                parsed.append({"raw": line})
        return parsed

    def events(self, name: str) -> list[dict[str, Any]]:
        """The log lines of one event."""
        return [line for line in self.lines() if line.get("event") == name]

    def wait_for(self, event: str, timeout: float = 60.0) -> bool:
        """Whether the event was logged within the timeout."""
        return wait_until(lambda: bool(self.events(event)) or self.process.poll() is not None, timeout) and bool(
            self.events(event)
        )

    def send(self, signum: int) -> None:
        """Send a signal."""
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process ended (and its stderr was read to the end)."""
        status = self.process.wait(timeout)
        self._reader.join(10)
        return status

    def close(self) -> None:
        """Make sure the process and its children are gone (the test's cleanup)."""
        if self.process.poll() is None:
            self.send(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                for pid in descendants(self.pid):
                    kill_quietly(pid)
                self.process.kill()
                self.process.wait(10)
        self._reader.join(10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields that follow come after the last ")".
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def resident(pid: int) -> int:
    """The resident memory of one process, in bytes (0 once it has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # a zombie has no VmRSS line


def resident_tree(pid: int) -> int:
    """The resident memory of a process and every process below it, in bytes."""
    return sum(resident(each) for each in [pid, *descendants(pid)])


# An idle `govreport run` wakes a handful of times a second in all (the consumer's and the
# supervisor's polls twice a second, the relay's once). Its CPU time cannot tell a timer from
# nothing on a virtual machine: code run after a second's sleep may take a hundred times the CPU it
# takes warm (measured on the CI machine: the relay's poll of the outbox, 0.3 ms back to back,
# 60 ms after a second idle). So idle is tested by counting wake-ups, and CPU only for spinning.
IDLE_WAKEUPS_PER_S = 15
# A thread that spins takes a whole core; idle wake-ups, however slow the machine, far less.
SPINNING_SHARE = 0.25


def wakeups(pid: int) -> int:
    """How many times the threads of a process and of every process below it have gone to sleep
    and woken again so far (their voluntary context switches): a timer or a poll shows here as a
    rate, whatever the machine's speed."""
    total = 0
    for each in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):  # a process or thread that ended meanwhile
            for task in Path(f"/proc/{each}/task").iterdir():
                with contextlib.suppress(OSError):
                    for line in (task / "status").read_text().splitlines():
                        if line.startswith("voluntary_ctxt_switches:"):
                            total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds used so far by a process and every process below it."""
    ticks = 0
    for each in [pid, *descendants(pid)]:
        fields = _stat(each)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def amqp_connections(pid: int) -> set[int]:
    """The local ports of a process's TCP connections to RabbitMQ: the same set later means that
    no connection was lost and reopened meanwhile."""
    inodes = set()
    for fd in _fds(pid):
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for row in _rows(Path(f"/proc/{pid}/net/{table}")):
            local, remote, state, inode = row[1], row[2], row[3], row[9]
            if int(remote.rsplit(":", 1)[1], 16) == _AMQP_PORT and state == "01" and inode in inodes:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def _fds(pid: int) -> Iterator[Path]:
    try:
        yield from Path(f"/proc/{pid}/fd").iterdir()
    except OSError:
        return


def _rows(table: Path) -> Iterator[list[str]]:
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return
    for line in lines:
        yield line.split()


def kill_quietly(pid: int) -> None:
    """SIGKILL a process that may be gone already."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
