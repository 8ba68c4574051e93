"""The one retry helper, for the broker and the database alike.

Errors decide the path: a transient error (broker or database down) is retried with exponential
backoff, logged as a warning that says so, and never stored; a permanent one (the broker refused
the credentials, a vhost or a permission) is not retried: it ends the worker, and the command, with
one line. A bad file is a stored failure; a message that keeps crashing its consumer is
dead-lettered by the broker after the delivery limit and stored from there.
"""

import threading
from collections.abc import Callable

import structlog
import tenacity

from worker import metrics
from worker.adapters.broker import MessageBroker
from worker.errors import TransientError

log = structlog.get_logger("worker.pipeline")
_MAX_BACKOFF = 30.0


def retrying(
    stop: threading.Event,
    *,
    on: type[Exception] = TransientError,
    multiplier: float = 0.5,
    sleep: Callable[[float], None] | None = None,
    event: str = "retrying",
    role: str | None = None,
) -> tenacity.Retrying:
    """Retry `on` errors with exponential backoff until they pass or `stop` is set (then the last
    error is raised); `sleep` waits between attempts (by default: on `stop`, so a stop is prompt).
    Each retry is a warning `event` with the error, the attempt and the seconds until the next, counted
    in `govreport_retries_total` under `role` (by default the event's first word)."""

    def wait(seconds: float) -> None:
        stop.wait(seconds)

    def log_retry(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else None
        log.warning(event, error=str(error), attempt=state.attempt_number, retry_in_s=delay)
        metrics.retried(role or event.partition(".")[0])

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(on),
        wait=tenacity.wait_exponential(multiplier=multiplier, max=_MAX_BACKOFF),
        stop=tenacity.stop_when_event_set(stop),
        sleep=sleep or wait,
        before_sleep=log_retry,
        reraise=True,
    )


def keep_running(work: Callable[[], None], broker: MessageBroker, stop: threading.Event, name: str) -> None:
    """Run a worker's loop until `stop`, starting it again after transient errors (with backoff,
    each a `<name>.retrying` warning); any other error ends it and is raised. The worker's broker
    connection is closed at the end, on the worker's own thread."""
    try:
        for attempt in retrying(stop, event=f"{name}.retrying"):
            with attempt:
                work()
    except TransientError as error:
        log.info(f"{name}.stopped_while_unavailable", error=str(error))
    finally:
        broker.close()
