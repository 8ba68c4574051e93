"""The parsing processes: one owner of the pool, for the consumer and `ingest` alike.

Documents are untrusted binary input read by native code (PDFium, calamine, LibreOffice): a
document may crash its process, hang it, or eat its memory. Each process runs under an address
space limit, and each document is a task of its own with its own deadline: a result comes out as
soon as its parse ends (`finished`), so a slow document holds up no other.

A process that dies breaks the whole `ProcessPoolExecutor` and a hung one can only be stopped by
killing them all: the tasks caught in the pool then are sorted out. Those that had started are
parsed again one at a time in a pool of one process of their own, so that only the document at
fault ends — as a stored failure, at once, instead of a message redelivered until the broker gives
up on it — while new documents go on in a fresh pool; those that had not started go back to it.
"""

import itertools
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import structlog

from worker.config import Settings
from worker.core.parse import Parsed
from worker.core.result import FailureReason
from worker.jobs import ParseJob, failed_job, parse_job, worker_process_init

log = structlog.get_logger("worker.parsing")
# Past the document's own limit (which the readers check between pages), the process is killed.
_GRACE = 5.0
# How often tasks in flight are looked at when nothing else wakes the caller (to see them start).
TICK = 0.2
_TASKS_PER_PROCESS = 200

Parse = Callable[[ParseJob], Parsed]
KeepAlive = Callable[[], None]
Notify = Callable[[], None]


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """How many processes, and what one document may cost in one of them."""

    workers: int
    seconds: float
    memory: int | None
    # Memory a big document took is not given back to the system by the allocator: the processes
    # are replaced after parsing about this many documents each, so that none stays large for ever.
    tasks_per_process: int = _TASKS_PER_PROCESS


def pool_settings(settings: Settings, workers: int | None = None) -> PoolSettings:
    """The pool's settings from the application's (`workers` overrides the concurrency)."""
    return PoolSettings(workers or settings.concurrency, settings.parse_seconds, settings.parse_memory)


def limit_process(memory: int | None) -> None:
    """Initialise a parsing process: JSON logs, signals left to the parent, an address-space cap,
    and an end with the application's process, however that ends."""
    worker_process_init()
    # systemd sends SIGTERM to every process of the unit: the parent decides what happens to a parse.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _exit_with_parent()
    if memory is not None:
        # A document that would take more memory fails with MemoryError in its own process
        # (a failed result), instead of swapping the machine or being killed by the OOM killer.
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _exit_with_parent() -> None:
    """Exit when the application's process is gone. A killed application leaves its parsing
    processes waiting for work for ever otherwise, and they keep the fork server alive with them."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # its sentinel: the end of a pipe the application holds open while it lives
        os._exit(1)

    threading.Thread(target=watch, name="govreport-parent-watch", daemon=True).start()


@dataclass(slots=True, eq=False)
class _Task:
    """One document in the pool: its future, since when it runs (as far as seen), and its history."""

    ticket: int
    job: ParseJob
    notify: Notify
    future: "Future[Parsed] | None" = None
    started: float | None = None
    resubmitted: bool = False


class ParsePool:
    """A process pool that survives the documents it parses: `start` a job, take what `finished`."""

    def __init__(self, settings: PoolSettings, parse: Parse = parse_job) -> None:
        self.settings = settings
        self.parse = parse  # a module-level function: it is sent to the processes
        self.executor = self._new_executor(settings.workers)
        self._submitted = 0  # to `executor`: it is retired after `tasks_per_process` per process
        self._retired: list[ProcessPoolExecutor] = []  # finishing their last parses
        self._alone_executor: ProcessPoolExecutor | None = None
        self._main: dict[int, _Task] = {}
        self._suspects: deque[_Task] = deque()
        self._alone: _Task | None = None
        self._tickets = itertools.count()

    def _new_executor(self, workers: int, max_tasks: int | None = None) -> ProcessPoolExecutor:
        # Never fork this process: its other threads (broker connections, the relay, logging)
        # may hold locks at that moment, which the child would wait on for ever. A fork server
        # starts clean, and makes a renewed pool cheap.
        context = multiprocessing.get_context("forkserver")
        # The main module too: each new process would import it again otherwise (for `govreport`,
        # the whole CLI: a second or two before a fresh process parses anything).
        context.set_forkserver_preload(["__main__", "worker.jobs"])
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=limit_process,
            initargs=(self.settings.memory,),
            max_tasks_per_child=max_tasks,
        )

    @property
    def limit(self) -> float:
        """Seconds a document may run in its process before the process is killed."""
        return self.settings.seconds + _GRACE

    @property
    def in_flight(self) -> int:
        """Documents started and not finished yet."""
        return len(self._main) + len(self._suspects) + (self._alone is not None)

    def start(self, job: ParseJob, notify: Notify = lambda: None) -> int:
        """Start parsing a job; its ticket. `notify` is called (from another thread) when it may
        have finished: then call `finished`."""
        task = _Task(next(self._tickets), job, notify)
        self._main[task.ticket] = task
        self._retire_if_due()
        try:
            self._submit(self.executor, task)
        except BrokenProcessPool:  # broken by an earlier document: sort its tasks (and this one) out
            self._recover("crashed")
        return task.ticket

    def finished(self) -> list[tuple[int, Parsed]]:
        """The tasks that ended since the last call, by ticket: parsed, or failed alone (their
        process died, or they overran their time)."""
        now = time.monotonic()
        results: list[tuple[int, Parsed]] = []
        trouble = None
        for task in list(self._main.values()):
            future = task.future
            if future is None:
                continue
            if future.done():
                if future.cancelled() or isinstance(future.exception(), BrokenProcessPool):
                    trouble = "crashed"
                else:
                    del self._main[task.ticket]
                    results.append((task.ticket, _outcome(task.job, future)))
            elif future.running():
                task.started = task.started or now
                if now - task.started > self.limit:
                    trouble = trouble or "overran"
        if trouble is not None:
            self._recover(trouble)
        results.extend(self._alone_finished(now))
        return results

    def run(self, jobs: Sequence[ParseJob], keepalive: KeepAlive = lambda: None) -> list[Parsed]:
        """Parse jobs and wait for them all, calling `keepalive` every tick; results in order."""
        changed = threading.Event()
        tickets = [self.start(job, changed.set) for job in jobs]
        wanted = set(tickets)
        results: dict[int, Parsed] = {}
        while len(results) < len(tickets):
            changed.clear()
            results.update((t, p) for t, p in self.finished() if t in wanted)
            if len(results) < len(tickets):
                changed.wait(TICK)
                keepalive()
        return [results[t] for t in tickets]

    def warm(self, timeout: float = 60.0) -> None:
        """Start the fork server and every process now: the first documents would wait for them
        (the fork server imports the application, a second or two)."""
        wait([self.executor.submit(os.getpid) for _ in range(self.settings.workers)], timeout)

    def abandon(self) -> list[ParseJob]:
        """Stop every parse in progress, its processes killed, and forget them: the jobs abandoned."""
        tasks = [*self._main.values(), *self._suspects, *([self._alone] if self._alone else [])]
        self._main.clear()
        self._suspects.clear()
        self._alone = None
        if tasks:
            self.renew()
            self._renew_alone()
        return [task.job for task in tasks]

    def renew(self) -> None:
        """Replace the pool (its processes killed: one may hang in native code) by a fresh one;
        the retired pools' processes are killed too (the document may be in one of them)."""
        old, retired = self.executor, self._retired
        self.executor, self._retired, self._submitted = self._new_executor(self.settings.workers), [], 0
        for executor in [old, *retired]:
            _kill(executor)

    def shutdown(self) -> None:
        """Stop the pools' processes, waiting for none of their work."""
        for executor in [self.executor, *self._retired]:
            _kill(executor)
        if self._alone_executor is not None:
            _kill(self._alone_executor)

    def _retire_if_due(self) -> None:
        """Replace the pool by a fresh one once its processes parsed their share; the old one
        finishes the parses it holds, then its processes exit. The stdlib's own recycling
        (`max_tasks_per_child`) starts a new process only once the old one has exited, and the
        processes reach their count together: every parse then waited about two seconds."""
        self._submitted += 1
        if self._submitted <= self.settings.workers * self.settings.tasks_per_process:
            return
        old = self.executor
        self.executor, self._submitted = self._new_executor(self.settings.workers), 1
        old.shutdown(wait=False)
        self._retired = [executor for executor in self._retired if _alive(executor)] + [old]

    def _submit(self, executor: ProcessPoolExecutor, task: _Task) -> None:
        future = executor.submit(self.parse, task.job)
        task.future, task.started = future, None
        future.add_done_callback(lambda _future: task.notify())

    def _recover(self, reason: str) -> None:
        """The pool broke (a process died) or a document overran: kill it, then parse the tasks
        that had started again one at a time, and send those that had not back to a fresh pool."""
        tasks = list(self._main.values())
        self._main.clear()
        self.renew()
        again = 0
        for task in tasks:
            if task.started is not None or task.resubmitted:
                self._suspects.append(task)
                continue
            task.resubmitted = True  # once: a document that breaks the pool too fast to be seen running
            self._main[task.ticket] = task
            self._submit(self.executor, task)
            again += 1
        log.warning("parser.pool_renewed", reason=reason, alone=len(self._suspects), again=again)

    def _alone_finished(self, now: float) -> list[tuple[int, Parsed]]:
        """The suspect parsed alone, if it ended (or overran); the next suspect started."""
        results = []
        task = self._alone
        if task is not None and task.future is not None:
            future = task.future
            if future.done():
                self._alone = None
                if future.cancelled() or isinstance(future.exception(), BrokenProcessPool):
                    self._renew_alone()
                    results.append((task.ticket, _crashed(task.job, future)))
                else:
                    results.append((task.ticket, _outcome(task.job, future)))
            elif future.running():
                task.started = task.started or now
                if now - task.started > self.limit:
                    self._alone = None
                    self._renew_alone()
                    results.append((task.ticket, _overran(task.job, self.settings.seconds)))
        if self._alone is None and self._suspects:
            self._alone = self._suspects.popleft()
            if self._alone_executor is None:
                self._alone_executor = self._new_executor(1, self.settings.tasks_per_process)
            try:
                self._submit(self._alone_executor, self._alone)
            except BrokenProcessPool:
                self._renew_alone()
                self._submit(self._alone_executor, self._alone)
        return results

    def _renew_alone(self) -> None:
        if self._alone_executor is not None:
            old, self._alone_executor = self._alone_executor, self._new_executor(1, self.settings.tasks_per_process)
            _kill(old)


def _alive(executor: ProcessPoolExecutor) -> bool:
    """Whether any process of a pool is still running."""
    processes = dict(getattr(executor, "_processes", None) or {})
    return any(process.is_alive() for process in processes.values())


def _kill(executor: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public way to stop a process stuck in native code before 3.14.
    # Killed first: on Python 3.12 a broken pool's manager thread holds the lock `shutdown` takes
    # while it joins the processes it asked to terminate, and ours ignore SIGTERM (the parent decides).
    processes = dict(getattr(executor, "_processes", None) or {})
    for process in processes.values():
        if process.is_alive():
            process.kill()
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        process.join(timeout=5)


def _outcome(job: ParseJob, future: "Future[Parsed]") -> Parsed:
    """A finished job's result; an exception that escaped the parser fails its file alone."""
    error = future.exception()
    if error is None:
        return future.result()
    log.error("parser.raised", sha256=job.sha256, filename=job.filename, exc_info=error)
    return failed_job(job, FailureReason.INTERNAL_ERROR, f"internal error: {type(error).__name__}: {error}")


def _crashed(job: ParseJob, future: "Future[Parsed]") -> Parsed:
    error = None if future.cancelled() else future.exception()
    log.error("parser.crashed", sha256=job.sha256, filename=job.filename, error=str(error))
    message = f"the parser's process died on this document ({error}); kept for reprocess"
    return failed_job(job, FailureReason.INTERNAL_ERROR, message)


def _overran(job: ParseJob, seconds: float) -> Parsed:
    log.warning("parser.timeout", sha256=job.sha256, filename=job.filename, seconds=seconds)
    message = f"reading the document took longer than {seconds + _GRACE:g} s"
    return failed_job(job, FailureReason.UNREADABLE, message)
