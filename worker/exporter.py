"""Serving `worker.metrics` over HTTP: each long-running command (`run`, `watch`, `consume`, `relay`)
on its own port (`GOVREPORT_METRICS_PORT`; 0 serves nothing), in a daemon thread:

- `/metrics`: the Prometheus exposition of `REGISTRY`, the backlogs looked up when scraped
  (`worker.probe.Backlogs`).
- `/healthz`: 200 while the process answers at all.
- `/readyz`: 200 when the database and the broker answer and each role of the process has looped
  in the last `FRESH` seconds (`worker.probe.Readiness`); else 503, the body saying what is wrong.
"""

import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CollectorRegistry, make_wsgi_app

from worker.adapters.broker import Topology
from worker.metrics import REGISTRY, RETRIES
from worker.probe import Backlogs, Probe, Readiness

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from worker.config import Settings

log = structlog.get_logger("worker.metrics")

_POLL = 0.2  # how soon the HTTP server notices a shutdown


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
    backlogs = Backlogs(probe)
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
