"""Watch an inbox folder and report files once they are complete.

Events from watchdog (inotify, or polling for network shares: `worker.adapters.watch_observer`) are
only hints that queue a path. One settle thread stats the candidates and hands a file over once its
size and mtime have stayed the same for a quiet period that depends on how the file was last seen
changing:

- it appeared by a rename (renamed into place, moved in from outside the inbox, or inside a folder
  moved in): a rename is atomic, so the file is complete; only a short check (`RENAMED_QUIET`);
- its writer closed it (IN_CLOSE_WRITE): `quiet`. A writer may open, append and close the file
  again: `>>` appends in a script do, and so does an NFS server's nfsd, which opens and closes the
  file for every WRITE it receives. `quiet` must be longer than the writer's longest pause;
- anything else (created or modified without a close, or found by a scan): `open_quiet`, since a
  writer may still hold the file open. Polling sees no closes, so it uses this and the rename rule.

A full scan at start-up and every `rescan_every` seconds is the truth, so a lost event, a dead
observer or an inbox that is not mounted yet only delays a file.

The watcher remembers the files it handed over (path, size, mtime), so a file is handed over once:
an entry is forgotten when a full scan no longer finds its path, and past `remember` entries the
oldest goes; a forgotten file that shows up again is checked with `is_handed_over` (the database).

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
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserverVFS

from worker import metrics
from worker.adapters.watch_observer import EVENTS, Hints, Seen, discard, healthy, native_observer
from worker.errors import TransientError

log = structlog.get_logger("worker.watch")

SETTLE_THREAD = "govreport-watch-settle"
OBSERVER_THREAD = "govreport-watch-observer"
# A renamed file is complete; the check only lets a rename's burst of events (a folder moved in)
# arrive, so they are handed over together.
RENAMED_QUIET = 0.05
QUIET = 2.0
OPEN_QUIET = 5.0
REMEMBER = 100_000

_IGNORED_PREFIXES = (".", "~$")
_IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".swp")
_RETRY_FIRST = 1.0
_RETRY_MAX = 30.0

# The size remembered for a path skipped as not a regular file (a link, a FIFO): never a real size.
_SKIPPED = -1


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
    seen: Seen


def is_ignored(relative: str) -> bool:
    """True if any part of an inbox-relative path is a hidden, temporary or partial-download name."""
    return any(_ignored_name(part) for part in relative.split(os.sep))


def _ignored_name(name: str) -> bool:
    # Suffixes compare case-insensitively: Windows clients on a share write `.TMP` as often as `.tmp`.
    return name.startswith(_IGNORED_PREFIXES) or name.lower().endswith(_IGNORED_SUFFIXES)


def _visible_entries(path: str | None) -> Iterator[os.DirEntry[str]]:
    """A folder's entries less the folders with ignored names: the poller never walks an ignored tree,
    such as the archive inside the inbox (`.archive`), which would otherwise grow every snapshot of a
    share. Files with ignored names stay: the poller must know `.upload.tmp` to see its rename into
    `upload.pdf` as a move (complete at once), not as a new file."""
    with os.scandir(path) as entries:
        yield from (e for e in entries if not (_ignored_name(e.name) and e.is_dir(follow_symlinks=False)))


def _never_handed_over(_file: DroppedFile) -> bool:
    return False


class Watcher:
    """Reports files dropped into an inbox, in batches, once they are complete."""

    def __init__(
        self,
        inbox: Path,
        on_settled: Callable[[list[DroppedFile]], None],
        *,
        poll: float | None = None,
        quiet: float = QUIET,
        open_quiet: float = OPEN_QUIET,
        rescan_every: float = 30.0,
        is_handed_over: Callable[[DroppedFile], bool] | None = None,
        batch_max: int = 100,
        remember: int = REMEMBER,
    ) -> None:
        if (poll is not None and poll <= 0) or rescan_every <= 0 or batch_max < 1 or remember < 1:
            raise ValueError("poll and rescan_every must be > 0, batch_max and remember >= 1")
        if not 0 <= quiet <= open_quiet:
            raise ValueError("quiet must be >= 0 and open_quiet >= quiet")
        # Absolute but not resolved: event paths are built from this spelling of the inbox.
        self._root = os.path.abspath(inbox)
        self._on_settled = on_settled
        self._poll = poll
        self._quiet = {Seen.OPEN: open_quiet, Seen.CLOSED: quiet, Seen.RENAMED: min(quiet, RENAMED_QUIET)}
        self._rescan_every = rescan_every
        self._is_handed_over = is_handed_over or _never_handed_over
        self._batch_max = batch_max
        self._remember = remember
        self._hints: dict[str, Seen | None] = {}
        self._hints_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._observer_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Owned by the settle thread.
        self._pending: dict[str, _Candidate] = {}
        # path -> (size, mtime_ns) handed over, oldest first; about 200 bytes per file.
        self._reported: OrderedDict[str, tuple[int, int]] = OrderedDict()
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
            stopper = threading.Thread(target=discard, args=(observer,), name="govreport-watch-stopper", daemon=True)
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
        self._scan()

    @property
    def remembered(self) -> int:
        """How many handed-over files the watcher remembers (bounded by `remember`)."""
        return len(self._reported)

    def _scan(self) -> set[str]:
        found = self._walk(self._root, None)
        log.debug("watch.scanned", inbox=self._root, files=len(found))
        return found

    # --- threads feeding candidates -------------------------------------------------------------

    def _hint(self, paths: Iterable[str], seen: Seen | None) -> None:
        keep = [path for path in paths if path and not self._ignored(path)]
        if keep:
            with self._hints_lock:
                for path in keep:
                    # The latest event that says something wins: a modification after a close
                    # means the writer is back.
                    if seen is not None or path not in self._hints:
                        self._hints[path] = seen
            self._wake.set()

    def _ignored(self, path: str) -> bool:
        relative = os.path.relpath(path, self._root)
        return relative.startswith(os.pardir) or is_ignored(relative)

    def _walk(self, top: str, seen: Seen | None) -> set[str]:
        found: set[str] = set()
        # followlinks=False: a symlinked directory is listed but never entered.
        for dirpath, dirnames, filenames in os.walk(top, onerror=self._walk_failed, followlinks=False):
            if self._stopping.is_set():
                break
            dirnames[:] = [name for name in dirnames if not _ignored_name(name)]
            paths = [os.path.join(dirpath, name) for name in filenames]
            # A link to a folder is never entered, but it is looked at, so that its skipping is logged.
            paths += [link for name in dirnames if os.path.islink(link := os.path.join(dirpath, name))]
            self._hint(paths, seen)
            found.update(paths)
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
                observer.schedule(Hints(self._hint), self._root, recursive=True, event_filter=EVENTS)
                observer.start()
            except OSError as e:
                # The inotify watch limit, an inbox not mounted yet: scanning alone stays correct.
                discard(observer)
                log.warning("watch.observer_failed", inbox=self._root, error=str(e))
                return
            self._observer = observer
        log.info("watch.observer_started", inbox=self._root, observer=type(observer).__name__)

    def _new_observer(self) -> BaseObserver:
        if self._poll is None:
            observer = native_observer()
        else:
            # lstat, unlike the default stat, keeps the poller out of symlinked trees outside the inbox.
            observer = PollingObserverVFS(stat=os.lstat, listdir=_visible_entries, polling_interval=self._poll)
        observer.name = OBSERVER_THREAD
        return observer

    def _ensure_observer(self) -> None:
        with self._observer_lock:
            observer = self._observer
            if observer is not None and healthy(observer):
                return
            self._observer = None
        if observer is not None:
            log.warning("watch.observer_lost", inbox=self._root)
            discard(observer)
        self._start_observer()

    # --- the settle thread ----------------------------------------------------------------------

    def _run(self) -> None:
        next_scan = 0.0
        while not self._stopping.is_set():
            metrics.beat("watcher")
            try:
                if time.monotonic() >= next_scan:
                    self._ensure_observer()
                    found = self._scan()
                    if not self._stopping.is_set():
                        self._forget_missing(found)
                    next_scan = time.monotonic() + self._rescan_every
                self._settle_pass()
            except Exception:  # the thread must survive anything; the error is logged
                log.exception("watch.loop_failed", inbox=self._root)
                self._stopping.wait(_RETRY_FIRST)
                continue
            # At least every HEARTBEAT_EVERY seconds: an idle loop still beats.
            self._wake.wait(min(metrics.HEARTBEAT_EVERY, max(0.0, self._next_wakeup(next_scan) - time.monotonic())))
            self._wake.clear()

    def _forget_missing(self, found: set[str]) -> None:
        """Forget handed-over files a full scan did not find. One that comes back (a share that
        showed an empty mount point for a while) is checked with `is_handed_over` again."""
        gone = [path for path in self._reported if path not in found]
        for path in gone:
            del self._reported[path]
        if gone:
            log.debug("watch.forgotten", inbox=self._root, files=len(gone))

    def _due(self, candidate: _Candidate) -> float:
        return candidate.since + self._quiet[candidate.seen]

    def _next_wakeup(self, next_scan: float) -> float:
        if not self._pending:
            return next_scan
        first = min(self._due(candidate) for candidate in self._pending.values())
        # During a backoff the settled files wait for the retry, not for their (past) quiet time.
        return min(next_scan, max(first, self._retry_at))

    def _settle_pass(self) -> None:
        now = time.monotonic()
        with self._hints_lock:
            hints, self._hints = self._hints, {}
        for path, seen in hints.items():
            st = self._lstat(path, seen)
            if st is not None:
                self._track(path, st, now, seen)
        if now >= self._retry_at:
            settled = self._settled(now)
            if settled:
                self._hand_over(settled)

    def _lstat(self, path: str, seen: Seen | None = None) -> os.stat_result | None:
        """The stat of a regular file, or None after dealing with anything else."""
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            self._pending.pop(path, None)
            # Forgotten at once, not at the next full scan: the same file dropped again (archived,
            # or deleted and copied back with its mtime) is then taken again.
            self._reported.pop(path, None)
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
            # subfolders it failed to watch (the inotify limit); a walk is cheap insurance. The files
            # of a folder that was moved in were moved with it.
            self._walk(path, Seen.RENAMED if seen is Seen.RENAMED else None)
        elif self._reported.get(path) != (_SKIPPED, st.st_mtime_ns):
            # At INFO, once (remembered like a handed-over file): someone dropped it and expects it read.
            self._reported[path] = (_SKIPPED, st.st_mtime_ns)
            reason = "a symbolic link: links are never followed" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            log.info("watch.skipped", path=path, reason=reason)
        return None

    def _track(self, path: str, st: os.stat_result, now: float, seen: Seen | None) -> None:
        if self._reported.get(path) == (st.st_size, st.st_mtime_ns):
            self._pending.pop(path, None)
            return
        known = self._pending.get(path)
        if known is not None and (known.size, known.mtime_ns) == (st.st_size, st.st_mtime_ns):
            # Events come in the order they happened: the latest one that says something wins (a
            # close after the last write makes it CLOSED, a write after a rename makes it OPEN).
            if seen is not None:
                known.seen = seen
            return
        if known is None and not self._inside(path):
            return
        # A change: the quiet period starts again, as long as the latest event says.
        if known is None:
            metrics.FILES_DETECTED.inc()
        self._pending[path] = _Candidate(st.st_size, st.st_mtime_ns, now, Seen.OPEN if seen is None else seen)

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
                self._track(path, st, now, None)
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
        except Exception as error:  # an outage, or a bug: either way the watcher must go on
            self._failures += 1
            delay = min(_RETRY_FIRST * 2 ** (self._failures - 1), _RETRY_MAX)
            self._retry_at = time.monotonic() + delay
            metrics.retried("watcher")
            if isinstance(error, TransientError):  # an outage: a warning, no traceback
                log.warning(
                    "watcher.retrying", inbox=self._root, files=len(settled), error=str(error), retry_in_s=delay
                )
            else:
                log.exception("watch.hand_over_failed", inbox=self._root, files=len(settled), retry_in_s=delay)
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
            self._reported[path] = (file.size, file.mtime_ns)
            self._reported.move_to_end(path)
            self._pending.pop(path, None)
        while len(self._reported) > self._remember:
            self._reported.popitem(last=False)
