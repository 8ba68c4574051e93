"""The inbox tidies itself, if asked (GOVREPORT_AFTER=move|delete): a dropped file is moved to an
archive, or deleted, once its outcome is stored, and never before.

When: a file's hand-over (its `handovers` row) is archived once a report of its content is stored
(the `reports` row a consumer commits, in this process or any other, is the durable outcome; the
message itself waits in a durable queue, so a content stored before only gains its sighting there).
The archiver wakes when the watcher hands files over, then polls the database every `poll` seconds
while any of this inbox's hand-overs still await their outcome, and waits without a timer otherwise.
Its pass at start-up finishes what a stopped or killed process left: a file whose report was stored
before the kill is archived then, and nothing is published again (its hand-over is still recorded).

What: the file must still be at its path with the size and mtime it was handed over with; one that
is gone or was replaced is left alone (a replacement gets its own hand-over). `move` puts it at
`<archive>/done/YYYY-MM-DD/<its path in the inbox>` (valid and invalid) or under `failed/` (failed),
dated by the local day of the move; `delete` unlinks it. Then the hand-over row is deleted: the file
is no longer in the inbox, so the row has nothing left to protect, and the same file dropped again is
handed over and archived again (its content is still stored once: only a sighting is added). A kill
between the move and that deletion leaves a row whose file is gone, which the next pass deletes.

Never overwriting: a clash gets " (1)", " (2)"... before the extension. The rename is Linux's
renameat2(RENAME_NOREPLACE); where a file system lacks it (NFS, CIFS) or off Linux, the name is first
reserved by creating it exclusively (O_EXCL), then the file is renamed onto that empty file of ours.
Across file systems the file is copied to a hidden temporary name beside its destination, fsynced,
renamed into place the same way, and only then unlinked from the inbox.

A file that cannot be archived (permissions, a full disk) is logged once as a warning and left; it is
tried again, quietly, every `retry_every` seconds.

The archive is `GOVREPORT_ARCHIVE`, by default `.archive` inside the inbox: the one place sure to be
on the inbox's file system (a rename, not a copy) and writable wherever the inbox is (moving a file
out of the inbox needs that anyway), also when the inbox is a mounted share whose parent is not.
The watcher ignores hidden names at any depth, so it never reads its own archive. An archive inside
the inbox under a name the watcher would read is refused at start.
"""

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
import structlog

from worker.adapters.db import DatabaseUnavailable
from worker.adapters.store import HANDOVERS, REPORTS, Store
from worker.adapters.watch import DroppedFile, is_ignored
from worker.core.result import Status
from worker.errors import ConfigurationError
from worker.files import open_no_follow

log = structlog.get_logger("worker.archive")

Mode = Literal["move", "delete"]
ARCHIVE_NAME = ".archive"
THREAD = "govreport-archive"
POLL = 1.0
RETRY_EVERY = 600.0
# After a database outage or a bug in a pass.
_PASS_RETRY = 5.0
# Hand-overs read per query: a backlog is archived page by page.
_PAGE = 500
_CHUNK = 1 << 20
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# What renameat2 says when the file system (or the kernel) cannot honour RENAME_NOREPLACE.
_NO_NOREPLACE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


class Replaced(Exception):
    """Raised by `move` when the file at the source is no longer the one that was checked."""


def archive_folder(inbox: Path, archive: Path | None) -> Path:
    """Where archived files go: `archive`, else `.archive` inside the inbox. Raises ConfigurationError
    when files would be archived where the watcher reads them (it would ingest its own archive)."""
    inbox = inbox.resolve()
    folder = inbox / ARCHIVE_NAME if archive is None else archive.resolve()
    for kept in (folder / "done", folder / "failed"):
        if inbox.is_relative_to(kept):
            raise ConfigurationError(f"GOVREPORT_ARCHIVE: the inbox {inbox} is inside the archive's {kept}")
        if kept.is_relative_to(inbox) and not is_ignored(str(kept.relative_to(inbox))):
            raise ConfigurationError(
                f"GOVREPORT_ARCHIVE: {folder} is inside the inbox under a name the watcher reads, so it "
                f"would ingest its own archive; give it a hidden name (like {inbox / ARCHIVE_NAME}) or put it "
                "outside the inbox"
            )
    return folder


# --- never overwriting ---------------------------------------------------------------------------


def _load_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not Linux, or a libc older than glibc 2.28
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    renameat2: Callable[[int, bytes, int, bytes, int], int] = function
    return renameat2


_RENAMEAT2 = _load_renameat2()


def rename_no_clobber(source: Path, target: Path) -> None:
    """Rename a file, never replacing what is at `target`. Raises FileExistsError when `target`
    exists, OSError with EXDEV across file systems, and any other OSError of the rename."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in _NO_NOREPLACE:
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    _rename_onto_reserved(source, target)


def _rename_onto_reserved(source: Path, target: Path) -> None:
    # Created exclusively, the name is ours: the rename then replaces only our own empty file.
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    try:
        os.rename(source, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise


def place(source: Path, target: Path) -> Path:
    """Rename a file to `target`, or to the first free `name (n).ext` beside it; where it went.
    Raises OSError as `rename_no_clobber` does, except for a clash."""
    number = 0
    while True:
        candidate = target if number == 0 else target.with_name(f"{target.stem} ({number}){target.suffix}")
        try:
            rename_no_clobber(source, candidate)
        except FileExistsError:
            number += 1
            continue
        return candidate


def _same_file(found: os.stat_result, expected: os.stat_result) -> bool:
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns) == (
        expected.st_dev,
        expected.st_ino,
        expected.st_size,
        expected.st_mtime_ns,
    )


def move(source: Path, target: Path, expected: os.stat_result) -> Path:
    """Move a file to `target` (or a free name beside it, see `place`), never overwriting; where it
    went. `expected` is the file's lstat as checked: a file changed or replaced since is put back (a
    rename) or left (a copy across file systems) and Replaced is raised. Raises OSError."""
    try:
        placed = place(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        return _copy_across(source, target, expected)
    if not _same_file(os.lstat(placed), expected):
        # A writer got in between the check and the rename: its file goes back where it was.
        try:
            rename_no_clobber(placed, source)
        except FileExistsError:
            log.warning("file.archive_raced", path=str(source), kept=str(placed))
        raise Replaced(str(source))
    return placed


def _copy_across(source: Path, target: Path, expected: os.stat_result) -> Path:
    """Copy to the archive's file system, fsync, place without clobbering, then unlink the source."""
    with open_no_follow(source) as reader:
        copied = os.fstat(reader.fileno())
        if not _same_file(copied, expected):
            raise Replaced(str(source))
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        try:
            with partial.open("xb") as writer:
                shutil.copyfileobj(reader, writer, _CHUNK)
                writer.flush()
                os.fchmod(writer.fileno(), stat.S_IMODE(copied.st_mode))
                os.fsync(writer.fileno())
            os.utime(partial, ns=(copied.st_atime_ns, copied.st_mtime_ns))
            placed = place(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
    _fsync_folder(placed.parent)
    # The copy is durable; the original goes only if it is still the file that was copied.
    if not _same_file(os.lstat(source), copied):
        os.unlink(placed)
        raise Replaced(str(source))
    os.unlink(source)
    return placed


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- the hand-overs waiting for their outcome ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """A handed-over file whose content's outcome is stored."""

    id: int
    path: Path
    size: int
    mtime_ns: int
    sha256: str
    status: str


class _Handovers:
    """This inbox's rows of the handovers table, joined with the stored outcomes."""

    def __init__(self, store: Store, inbox: Path) -> None:
        self.store = store
        prefix = os.path.join(str(inbox), "")
        # Other inboxes (other watchers on the same database) have rows there too. substr, not LIKE:
        # LIKE has wildcards to escape and is case-insensitive on SQLite.
        self.mine = sa.func.substr(HANDOVERS.c.path, 1, len(prefix)) == prefix

    def ready(self, after: int) -> list[Ready]:
        """A page of hand-overs with a stored outcome, by id after `after`."""
        query = (
            sa.select(
                HANDOVERS.c.id,
                HANDOVERS.c.path,
                HANDOVERS.c.size,
                HANDOVERS.c.mtime_ns,
                HANDOVERS.c.sha256,
                REPORTS.c.status,
            )
            .join(REPORTS, REPORTS.c.sha256 == HANDOVERS.c.sha256)
            .where(HANDOVERS.c.id > after, self.mine)
            .order_by(HANDOVERS.c.id)
            .limit(_PAGE)
        )
        with self.store.begin() as connection:
            return [
                Ready(r.id, Path(r.path), r.size, r.mtime_ns, r.sha256, r.status) for r in connection.execute(query)
            ]

    def waiting(self) -> bool:
        """Whether any hand-over still awaits its outcome."""
        query = (
            sa.select(HANDOVERS.c.id)
            .outerjoin(REPORTS, REPORTS.c.sha256 == HANDOVERS.c.sha256)
            .where(REPORTS.c.id.is_(None), self.mine)
            .limit(1)
        )
        with self.store.begin() as connection:
            return connection.execute(query).first() is not None

    def forget(self, ids: list[int]) -> None:
        """Delete hand-overs whose file is archived, gone or replaced."""
        if ids:
            with self.store.begin() as connection:
                connection.execute(HANDOVERS.delete().where(HANDOVERS.c.id.in_(ids)))


# --- the archiver --------------------------------------------------------------------------------


class Archiver:
    """Moves (or deletes) one inbox's handed-over files once their outcome is stored."""

    def __init__(
        self,
        store: Store,
        inbox: Path,
        mode: Mode,
        *,
        stop: threading.Event,
        archive: Path | None = None,
        poll: float = POLL,
        retry_every: float = RETRY_EVERY,
    ) -> None:
        if poll <= 0 or retry_every <= 0:
            raise ValueError("poll and retry_every must be > 0")
        # Spelt as the watcher spells it (the handovers' paths start with it): absolute, resolved.
        self.inbox = inbox.resolve()
        self.mode = mode
        self.folder = archive_folder(self.inbox, archive) if mode == "move" else None
        self.stop = stop
        self.poll = poll
        self.retry_every = retry_every
        self.thread: threading.Thread | None = None
        self._handovers = _Handovers(store, self.inbox)
        self._wake = threading.Event()
        # Hand-over id -> when to try a file that could not be archived again (time.monotonic).
        self._unmovable: dict[int, float] = {}

    def wake(self) -> None:
        """Look at the hand-overs now (the watcher handed files over, or the process is stopping)."""
        self._wake.set()

    def waking(self, hand_over: Callable[[list[DroppedFile]], None]) -> Callable[[list[DroppedFile]], None]:
        """The watcher's callback, waking the archiver after each batch it handed over."""

        def handed_over(files: list[DroppedFile]) -> None:
            hand_over(files)
            self.wake()

        return handed_over

    def run_once(self) -> bool:
        """Archive every file whose outcome is stored; whether files still await their outcome.
        Raises DatabaseUnavailable."""
        after, archived = 0, 0
        seen: set[int] = set()
        while not self.stop.is_set():
            page = self._handovers.ready(after)
            finished = [row.id for row in page if self._settle(row)]
            self._handovers.forget(finished)
            seen.update(row.id for row in page)
            archived += len(finished)
            if len(page) < _PAGE:
                # Rows gone (pruned, or archived by a previous process) are not remembered any more.
                self._unmovable = {key: at for key, at in self._unmovable.items() if key in seen}
                break
            after = page[-1].id
        waiting = self._handovers.waiting()
        log.debug("archive.pass", finished=archived, unmovable=len(self._unmovable), waiting=waiting)
        return waiting

    def run(self) -> None:
        """Run passes until `stop` is set: after a hand-over, every `poll` seconds while files await
        their outcome, when an unmovable file is due again; otherwise it only waits."""
        log.info("archive.started", inbox=str(self.inbox), mode=self.mode, archive=self.folder and str(self.folder))
        while not self.stop.is_set():
            delay: float | None
            try:
                delay = self.poll if self.run_once() else self._next_retry()
            except DatabaseUnavailable as error:
                log.warning("archive.unavailable", error=str(error), retry_in=_PASS_RETRY)
                delay = _PASS_RETRY
            except Exception:  # a bug must not end the thread: it is logged, and the pass tried again
                log.exception("archive.failed", retry_in=_PASS_RETRY)
                delay = _PASS_RETRY
            self._wake.wait(delay)
            self._wake.clear()

    def start(self) -> threading.Thread:
        """Run in a daemon thread of its own (joined by the caller after setting `stop` and `wake`)."""
        if self.thread is not None:
            raise RuntimeError("an Archiver can be started only once")
        self.thread = threading.Thread(target=self.run, name=THREAD, daemon=True)
        self.thread.start()
        return self.thread

    def _next_retry(self) -> float | None:
        if not self._unmovable:
            return None
        return max(0.0, min(self._unmovable.values()) - time.monotonic())

    def _settle(self, row: Ready) -> bool:
        """Archive one file if it is still the one handed over; whether its hand-over is done with."""
        if self._unmovable.get(row.id, 0.0) > time.monotonic():
            return False
        try:
            found = os.lstat(row.path)
            if not stat.S_ISREG(found.st_mode) or (found.st_size, found.st_mtime_ns) != (row.size, row.mtime_ns):
                raise Replaced(str(row.path))
            self._archive(row, found)
        except Replaced:
            log.info("file.archive_skipped", sha256=row.sha256, path=str(row.path), reason="replaced")
        except FileNotFoundError:
            if os.path.lexists(row.path):  # the destination vanished meanwhile, not the file
                return self._cannot(row, "a folder of the archive vanished while moving")
            log.debug("file.archive_skipped", sha256=row.sha256, path=str(row.path), reason="gone")
        except OSError as error:
            return self._cannot(row, str(error))
        self._unmovable.pop(row.id, None)
        return True

    def _archive(self, row: Ready, found: os.stat_result) -> None:
        if self.folder is None:
            os.unlink(row.path)
            log.info("file.deleted", sha256=row.sha256, filename=row.path.name, status=row.status, path=str(row.path))
            return
        kept = "failed" if row.status == Status.FAILED.value else "done"
        target = self.folder / kept / date.today().isoformat() / row.path.relative_to(self.inbox)
        target.parent.mkdir(parents=True, exist_ok=True)
        placed = move(row.path, target, found)
        log.info(
            "file.archived",
            sha256=row.sha256,
            filename=row.path.name,
            status=row.status,
            **{"from": str(row.path), "to": str(placed)},
        )

    def _cannot(self, row: Ready, error: str) -> bool:
        """Leave a file that cannot be archived: one warning, then quiet tries now and then."""
        if row.id not in self._unmovable:
            log.warning(
                "file.archive_failed",
                sha256=row.sha256,
                path=str(row.path),
                error=error,
                then="left in the inbox",
                retry_in=self.retry_every,
            )
        else:
            log.debug("file.archive_failed", sha256=row.sha256, path=str(row.path), error=error)
        self._unmovable[row.id] = time.monotonic() + self.retry_every
        return False
