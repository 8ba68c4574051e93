"""Tools for pipeline tests on the real RabbitMQ: namespaces, an event sink, direct publishing,
and a TCP proxy that cuts a real database connection."""

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika

from worker.adapters.broker import Broker, Topology
from worker.files import FileData
from worker.messages import file_message

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, every: float = 0.05) -> bool:
    """Poll a condition until it holds or the timeout passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def new_namespace() -> str:
    """A namespace of queues and exchanges for one test only."""
    return f"t{uuid.uuid4().hex[:12]}"


def delete_namespace(namespace: str) -> None:
    """Remove every queue and exchange a test's namespace declared."""
    topology = Topology(namespace)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    for queue in (topology.parse, topology.dlq):
        channel.queue_delete(queue)
    for exchange in (topology.files, topology.dlx, topology.events):
        channel.exchange_delete(exchange)
    connection.close()


class EventSink:
    """Every event published to a namespace's events exchange, collected by a thread of its own."""

    def __init__(self, namespace: str) -> None:
        self.exchange = Topology(namespace).events
        self.events: list[tuple[str, dict[str, Any], Any]] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-sink", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the event sink did not start")

    def _run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP))
        channel = connection.channel()
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, self.exchange, routing_key="report.#")
        self._ready.set()
        for method, properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.05):
            if method is not None:
                self.events.append((method.routing_key, json.loads(body), properties))
            if self._stop.is_set():
                break
        connection.close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[str, dict[str, Any], Any]]:
        """At least `count` events, or fewer after the timeout."""
        wait_until(lambda: len(self.events) >= count, timeout)
        return list(self.events)

    def close(self) -> None:
        """Stop collecting."""
        self._stop.set()
        self._thread.join(5)


def publish_files(namespace: str, files: list[FileData], delivery_limit: int = 5, *, claimed: bool = False) -> None:
    """Publish file messages as the watcher would (declaring the topology first); `claimed`: as a
    claim check, without their bytes (which the caller may or may not have stored as claims)."""
    topology = Topology(namespace, delivery_limit)
    broker = Broker(AMQP, "test-publisher")
    topology.declare(broker.connect())
    broker.publish([file_message(topology, f, claimed=claimed) for f in files])
    broker.close()


def as_message(path: Path, name: str | None = None) -> FileData:
    """A file message for a file's bytes, as the watcher would send it."""
    import hashlib

    data = path.read_bytes()
    stat = path.stat()
    return FileData(name or path.name, str(path), len(data), stat.st_mtime_ns, hashlib.sha256(data).hexdigest(), data)


class Proxy:
    """A TCP forwarder to a real server that can cut every connection and refuse new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
                if not self.open.is_set():  # cut while this one was being accepted
                    self._drop(client, upstream)
                    continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        # Either side ending ends the pair: both sockets are closed here, whoever ended it.
        self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        """The server is gone: every connection drops and new ones are refused."""
        self.open.clear()
        with self.lock:
            self._drop(*self.sockets)
            self.sockets.clear()

    def restore(self) -> None:
        """The server is back."""
        self.open.set()

    def close(self) -> None:
        """Stop forwarding."""
        self.cut()
        self.listener.close()


@contextlib.contextmanager
def running(target: Callable[[], None]) -> Iterator[threading.Thread]:
    """Run a function in a daemon thread for the duration of a block."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    yield thread
