"""Loading a backlog without the broker: read files, skip content already stored, parse, store."""

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from worker.adapters.queries import StoredContent
from worker.adapters.store import Arrival, Outcome, Store
from worker.core import ParseResult
from worker.services import ParseJob, expand_paths, log_result, parse_job, sha256_of, worker_process_init

log = structlog.get_logger("worker.ingest")


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    sha256: str
    arrival: Arrival
    data: bytes | None  # None when over the size limit: it is hashed, never held in memory


@dataclass(slots=True)
class Tally:
    """What an ingest or a re-parse did."""

    files: int = 0
    stored: Counter[str] = field(default_factory=Counter)
    already_stored: int = 0
    unreadable: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a person."""
        stored = ", ".join(f"{n} {status}" for status, n in sorted(self.stored.items())) or "none"
        return (
            f"{self.files} file(s): stored {sum(self.stored.values())} ({stored}), "
            f"{self.already_stored} already stored, {len(self.unreadable)} unreadable"
        )


def ingest(
    paths: Iterable[Path],
    store: Store,
    *,
    max_bytes: int,
    jobs: int = 1,
    batch: int = 50,
    progress: Callable[[int], None] | None = None,
) -> Tally:
    """Parse and store files and folders; content already stored only gains a sighting."""
    tally = Tally()
    files = list(expand_paths(paths))
    with _executor(jobs) as pool:
        for start in range(0, len(files), batch):
            chunk = files[start : start + batch]
            _ingest_chunk(chunk, store, max_bytes, pool, tally)
            if progress:
                progress(len(chunk))
    return tally


def _ingest_chunk(chunk: list[Path], store: Store, max_bytes: int, pool: Executor | None, tally: Tally) -> None:
    read: list[_File] = []
    for path in chunk:
        tally.files += 1
        try:
            read.append(_read(path, max_bytes))
        except OSError as error:
            tally.unreadable.append(f"{path}: {error.strerror or error}")
            log.warning("ingest.unreadable", filename=path.name, path=str(path), error=str(error))
    known = store.known([f.sha256 for f in read])
    fresh: dict[str, _File] = {}
    seen_again: list[tuple[str, Arrival]] = []
    for file in read:
        if file.sha256 in known or file.sha256 in fresh:
            seen_again.append((file.sha256, file.arrival))
        else:
            fresh[file.sha256] = file
    results = _parse_all(list(fresh.values()), max_bytes, pool)
    saved = store.save([Outcome(r, f.data, f.arrival) for f, r in zip(fresh.values(), results, strict=True)])
    store.sight(seen_again)
    tally.already_stored += len(seen_again) + sum(1 for s in saved if not s.created)
    tally.stored.update(r.status.value for r, s in zip(results, saved, strict=True) if s.created)


def _read(path: Path, max_bytes: int) -> _File:
    stat = path.stat()
    arrival = Arrival(str(path.resolve()), stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
    if stat.st_size > max_bytes:
        return _File(path, sha256_of(path), arrival, None)
    data = path.read_bytes()
    return _File(path, hashlib.sha256(data).hexdigest(), arrival, data)


def _parse_all(files: list[_File], max_bytes: int, pool: Executor | None) -> list[ParseResult]:
    jobs = [ParseJob(f.data, f.path.name, f.sha256, f.arrival.size, max_bytes) for f in files]
    if pool is None:
        return [_timed(job) for job in jobs]
    return list(pool.map(_timed, jobs, chunksize=4))


def _timed(job: ParseJob) -> ParseResult:
    started = time.perf_counter()
    result = parse_job(job)
    log_result(result, time.perf_counter() - started)
    return result


class _NoPool:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _executor(jobs: int) -> ProcessPoolExecutor | _NoPool:
    if jobs <= 1:
        return _NoPool()
    return ProcessPoolExecutor(max_workers=jobs, initializer=worker_process_init)


def reparse(contents: Iterator[StoredContent], store: Store, *, max_bytes: int) -> Tally:
    """Parse stored contents again with this parser and replace their stored outcomes."""
    tally = Tally()
    for content in contents:
        tally.files += 1
        result = _timed(ParseJob(content.data, content.filename, content.sha256, len(content.data), max_bytes))
        store.replace(Outcome(result, content.data))
        tally.stored[result.status.value] += 1
    return tally
