"""The one retry helper, for the broker and the database alike.

Errors decide the path: a transient error (broker or database down) is retried with exponential
backoff and never stored; a bad file is a stored failure; a message that keeps crashing its
consumer is dead-lettered by the broker after the delivery limit and stored from there.
"""

import threading
from collections.abc import Callable

import structlog
import tenacity

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
    event: str = "transient_error",
) -> tenacity.Retrying:
    """Retry `on` errors with exponential backoff until they pass or `stop` is set (then the last
    error is raised); `sleep` waits between attempts (by default: on `stop`, so a stop is prompt)."""

    def wait(seconds: float) -> None:
        stop.wait(seconds)

    def log_retry(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(event, error=str(error), retry=state.attempt_number)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(on),
        wait=tenacity.wait_exponential(multiplier=multiplier, max=_MAX_BACKOFF),
        stop=tenacity.stop_when_event_set(stop),
        sleep=sleep or wait,
        before_sleep=log_retry,
        reraise=True,
    )


def keep_running(work: Callable[[], None], broker: MessageBroker, stop: threading.Event, name: str) -> None:
    """Run a worker's loop until `stop`, starting it again after transient errors (with backoff);
    the worker's broker connection is closed at the end, on the worker's own thread."""
    try:
        for attempt in retrying(stop):
            with attempt:
                work()
    except TransientError as error:
        log.info(f"{name}.stopped_while_unavailable", error=str(error))
    finally:
        broker.close()
