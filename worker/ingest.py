"""Loading a backlog without the broker: read files, skip content already stored, parse, store."""

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from worker.adapters.queries import StoredContent
from worker.adapters.store import Arrival, Outcome, Store
from worker.core.document import evidence_json
from worker.core.parse import Parsed
from worker.parsing import ParsePool, PoolSettings
from worker.services import ParseJob, expand_paths, log_result, parse_job, sha256_of

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
    pool: PoolSettings,
    batch: int = 50,
    progress: Callable[[int], None] | None = None,
) -> Tally:
    """Parse and store files and folders; content already stored only gains a sighting."""
    tally = Tally()
    files = list(expand_paths(paths))
    parser = ParsePool(pool, parse=_timed)
    try:
        for start in range(0, len(files), batch):
            chunk = files[start : start + batch]
            _ingest_chunk(chunk, store, max_bytes, parser, tally)
            if progress:
                progress(len(chunk))
    finally:
        parser.shutdown()
    return tally


def _ingest_chunk(chunk: list[Path], store: Store, max_bytes: int, pool: ParsePool, tally: Tally) -> None:
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
    parsed = _parse_all(list(fresh.values()), max_bytes, pool)
    results = [p.result for p in parsed]
    saved = store.save(
        [
            Outcome(p.result, f.data, f.arrival, evidence_json(p.evidence))
            for f, p in zip(fresh.values(), parsed, strict=True)
        ]
    )
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


def _parse_all(files: list[_File], max_bytes: int, pool: ParsePool) -> list[Parsed]:
    jobs = [ParseJob(f.data, f.path.name, f.sha256, f.arrival.size, max_bytes, pool.settings.seconds) for f in files]
    return pool.run(jobs)


def _timed(job: ParseJob) -> Parsed:
    started = time.perf_counter()
    parsed = parse_job(job)
    log_result(parsed.result, time.perf_counter() - started)
    return parsed


def reparse(contents: Iterator[StoredContent], store: Store, *, max_bytes: int) -> Tally:
    """Parse stored contents again with this parser and replace their stored outcomes."""
    tally = Tally()
    for content in contents:
        tally.files += 1
        parsed = _timed(ParseJob(content.data, content.filename, content.sha256, len(content.data), max_bytes))
        store.replace(Outcome(parsed.result, content.data, evidence=evidence_json(parsed.evidence)))
        tally.stored[parsed.result.status.value] += 1
    return tally
