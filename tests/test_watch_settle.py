"""The settle rule with the default periods: a file is taken once, complete, however its writer
writes it (appends in several opens and closes, an NFS server's writes, a rename into place, a move
from outside), on the real filesystem with the real observers (inotify and polling)."""

import os
import random
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from worker.adapters.watch import OPEN_QUIET, QUIET, RENAMED_QUIET, DroppedFile, Watcher
from worker.config import Settings

pytestmark = pytest.mark.slow
Logs = list[MutableMapping[str, Any]]
CHUNK = b"0123456789abcdef" * 64  # 1 KiB


class Taken:
    """An `on_settled` callback that reads each file as the intake would, when it is handed over."""

    def __init__(self) -> None:
        self.files: list[tuple[float, DroppedFile, bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, files: list[DroppedFile]) -> None:
        now = time.monotonic()
        with self.lock:
            self.files.extend((now, file, file.path.read_bytes()) for file in files)

    def names(self, inbox: Path) -> list[str]:
        return sorted(file.path.relative_to(inbox).as_posix() for _, file, _ in self.files)

    def only(self) -> tuple[float, DroppedFile, bytes]:
        assert len(self.files) == 1, [f.path.name for _, f, _ in self.files]
        return self.files[0]


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        time.sleep(0.02)


@pytest.fixture
def logs() -> Iterator[Logs]:
    with capture_logs() as captured:
        yield captured


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def watch(logs: Logs, inbox: Path) -> Iterator[Callable[..., Taken]]:
    """Start a watcher with the default periods (and any argument given), stopped after the test."""
    made: list[Watcher] = []

    def start(**kwargs: Any) -> Taken:
        taken = Taken()
        kwargs.setdefault("rescan_every", 60.0)  # events only, unless a test asks for scans
        watcher = Watcher(inbox, taken, **kwargs)
        made.append(watcher)
        watcher.start()
        wait_for(lambda: [e for e in list(logs) if e["event"] == "watch.scanned"])
        return taken

    yield start
    for watcher in made:
        watcher.stop()
    assert not [e for e in list(logs) if e["event"] == "watch.loop_failed"]


def append_in_closes(path: Path, pauses: list[float]) -> bytes:
    """Append a chunk, close, pause; the way `>>` in a script writes (one open per write)."""
    written = b""
    for i, pause in enumerate([*pauses, 0.0]):
        data = CHUNK.replace(b"0", str(i % 10).encode())
        with path.open("ab") as handle:
            handle.write(data)
        written += data
        time.sleep(pause)
    return written


def settle_after_last_write(taken: Taken, extra: float = 1.0) -> None:
    """Wait for a hand-over, then long enough that a second one (a split file) would have come."""
    wait_for(lambda: taken.files)
    time.sleep(OPEN_QUIET + extra)


def test_the_watcher_defaults_are_the_settings_defaults() -> None:
    fields = Settings.model_fields
    assert (fields["quiet"].default, fields["open_quiet"].default) == (QUIET, OPEN_QUIET)
    assert QUIET > 1.0  # longer than the longest pause between closes a writer is allowed
    assert OPEN_QUIET >= QUIET and RENAMED_QUIET < QUIET


def test_ten_appends_half_a_second_apart_are_one_complete_file(watch: Callable[..., Taken], inbox: Path) -> None:
    taken = watch()
    written = append_in_closes(inbox / "x.txt", [0.5] * 9)
    finished = time.monotonic()
    settle_after_last_write(taken)
    at, file, data = taken.only()
    assert data == written and file.size == len(written) == 10 * len(CHUNK)
    assert QUIET <= at - finished < QUIET + 1.0  # taken one quiet period after the last close


def test_appends_with_pauses_up_to_a_second_are_one_complete_file(watch: Callable[..., Taken], inbox: Path) -> None:
    taken = watch()
    written = append_in_closes(inbox / "y.txt", [1.0, 0.2, 1.0, 0.7, 1.0, 0.9])
    settle_after_last_write(taken)
    assert taken.only()[2] == written


def test_a_copy_onto_an_nfs_export_is_one_complete_file(watch: Callable[..., Taken], inbox: Path) -> None:
    """nfsd (NFSv3) opens the file, writes one WRITE's data at its offset and closes it again, for
    every WRITE it receives; a slow client sends them with pauses, sometimes out of order."""
    taken = watch()
    rng = random.Random(7)
    chunks = [bytes([65 + i]) * 32768 for i in range(12)]
    offsets = [i * 32768 for i in range(len(chunks))]
    order = list(range(len(chunks)))
    order[3], order[4] = order[4], order[3]  # a WRITE overtaken by the next one
    path = inbox / "scan.pdf"
    for i in order:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, chunks[i], offsets[i])
        finally:
            os.close(fd)
        time.sleep(rng.uniform(0.0, 1.0))
    settle_after_last_write(taken)
    assert taken.only()[2] == b"".join(chunks)


def test_a_writer_holding_the_file_open_with_pauses_is_waited_for(watch: Callable[..., Taken], inbox: Path) -> None:
    """nfsd's file cache (Linux 5.4 and later) keeps the file open between WRITEs and closes it later."""
    taken = watch()
    written = b""
    with (inbox / "held.pdf").open("wb", buffering=0) as handle:
        for pause in [1.0, 0.5, 1.0, 1.0, 0.3]:
            handle.write(CHUNK)
            written += CHUNK
            time.sleep(pause)
        assert taken.files == []
        time.sleep(1.5)  # nfsd closes idle files after a while
    settle_after_last_write(taken)
    assert taken.only()[2] == written


@pytest.mark.parametrize("where", ["inbox", "outside"])
def test_a_rename_into_place_is_taken_at_once(
    watch: Callable[..., Taken], inbox: Path, tmp_path: Path, where: str
) -> None:
    """Written as a hidden temporary name in the inbox (or anywhere outside it), then renamed: the
    rename is atomic, so the file is complete when it appears and no quiet period is needed."""
    taken = watch()
    staging = inbox if where == "inbox" else tmp_path / "outside"
    staging.mkdir(exist_ok=True)
    temporary = staging / ".report.pdf.tmp"
    temporary.write_bytes(CHUNK * 50)
    os.rename(temporary, inbox / "report.pdf")
    renamed = time.monotonic()
    wait_for(lambda: taken.files)
    at, _, data = taken.only()
    assert at - renamed < QUIET / 2
    assert data == CHUNK * 50
    time.sleep(QUIET + 0.5)
    assert taken.names(inbox) == ["report.pdf"]


def test_a_folder_moved_in_from_outside_is_taken_at_once(
    watch: Callable[..., Taken], inbox: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside" / "2024"
    (outside / "deep").mkdir(parents=True)
    for name in ("a.pdf", "deep/b.docx"):
        (outside / name).write_bytes(CHUNK)
    taken = watch()
    os.rename(outside, inbox / "2024")
    moved = time.monotonic()
    wait_for(lambda: len(taken.files) >= 2)
    assert max(at for at, _, _ in taken.files) - moved < QUIET / 2
    time.sleep(QUIET + 0.5)
    assert taken.names(inbox) == ["2024/a.pdf", "2024/deep/b.docx"]


def test_polling_takes_appends_with_pauses_once_complete(watch: Callable[..., Taken], inbox: Path) -> None:
    """Polling sees no closes: every file waits `open_quiet`, longer than the pauses."""
    taken = watch(poll=0.5)
    written = append_in_closes(inbox / "polled.txt", [0.5, 1.0, 0.5, 1.0, 0.5])
    finished = time.monotonic()
    settle_after_last_write(taken)
    at, _, data = taken.only()
    assert data == written
    assert at - finished >= OPEN_QUIET - 0.5  # measured from the last change the poller or settle saw


def test_polling_takes_a_rename_it_saw_at_once(watch: Callable[..., Taken], inbox: Path) -> None:
    """The poller reports a file whose inode it knew under another name as moved: complete."""
    (inbox / ".upload.tmp").write_bytes(CHUNK)
    taken = watch(poll=0.2)
    time.sleep(0.6)  # polled at least once with the temporary name
    os.rename(inbox / ".upload.tmp", inbox / "upload.pdf")
    renamed = time.monotonic()
    wait_for(lambda: taken.files)
    assert taken.only()[0] - renamed < QUIET / 2
