"""The parsing processes: one owner of the pool, for the consumer and `ingest` alike.

Documents are untrusted binary input read by native code (PDFium, calamine, LibreOffice): a
document may crash its process, hang it, or eat its memory. Each process runs under an address
space limit; a batch whose process died or overran its time is parsed again one document at a
time in a fresh pool, so that only the document at fault ends — as a stored failure, at once,
instead of a message redelivered until the broker gives up on it.
"""

import multiprocessing
import resource
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
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
_TICK = 0.2
_TASKS_PER_PROCESS = 200

Parse = Callable[[ParseJob], Parsed]
KeepAlive = Callable[[], None]


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """How many processes, and what one document may cost in one of them."""

    workers: int
    seconds: float
    memory: int | None


def pool_settings(settings: Settings, workers: int | None = None) -> PoolSettings:
    """The pool's settings from the application's (`workers` overrides the concurrency)."""
    return PoolSettings(workers or settings.concurrency, settings.parse_seconds, settings.parse_memory)


def limit_process(memory: int | None) -> None:
    """Initialise a parsing process: JSON logs, Ctrl-C left to the parent, an address-space cap."""
    worker_process_init()
    if memory is not None:
        # A document that would take more memory fails with MemoryError in its own process
        # (a failed result), instead of swapping the machine or being killed by the OOM killer.
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


class ParsePool:
    """A process pool that survives the documents it parses."""

    def __init__(self, settings: PoolSettings, parse: Parse = parse_job) -> None:
        self.settings = settings
        self.parse = parse  # a module-level function: it is sent to the processes
        self.executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # Never fork this process: its other threads (broker connections, the relay, logging)
        # may hold locks at that moment, which the child would wait on for ever. A fork server
        # starts clean, and makes a renewed pool cheap.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["worker.jobs"])
        return ProcessPoolExecutor(
            max_workers=self.settings.workers,
            mp_context=context,
            initializer=limit_process,
            initargs=(self.settings.memory,),
            # Memory a big document took is not given back to the system by the allocator: a
            # process is replaced after a while so that it cannot stay large for ever.
            max_tasks_per_child=_TASKS_PER_PROCESS,
        )

    def submit(self, jobs: Sequence[ParseJob]) -> list["Future[Parsed]"]:
        """Start parsing; a pool broken by an earlier document is renewed first."""
        try:
            return [self.executor.submit(self.parse, job) for job in jobs]
        except BrokenProcessPool:
            self.renew()
            return [self.executor.submit(self.parse, job) for job in jobs]

    def collect(
        self, jobs: Sequence[ParseJob], futures: Sequence["Future[Parsed]"], keepalive: KeepAlive = lambda: None
    ) -> list[Parsed]:
        """The results of submitted jobs, in order. A job whose process died or overran its time
        makes the others of its batch run again one by one, so that only it fails."""
        if self._wait(futures, len(jobs), keepalive):
            return [_outcome(job, future) for job, future in zip(jobs, futures, strict=True)]
        self.renew()
        results: list[Parsed] = []
        for job, future in zip(jobs, futures, strict=True):
            finished = future.done() and not future.cancelled()
            if finished and not isinstance(future.exception(), BrokenProcessPool):
                results.append(_outcome(job, future))
            else:
                results.append(self._alone(job, keepalive))
        return results

    def run(self, jobs: Sequence[ParseJob], keepalive: KeepAlive = lambda: None) -> list[Parsed]:
        """Parse jobs and wait for them (see `collect`)."""
        return self.collect(jobs, self.submit(jobs), keepalive)

    def _alone(self, job: ParseJob, keepalive: KeepAlive) -> Parsed:
        future = self.submit([job])[0]
        if self._wait([future], 1, keepalive):
            return _outcome(job, future)
        error = None if future.running() or not future.done() else future.exception()
        self.renew()
        if error is None:
            message = f"reading the document took longer than {self.settings.seconds + _GRACE:g} s"
            log.warning("parser.timeout", sha256=job.sha256, filename=job.filename, seconds=self.settings.seconds)
            return failed_job(job, FailureReason.UNREADABLE, message)
        log.error("parser.crashed", sha256=job.sha256, filename=job.filename, error=str(error))
        message = f"the parser's process died on this document ({error}); kept for reprocess"
        return failed_job(job, FailureReason.INTERNAL_ERROR, message)

    def _wait(self, futures: Sequence["Future[Parsed]"], count: int, keepalive: KeepAlive) -> bool:
        """Whether every future finished without a broken pool, within the batch's allowance."""
        budget = (self.settings.seconds + _GRACE) * max(1, -(-count // self.settings.workers))
        waited = 0.0
        while waited < budget:
            done, pending = wait(futures, timeout=_TICK, return_when=FIRST_EXCEPTION)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done if not f.cancelled()):
                return False
            if not pending:
                return True
            keepalive()
            waited += _TICK
        return False

    def renew(self) -> None:
        """Replace the pool (its processes killed: one may hang in native code) by a fresh one."""
        old = self.executor
        self.executor = self._new_executor()
        _kill(old)

    def shutdown(self) -> None:
        """Stop the current pool's processes, waiting for none of their work."""
        _kill(self.executor)


def _kill(executor: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public way to stop a process stuck in native code before 3.14.
    processes = dict(getattr(executor, "_processes", None) or {})
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        if process.is_alive():
            process.kill()
    for process in processes.values():
        process.join(timeout=5)


def _outcome(job: ParseJob, future: "Future[Parsed]") -> Parsed:
    """A finished job's result; an exception that escaped the parser fails its file alone."""
    error = future.exception()
    if error is None:
        return future.result()
    log.error("parser.raised", sha256=job.sha256, filename=job.filename, exc_info=error)
    return failed_job(job, FailureReason.INTERNAL_ERROR, f"internal error: {type(error).__name__}: {error}")
