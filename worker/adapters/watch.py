"""Watch an inbox folder and report files once they have settled.

Events from watchdog (inotify, or polling for network shares) are only hints that queue a path.
One settle thread stats the candidates and hands a file over when its size and mtime have not
changed for `quiet` seconds after its writer closed it (IN_CLOSE_WRITE) or it was renamed into
place, or for `open_quiet` seconds when only creations and modifications were seen: a file moved
in from outside looks like that, but so does one whose writer still holds it open. A full scan at
start-up and every `rescan_every` seconds is the truth, so a lost event, a dead observer or an
inbox that is not mounted yet only delays a file.

The watcher only lists folders and stats files: it opens no file in the inbox, and it never
follows or reports a symlink (a link to a file inside the inbox is skipped; its target is reported
under its own path). Hidden, Office lock, temporary and partial-download names are skipped at any
depth, and so is everything below a folder with such a name.

Raises:
    ValueError: from `Watcher()` when a timing or batch argument is out of range.
    RuntimeError: from `Watcher.start` when the watcher was started before.
"""

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserverVFS

log = structlog.get_logger("worker.watch")

SETTLE_THREAD = "govreport-watch-settle"
OBSERVER_THREAD = "govreport-watch-observer"

_IGNORED_PREFIXES = (".", "~$")
_IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".swp")
_RETRY_FIRST = 1.0
_RETRY_MAX = 30.0
# Opens and read-only closes are left out: our own consumers reading a file would wake the loop.
# Deletions and moves away are kept to drop a pending candidate early.
_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]


@dataclass(frozen=True, slots=True)
class DroppedFile:
    """A regular file in the inbox whose size and mtime stayed unchanged for the quiet period: what
    the watcher saw, never read here (reading is `worker.files`' job, on the callback's side)."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(slots=True)
class _Candidate:
    size: int
    mtime_ns: int
    since: float
    closed: bool  # the writer closed it, or it was renamed into place: complete once stable


def is_ignored(relative: str) -> bool:
    """True if any part of an inbox-relative path is a hidden, temporary or partial-download name."""
    return any(_ignored_name(part) for part in relative.split(os.sep))


def _ignored_name(name: str) -> bool:
    # Suffixes compare case-insensitively: Windows clients on a share write `.TMP` as often as `.tmp`.
    return name.startswith(_IGNORED_PREFIXES) or name.lower().endswith(_IGNORED_SUFFIXES)


def _never_handed_over(_file: DroppedFile) -> bool:
    return False


class _Hints(FileSystemEventHandler):
    """Turns every watchdog event into candidate paths; the settle loop decides what they are."""

    def __init__(self, add: Callable[[Iterable[str], bool], None]) -> None:
        self._add = add

    def dispatch(self, event: FileSystemEvent) -> None:
        """Queue the source path (it may have vanished) and the destination of a move."""
        if event.dest_path:
            self._add([os.fsdecode(event.src_path)], False)
            self._add([os.fsdecode(event.dest_path)], True)  # renamed into place: written completely
        else:
            self._add([os.fsdecode(event.src_path)], isinstance(event, FileClosedEvent))


def _discard(observer: BaseObserver) -> None:
    """Stop an observer, started or not, and wait for its threads."""
    observer.stop()
    if observer.ident is not None:
        observer.join()


def _healthy(observer: BaseObserver) -> bool:
    # A polling emitter stops for good when the share disappears; inotify ones die on kernel errors.
    return observer.is_alive() and all(emitter.is_alive() for emitter in observer.emitters)


class Watcher:
    """Reports files dropped into an inbox, in batches, once their size and mtime have settled."""

    def __init__(
        self,
        inbox: Path,
        on_settled: Callable[[list[DroppedFile]], None],
        *,
        poll: float | None = None,
        quiet: float = 0.2,
        open_quiet: float | None = None,
        rescan_every: float = 30.0,
        is_handed_over: Callable[[DroppedFile], bool] | None = None,
        batch_max: int = 100,
    ) -> None:
        if (poll is not None and poll <= 0) or quiet < 0 or rescan_every <= 0 or batch_max < 1:
            raise ValueError("poll and rescan_every must be > 0, quiet >= 0 and batch_max >= 1")
        # Absolute but not resolved: event paths are built from this spelling of the inbox.
        self._root = os.path.abspath(inbox)
        self._on_settled = on_settled
        self._poll = poll
        self._quiet = quiet
        # Polling sees no closes: there stability alone decides, and the caller sets `quiet` for it.
        self._open_quiet = quiet if poll is not None else max(quiet, open_quiet if open_quiet is not None else 2.0)
        self._rescan_every = rescan_every
        self._is_handed_over = is_handed_over or _never_handed_over
        self._batch_max = batch_max
        self._hints: set[str] = set()
        self._closed_hints: set[str] = set()
        self._hints_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._observer_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Owned by the settle thread.
        self._pending: dict[str, _Candidate] = {}
        # Never pruned: a share that comes back after showing an empty mount point must not be
        # reported again. About 200 bytes per file handed over.
        self._reported: set[tuple[str, int, int]] = set()
        self._retry_at = 0.0
        self._failures = 0

    def start(self) -> None:
        """Start the observer and the settle thread, which scans the whole inbox first."""
        if self._thread is not None:
            raise RuntimeError("a Watcher can be started only once")
        self._thread = threading.Thread(target=self._run, name=SETTLE_THREAD, daemon=True)
        self._start_observer()
        self._thread.start()
        log.info("watch.started", inbox=self._root, poll=self._poll)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the observer and the settle thread; returns within `timeout` even if a callback hangs."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        with self._observer_lock:
            observer, self._observer = self._observer, None
        threads = [] if self._thread is None else [self._thread]
        if observer is not None:
            # In its own thread: stopping a poller waits for a snapshot of the share to finish.
            stopper = threading.Thread(target=_discard, args=(observer,), name="govreport-watch-stopper", daemon=True)
            stopper.start()
            threads.append(stopper)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in threads if thread.is_alive() and thread is not threading.current_thread()]
        if alive:
            log.warning("watch.stop_timeout", inbox=self._root, threads=alive)
        else:
            log.info("watch.stopped", inbox=self._root)

    def scan(self) -> None:
        """Queue every file below the inbox as a candidate (the truth; events are only hints)."""
        found = self._walk(self._root)
        log.debug("watch.scanned", inbox=self._root, files=found)

    # --- threads feeding candidates -------------------------------------------------------------

    def _hint(self, paths: Iterable[str], closed: bool = True) -> None:
        # A scan's hint counts as closed: a file still being written will send modifications.
        keep = [path for path in paths if not self._ignored(path)]
        if keep:
            with self._hints_lock:
                self._hints.update(keep)
                if closed:
                    self._closed_hints.update(keep)
            self._wake.set()

    def _ignored(self, path: str) -> bool:
        relative = os.path.relpath(path, self._root)
        return relative.startswith(os.pardir) or is_ignored(relative)

    def _walk(self, top: str) -> int:
        found = 0
        # followlinks=False: a symlinked directory is listed but never entered.
        for dirpath, dirnames, filenames in os.walk(top, onerror=self._walk_failed, followlinks=False):
            if self._stopping.is_set():
                break
            dirnames[:] = [name for name in dirnames if not _ignored_name(name)]
            self._hint(os.path.join(dirpath, name) for name in filenames)
            found += len(filenames)
        return found

    def _walk_failed(self, error: OSError) -> None:
        log.warning("watch.scan_failed", path=error.filename, error=str(error))

    def _start_observer(self) -> None:
        with self._observer_lock:
            if self._stopping.is_set():
                return
            try:
                observer = self._new_observer()
            except OSError as e:
                log.warning("watch.observer_failed", inbox=self._root, error=str(e))
                return
            try:
                observer.schedule(_Hints(self._hint), self._root, recursive=True, event_filter=_EVENTS)
                observer.start()
            except OSError as e:
                # The inotify watch limit, an inbox not mounted yet: scanning alone stays correct.
                _discard(observer)
                log.warning("watch.observer_failed", inbox=self._root, error=str(e))
                return
            self._observer = observer
        log.info("watch.observer_started", inbox=self._root, observer=type(observer).__name__)

    def _new_observer(self) -> BaseObserver:
        if self._poll is None:
            observer = Observer()
        else:
            # lstat, unlike the default stat, keeps the poller out of symlinked trees outside the inbox.
            observer = PollingObserverVFS(stat=os.lstat, listdir=os.scandir, polling_interval=self._poll)
        observer.name = OBSERVER_THREAD
        return observer

    def _ensure_observer(self) -> None:
        with self._observer_lock:
            observer = self._observer
            if observer is not None and _healthy(observer):
                return
            self._observer = None
        if observer is not None:
            log.warning("watch.observer_lost", inbox=self._root)
            _discard(observer)
        self._start_observer()

    # --- the settle thread ----------------------------------------------------------------------

    def _run(self) -> None:
        next_scan = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_scan:
                    self._ensure_observer()
                    self.scan()
                    next_scan = time.monotonic() + self._rescan_every
                self._settle_pass()
            except Exception:  # the thread must survive anything; the error is logged
                log.exception("watch.loop_failed", inbox=self._root)
                self._stopping.wait(_RETRY_FIRST)
                continue
            self._wake.wait(max(0.0, self._next_wakeup(next_scan) - time.monotonic()))
            self._wake.clear()

    def _due(self, candidate: _Candidate) -> float:
        return candidate.since + (self._quiet if candidate.closed else self._open_quiet)

    def _next_wakeup(self, next_scan: float) -> float:
        if not self._pending:
            return next_scan
        first = min(self._due(candidate) for candidate in self._pending.values())
        # During a backoff the settled files wait for the retry, not for their (past) quiet time.
        return min(next_scan, max(first, self._retry_at))

    def _settle_pass(self) -> None:
        now = time.monotonic()
        with self._hints_lock:
            hints, self._hints = self._hints, set()
            closed, self._closed_hints = self._closed_hints, set()
        for path in hints:
            st = self._lstat(path)
            if st is not None:
                self._track(path, st, now, path in closed)
        if now >= self._retry_at:
            settled = self._settled(now)
            if settled:
                self._hand_over(settled)

    def _lstat(self, path: str) -> os.stat_result | None:
        """The stat of a regular file, or None after dealing with anything else."""
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            self._pending.pop(path, None)
            log.debug("watch.vanished", path=path)
            return None
        except OSError as e:
            self._pending.pop(path, None)
            log.warning("watch.stat_failed", path=path, error=str(e))
            return None
        if stat.S_ISREG(st.st_mode):
            return st
        self._pending.pop(path, None)
        if stat.S_ISDIR(st.st_mode):
            # A directory created or moved in. watchdog simulates events for its content, but not below
            # subfolders it failed to watch (the inotify limit); a walk is cheap insurance.
            self._walk(path)
        else:
            log.debug("watch.not_regular", path=path)
        return None

    def _track(self, path: str, st: os.stat_result, now: float, closed: bool) -> None:
        if (path, st.st_size, st.st_mtime_ns) in self._reported:
            self._pending.pop(path, None)
            return
        known = self._pending.get(path)
        if known is not None and (known.size, known.mtime_ns) == (st.st_size, st.st_mtime_ns):
            known.closed = known.closed or closed
            return
        if known is None and not self._inside(path):
            return
        # A change without a close means a writer is at work: wait for its close (or open_quiet).
        self._pending[path] = _Candidate(st.st_size, st.st_mtime_ns, now, closed)

    def _inside(self, path: str) -> bool:
        """True if no symlink leads from the inbox to the path (so it cannot point outside)."""
        relative = os.path.relpath(path, self._root)
        if os.path.realpath(path) == os.path.join(os.path.realpath(self._root), relative):
            return True
        log.debug("watch.through_symlink", path=path)
        return False

    def _settled(self, now: float) -> list[DroppedFile]:
        # The local clock, not the file's mtime: a share's clock may be off, and a write in progress
        # would then look old enough.
        due = [(path, known) for path, known in self._pending.items() if self._due(known) <= now]
        settled = []
        for path, known in due:
            st = self._lstat(path)
            if st is None:
                continue
            if (st.st_size, st.st_mtime_ns) != (known.size, known.mtime_ns):
                self._track(path, st, now, closed=False)
            elif self._inside(path):
                settled.append(DroppedFile(Path(path), known.size, known.mtime_ns))
            else:
                self._pending.pop(path, None)
        return sorted(settled, key=lambda file: file.path)

    def _hand_over(self, settled: list[DroppedFile]) -> None:
        """Call `on_settled` in batches; on an error keep the files and back off."""
        try:
            fresh = [file for file in settled if not self._known_elsewhere(file)]
            for start in range(0, len(fresh), self._batch_max):
                if self._stopping.is_set():
                    return
                batch = fresh[start : start + self._batch_max]
                self._on_settled(batch)
                self._mark(batch)
        except Exception:  # a broker or database outage must not end the watcher
            self._failures += 1
            delay = min(_RETRY_FIRST * 2 ** (self._failures - 1), _RETRY_MAX)
            self._retry_at = time.monotonic() + delay
            log.exception("watch.hand_over_failed", inbox=self._root, files=len(settled), retry_in=delay)
            return
        self._failures = 0
        log.debug("watch.handed_over", inbox=self._root, files=len(fresh))

    def _known_elsewhere(self, file: DroppedFile) -> bool:
        if not self._is_handed_over(file):
            return False
        self._mark([file])
        return True

    def _mark(self, files: list[DroppedFile]) -> None:
        for file in files:
            path = str(file.path)
            self._reported.add((path, file.size, file.mtime_ns))
            self._pending.pop(path, None)
