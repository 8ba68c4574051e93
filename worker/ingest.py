"""Loading a backlog without the broker: read files, skip content already stored, parse, store."""

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from worker.adapters.queries import StoredContent
from worker.adapters.store import Arrival, Outcome, Store
from worker.core.document import evidence_json
from worker.files import FileData, expand_paths, read_given
from worker.jobs import ParseJob, job_for, outcome, timed
from worker.parsing import ParsePool, PoolSettings

log = structlog.get_logger("worker.ingest")


@dataclass(slots=True)
class Tally:
    """What an ingest or a re-parse did."""

    files: int = 0
    stored: Counter[str] = field(default_factory=Counter)
    already_stored: int = 0
    unreadable: list[str] = field(default_factory=list)
    # A re-parse only: how many results changed (each announced by a change event).
    changed: int | None = None

    def summary(self) -> str:
        """One line for a person."""
        stored = ", ".join(f"{n} {status}" for status, n in sorted(self.stored.items())) or "none"
        line = (
            f"{self.files} file(s): stored {sum(self.stored.values())} ({stored}), "
            f"{self.already_stored} already stored, {len(self.unreadable)} unreadable"
        )
        return line if self.changed is None else f"{line}; {self.changed} changed and announced"


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
    parser = ParsePool(pool, parse=timed)
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
    read: list[FileData] = []
    for path in chunk:
        tally.files += 1
        try:
            read.append(read_given(path, max_bytes))
        except OSError as error:
            tally.unreadable.append(f"{path}: {error.strerror or error}")
            log.warning("ingest.unreadable", filename=path.name, path=str(path), error=str(error))
    known = store.known([f.sha256 for f in read])
    fresh: dict[str, FileData] = {}
    seen_again: list[tuple[str, Arrival]] = []
    for file in read:
        if file.sha256 in known or file.sha256 in fresh:
            seen_again.append((file.sha256, Arrival(file.path, file.size, file.mtime)))
        else:
            fresh[file.sha256] = file
    parsed = pool.run([job_for(f, max_bytes, pool.settings.seconds) for f in fresh.values()])
    results = [p.result for p in parsed]
    saved = store.save([outcome(f, p.result, p.evidence) for f, p in zip(fresh.values(), parsed, strict=True)])
    store.sight(seen_again)
    tally.already_stored += len(seen_again) + sum(1 for s in saved if not s.created)
    tally.stored.update(r.status.value for r, s in zip(results, saved, strict=True) if s.created)


def reparse(contents: Iterator[StoredContent], store: Store, *, max_bytes: int) -> Tally:
    """Parse stored contents again with this parser and store the outcomes; only a result that changed
    is replaced and announced."""
    tally = Tally()
    changed = 0
    for content in contents:
        tally.files += 1
        parsed = timed(ParseJob(content.data, content.filename, content.sha256, len(content.data), max_bytes))
        saved = store.replace(Outcome(parsed.result, content.data, evidence=evidence_json(parsed.evidence)))
        tally.stored[parsed.result.status.value] += 1
        if saved.event_id is not None:
            changed += 1
            log.info("reparse.changed", sha256=content.sha256, filename=content.filename, event_id=saved.event_id)
    tally.changed = changed
    return tally
