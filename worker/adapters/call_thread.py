"""One thread that runs calls one at a time: for a pika connection, which is not thread-safe, used
now and then by other threads and kept alive in between."""

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Call = tuple[Callable[[], Any], "Future[Any]"]


class CallThread:
    """Runs the calls submitted to it one at a time in one daemon thread, calls `idle` whenever none
    came for `every` seconds, and `end` in that thread when it is closed."""

    def __init__(
        self, name: str, idle: Callable[[], None], every: float, end: Callable[[], None] = lambda: None
    ) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._idle, self._every, self._end = idle, every, end
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[[], T]) -> "Future[T]":
        """Run `function` in the thread: its result or exception comes out of the future."""
        future: Future[T] = Future()
        self._calls.put((function, future))
        return future

    def close(self, timeout: float, left: Callable[[], BaseException] | None = None) -> None:
        """End the thread after the calls already submitted, waiting `timeout` s at most; calls still
        waiting then fail with `left()`."""
        self._calls.put(None)
        self._thread.join(timeout)
        if left is None:
            return
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return
            if call is not None:
                call[1].set_exception(left())

    def _serve(self) -> None:
        while True:
            try:
                call = self._calls.get(timeout=self._every)
            except queue.Empty:
                self._idle()
                continue
            if call is None:
                break
            function, future = call
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function())
                except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
                    future.set_exception(error)
        self._end()
