"""The inbox watcher against the real filesystem and real watchdog observers (inotify and polling)."""

import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from worker.adapters.broker_errors import BrokerUnavailable
from worker.adapters.watch import OBSERVER_THREAD, SETTLE_THREAD, DroppedFile, Watcher, is_ignored

Logs = list[MutableMapping[str, Any]]
NOBODY = 65534

# watchdog's inotify thread warns when it races itself adding watches for folders created in quick
# succession (harmless, it keeps the newer one); `filterwarnings = error` would kill that thread.


class Recorder:
    """An `on_settled` callback that remembers every call; the first `fail` calls raise."""

    def __init__(self, fail: int = 0, block: threading.Event | None = None, error: Exception | None = None) -> None:
        self.calls: list[tuple[float, list[DroppedFile]]] = []
        self.fail = fail
        self.error = error or RuntimeError("a bug")
        self.block = block
        self.entered = threading.Event()

    def __call__(self, files: list[DroppedFile]) -> None:
        self.calls.append((time.monotonic(), list(files)))
        self.entered.set()
        if self.block is not None:
            self.block.wait(10)
        if len(self.calls) <= self.fail:
            raise self.error

    def files(self) -> list[DroppedFile]:
        return [file for _, files in self.calls[self.fail :] for file in files]

    def names(self, inbox: Path) -> list[str]:
        return sorted(file.path.relative_to(inbox).as_posix() for file in self.files())


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll until `condition()` is true; generous for a loaded machine, fast when it is not."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        time.sleep(0.01)


def events(logs: Logs, name: str) -> Logs:
    return [entry for entry in list(logs) if entry["event"] == name]


def wait_rescans(logs: Logs, count: int = 2) -> None:
    """Wait for `count` more full scans: whatever they would report has been reported by then."""
    start = len(events(logs, "watch.scanned"))
    wait_for(lambda: len(events(logs, "watch.scanned")) >= start + count)


def write(path: Path, data: bytes = b"report") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


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
def make_watcher(logs: Logs) -> Iterator[Callable[..., Watcher]]:
    """Build watchers that are stopped after the test (before the captured logs are released)."""
    made: list[Watcher] = []

    def make(inbox: Path, on_settled: Recorder, **kwargs: Any) -> Watcher:
        # Short periods keep the tests fast; test_watch_settle.py runs the defaults.
        kwargs.setdefault("quiet", 0.1)
        kwargs.setdefault("open_quiet", max(0.3, kwargs["quiet"]))
        watcher = Watcher(inbox, on_settled, **kwargs)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.stop()
    assert not events(logs, "watch.loop_failed")


def started(make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path, recorder: Recorder, **kw: Any) -> Watcher:
    """Start a watcher and wait for its initial scan, so later files can only arrive another way."""
    watcher = make_watcher(inbox, recorder, **kw)
    watcher.start()
    wait_for(lambda: events(logs, "watch.scanned"))
    return watcher


def test_files_present_before_start_are_reported_once(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    a = write(inbox / "a.txt", b"aaa")
    b = write(inbox / "2021" / "deep" / "b.html", b"<html></html>")
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, rescan_every=0.2)
    wait_for(lambda: len(recorder.files()) >= 2)
    wait_rescans(logs)
    expected = [DroppedFile(p, p.stat().st_size, p.stat().st_mtime_ns) for p in (b, a)]
    assert sorted(recorder.files(), key=lambda f: f.path) == sorted(expected, key=lambda f: f.path)
    assert all(file.path.is_absolute() for file in recorder.files())


def test_slow_writer_is_reported_once_when_complete(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, quiet=0.5, rescan_every=0.2)
    with (inbox / "slow.pdf").open("wb", buffering=0) as f:
        for _ in range(5):
            f.write(b"x" * 1000)
            time.sleep(0.1)
        finished = time.monotonic()
    wait_for(lambda: recorder.files())
    wait_rescans(logs)
    assert [file.size for file in recorder.files()] == [5000]
    assert recorder.calls[0][0] >= finished


def test_file_and_folder_moved_in_from_outside_are_reported(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write(outside / "moved.txt")
    write(outside / "batch" / "one.txt")
    write(outside / "batch" / "two" / "three.txt")
    recorder = Recorder()
    # No rescan during the test: only the move events can find these files.
    started(make_watcher, logs, inbox, recorder, rescan_every=60)
    (outside / "moved.txt").rename(inbox / "moved.txt")
    (outside / "batch").rename(inbox / "batch")
    wait_for(lambda: len(recorder.files()) >= 3)
    assert recorder.names(inbox) == ["batch/one.txt", "batch/two/three.txt", "moved.txt"]


def test_polling_observer_reports_new_files(make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path) -> None:
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, poll=0.2, rescan_every=60)
    write(inbox / "sub" / "polled.txt")
    wait_for(lambda: recorder.files())
    assert recorder.names(inbox) == ["sub/polled.txt"]
    assert [e["observer"] for e in events(logs, "watch.observer_started")] == ["PollingObserverVFS"]


def test_rescan_finds_files_whose_events_were_lost(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    recorder = Recorder()
    # A poller that never polls within the test stands for an observer that lost its events.
    started(make_watcher, logs, inbox, recorder, poll=60, rescan_every=0.2)
    write(inbox / "unseen.txt")
    wait_for(lambda: recorder.files())
    assert recorder.names(inbox) == ["unseen.txt"]


def test_scan_now_finds_files_without_events(make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path) -> None:
    recorder = Recorder()
    watcher = started(make_watcher, logs, inbox, recorder, poll=60, rescan_every=60)
    write(inbox / "unseen.txt")
    watcher.scan()
    wait_for(lambda: recorder.files())
    assert recorder.names(inbox) == ["unseen.txt"]


def test_same_file_rewritten_is_reported_again(make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path) -> None:
    path = write(inbox / "a.txt", b"v1")
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, rescan_every=0.2)
    wait_for(lambda: recorder.files())
    wait_rescans(logs)
    path.write_bytes(b"version 2")
    wait_for(lambda: len(recorder.files()) >= 2)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    wait_for(lambda: len(recorder.files()) >= 3)
    wait_rescans(logs)
    final = path.stat()
    assert [(f.size, f.mtime_ns) for f in recorder.files()][1:] == [
        (9, final.st_mtime_ns - 1_000_000_000),
        (9, final.st_mtime_ns),
    ]
    assert recorder.files()[0].size == 2


def test_files_handed_over_in_an_earlier_run_are_skipped(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    old = write(inbox / "old.txt", b"old")
    write(inbox / "new.txt", b"new")
    known = DroppedFile(old, old.stat().st_size, old.stat().st_mtime_ns)
    asked: list[DroppedFile] = []

    def is_handed_over(file: DroppedFile) -> bool:
        asked.append(file)
        return file == known

    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, rescan_every=0.2, is_handed_over=is_handed_over)
    wait_for(lambda: recorder.files())
    wait_rescans(logs)
    assert recorder.names(inbox) == ["new.txt"]
    assert asked.count(known) == 1
    old.write_bytes(b"old, corrected")
    wait_for(lambda: len(recorder.files()) >= 2)
    assert recorder.names(inbox) == ["new.txt", "old.txt"]


def test_failed_hand_over_is_retried_after_a_backoff(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    write(inbox / "a.txt")
    recorder = Recorder(fail=1)
    started(make_watcher, logs, inbox, recorder, rescan_every=0.2)
    wait_for(lambda: len(recorder.calls) >= 2)
    wait_rescans(logs)
    (first, failed), (second, retried) = recorder.calls
    assert failed == retried
    assert second - first >= 0.9
    [error] = events(logs, "watch.hand_over_failed")
    assert error["log_level"] == "error"
    assert error["exc_info"] is True


def test_an_outage_during_a_hand_over_is_a_warning_without_a_traceback(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    write(inbox / "a.txt")
    recorder = Recorder(fail=1, error=BrokerUnavailable("connection refused"))
    started(make_watcher, logs, inbox, recorder, rescan_every=0.2)
    wait_for(lambda: len(recorder.calls) >= 2)
    [warning] = events(logs, "watcher.retrying")
    assert warning["log_level"] == "warning" and "exc_info" not in warning
    assert warning["error"] == "connection refused" and warning["retry_in_s"] > 0
    assert events(logs, "watch.hand_over_failed") == []


def test_ignored_names_and_directories_are_not_reported(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    ignored = [
        ".hidden",
        "~$report.docx",
        "a.tmp",
        "B.TMP",
        "c.part",
        "d.crdownload",
        ".e.swp",
        "f.swp",
        ".git/objects/x.txt",
        "cache.tmp/inner.txt",
        "sub/.cache/y.txt",
    ]
    for name in ignored:
        write(inbox / "early" / name)
    (inbox / "empty-folder").mkdir()
    write(inbox / "early" / "kept.txt")
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, rescan_every=0.2)
    for name in ignored:
        write(inbox / "late" / name)
    (inbox / "late" / "empty-folder").mkdir()
    write(inbox / "late" / "kept.txt")
    wait_for(lambda: len(recorder.files()) >= 2)
    wait_rescans(logs)
    assert recorder.names(inbox) == ["early/kept.txt", "late/kept.txt"]


@pytest.mark.parametrize(
    ("relative", "ignored"),
    [("a.txt", False), ("x/y/report.PDF", False), ("x/.y/a.txt", True), ("~$a.docx", True), ("a.Part", True)],
)
def test_is_ignored(relative: str, ignored: bool) -> None:
    assert is_ignored(relative) is ignored


def test_empty_file_is_reported(make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path) -> None:
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, rescan_every=0.2)
    (inbox / "empty.txt").touch()
    wait_for(lambda: recorder.files())
    wait_rescans(logs)
    assert [(f.path.name, f.size) for f in recorder.files()] == [("empty.txt", 0)]


@pytest.mark.parametrize("poll", [None, 0.2])
def test_symlinks_are_neither_followed_nor_reported(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path, tmp_path: Path, poll: float | None
) -> None:
    outside = tmp_path / "outside"
    secret = write(outside / "secret.txt")
    write(outside / "dir" / "file.txt")
    write(inbox / "sub" / "inner.txt")
    real = write(inbox / "real.txt")
    (inbox / "link-out.txt").symlink_to(secret)
    (inbox / "link-dir-out").symlink_to(outside / "dir")
    (inbox / "link-in.txt").symlink_to(real)
    (inbox / "link-dir-in").symlink_to(inbox / "sub")
    (inbox / "dangling.txt").symlink_to(tmp_path / "nowhere")
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, poll=poll, rescan_every=0.2)
    write(outside / "dir" / "late.txt")
    (inbox / "late-link.txt").symlink_to(secret)
    write(inbox / "late.txt")
    wait_for(lambda: len(recorder.files()) >= 3)
    wait_rescans(logs)
    assert recorder.names(inbox) == ["late.txt", "real.txt", "sub/inner.txt"]
    wait_rescans(logs, 3)
    skipped = [(Path(e["path"]).name, e["reason"]) for e in events(logs, "watch.skipped")]
    links = ["dangling.txt", "late-link.txt", "link-dir-in", "link-dir-out", "link-in.txt", "link-out.txt"]
    assert sorted(skipped) == [(name, "a symbolic link: links are never followed") for name in links]


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Bytes, mtime and mode of everything below `root` (directories included)."""
    result: dict[str, tuple[bytes | None, int, int]] = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
        result[path.relative_to(root).as_posix()] = (data, st.st_mtime_ns, st.st_mode)
    return result


def test_inbox_is_left_untouched(make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path) -> None:
    write(inbox / "a.txt", b"a" * 100)
    write(inbox / "2022" / "b.html", b"<p>b</p>")
    (inbox / "empty.txt").touch()
    recorder = Recorder()
    watcher = started(make_watcher, logs, inbox, recorder, rescan_every=0.2)
    write(inbox / "2022" / "late.md", b"# late")
    before = snapshot(inbox)
    wait_for(lambda: len(recorder.files()) >= 4)
    wait_rescans(logs)
    watcher.stop()
    assert snapshot(inbox) == before


def test_file_vanishing_before_it_settles_is_dropped(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, quiet=0.5, rescan_every=60)
    gone = write(inbox / "gone.txt")
    time.sleep(0.05)
    gone.unlink()
    write(inbox / "kept.txt")
    wait_for(lambda: recorder.files())
    wait_for(lambda: [e for e in events(logs, "watch.vanished") if e["path"] == str(gone)])
    assert recorder.names(inbox) == ["kept.txt"]


@contextmanager
def unprivileged() -> Iterator[None]:
    """Run as `nobody` when root (all threads: glibc applies seteuid process-wide), so modes bite."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def shared_inbox(tmp_path: Path) -> Iterator[Path]:
    """An inbox that `nobody` may write to; as root outside tmp_path, whose parents are private to root."""
    if os.geteuid() != 0:
        yield tmp_path / "inbox"
        return
    base = Path(tempfile.mkdtemp(prefix="govreport-watch-"))
    base.chmod(0o755)
    try:
        yield base / "inbox"
    finally:
        shutil.rmtree(base)


def test_stat_permission_error_is_logged_and_skipped(
    make_watcher: Callable[..., Watcher], logs: Logs, shared_inbox: Path
) -> None:
    locked = shared_inbox / "locked"
    locked.mkdir(parents=True)
    if os.geteuid() == 0:
        for path in (shared_inbox, locked):
            os.chown(path, NOBODY, -1)
    recorder = Recorder()
    started(make_watcher, logs, shared_inbox, recorder, quiet=0.3, rescan_every=0.2)
    secret = locked / "secret.txt"
    try:
        with unprivileged():
            write(secret)
            locked.chmod(0)
            write(shared_inbox / "ok.txt")
            wait_for(lambda: recorder.files())
            wait_for(lambda: [e for e in events(logs, "watch.stat_failed") if e["path"] == str(secret)])
            wait_rescans(logs)
            locked.chmod(0o755)
    finally:
        locked.chmod(0o755)
    assert recorder.names(shared_inbox) == ["ok.txt"]
    assert events(logs, "watch.scan_failed")


def watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in {SETTLE_THREAD, OBSERVER_THREAD}]


@pytest.mark.parametrize("poll", [None, 0.2])
def test_stop_is_prompt_and_idempotent(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path, poll: float | None
) -> None:
    watcher = started(make_watcher, logs, inbox, Recorder(), poll=poll)
    assert {t.name for t in watcher_threads()} == {SETTLE_THREAD, OBSERVER_THREAD}
    begin = time.monotonic()
    watcher.stop()
    assert time.monotonic() - begin < 1.0
    assert watcher_threads() == []
    watcher.stop()
    assert len(events(logs, "watch.stopped")) == 2


def test_stop_returns_within_timeout_while_a_callback_hangs(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    write(inbox / "a.txt")
    release = threading.Event()
    recorder = Recorder(block=release)
    watcher = started(make_watcher, logs, inbox, recorder)
    assert recorder.entered.wait(5)
    begin = time.monotonic()
    watcher.stop(timeout=0.3)
    assert time.monotonic() - begin < 1.0
    [timeout] = events(logs, "watch.stop_timeout")
    assert SETTLE_THREAD in timeout["threads"]
    release.set()
    wait_for(lambda: watcher_threads() == [])


def test_missing_inbox_falls_back_to_scanning(make_watcher: Callable[..., Watcher], logs: Logs, tmp_path: Path) -> None:
    inbox = tmp_path / "not-mounted-yet"
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, rescan_every=0.2)
    assert events(logs, "watch.observer_failed")
    write(inbox / "a.txt")
    wait_for(lambda: recorder.files())
    assert recorder.names(inbox) == ["a.txt"]
    wait_for(lambda: events(logs, "watch.observer_started"))


def test_batches_hold_at_most_batch_max_files(make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path) -> None:
    for i in range(250):
        write(inbox / f"{i:03}.txt")
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, batch_max=100)
    wait_for(lambda: len(recorder.files()) >= 250)
    assert [len(files) for _, files in recorder.calls] == [100, 100, 50]
    assert recorder.names(inbox) == [f"{i:03}.txt" for i in range(250)]


def test_relative_inbox_is_reported_with_absolute_paths(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(inbox / "a.txt")
    monkeypatch.chdir(inbox.parent)
    recorder = Recorder()
    started(make_watcher, logs, Path("inbox"), recorder)
    wait_for(lambda: recorder.files())
    assert [f.path for f in recorder.files()] == [inbox / "a.txt"]


def test_start_twice_and_bad_arguments_are_refused(make_watcher: Callable[..., Watcher], inbox: Path) -> None:
    watcher = make_watcher(inbox, Recorder())
    watcher.start()
    with pytest.raises(RuntimeError):
        watcher.start()
    with pytest.raises(ValueError, match="batch_max"):
        Watcher(inbox, Recorder(), batch_max=0)


def test_file_moved_out_and_back_unchanged_is_forgotten_then_found_handed_over(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path, tmp_path: Path
) -> None:
    path = write(inbox / "a.txt")
    recorder = Recorder()
    asked: list[DroppedFile] = []

    def is_handed_over(file: DroppedFile) -> bool:  # the handovers table, as the intake keeps it
        asked.append(file)
        return file in recorder.files()

    watcher = started(make_watcher, logs, inbox, recorder, rescan_every=0.2, is_handed_over=is_handed_over)
    wait_for(lambda: recorder.files())
    assert watcher.remembered == 1
    # What an unmounted share looks like for a while: the files are gone, then back unchanged.
    path.rename(tmp_path / "a.txt")
    wait_for(lambda: [e for e in events(logs, "watch.vanished") if e["path"] == str(path)])
    wait_rescans(logs)
    assert watcher.remembered == 0  # a full scan did not find it: forgotten
    (tmp_path / "a.txt").rename(path)
    wait_for(lambda: len(asked) >= 2)
    wait_rescans(logs)
    assert recorder.names(inbox) == ["a.txt"]
    assert asked[-1] == recorder.files()[0] and watcher.remembered == 1


def test_memory_of_handed_over_files_is_bounded(make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path) -> None:
    for i in range(5):
        write(inbox / f"{i}.txt")
    recorder = Recorder()
    watcher = started(make_watcher, logs, inbox, recorder, rescan_every=0.2, remember=3)
    wait_for(lambda: len(recorder.files()) >= 5)
    assert watcher.remembered == 3
    # The forgotten ones are found again by every scan and handed over again: without a handovers
    # table behind it, a bound that is too small costs work, never a lost file.
    wait_for(lambda: len(recorder.files()) > 5)
    assert set(recorder.names(inbox)) == {f"{i}.txt" for i in range(5)}


def test_a_writer_pausing_longer_than_quiet_is_waited_for_until_it_closes(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, quiet=0.05, open_quiet=5.0, rescan_every=60.0)
    data = b"x" * 4000
    with (inbox / "slow.txt").open("wb") as handle:
        handle.write(data[:1000])
        handle.flush()
        time.sleep(0.5)  # ten times the quiet period, the file still open
        assert recorder.calls == []
        handle.write(data[1000:])
    closed_at = time.monotonic()
    wait_for(lambda: recorder.calls)
    assert [f.size for f in recorder.files()] == [len(data)]
    assert recorder.calls[0][0] - closed_at < 1.0  # taken at its close, not after open_quiet


def test_a_closed_file_is_taken_after_the_short_quiet(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path
) -> None:
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, quiet=0.05, open_quiet=5.0, rescan_every=60.0)
    write(inbox / "r.txt")
    written = time.monotonic()
    wait_for(lambda: recorder.calls)
    assert recorder.calls[0][0] - written < 1.0


def test_a_file_moved_in_from_outside_is_taken_without_waiting_for_open_quiet(
    make_watcher: Callable[..., Watcher], logs: Logs, inbox: Path, tmp_path: Path
) -> None:
    recorder = Recorder()
    started(make_watcher, logs, inbox, recorder, quiet=3.0, open_quiet=5.0, rescan_every=60.0)
    outside = write(tmp_path / "outside.txt")
    os.rename(outside, inbox / "moved.txt")
    moved = time.monotonic()
    wait_for(lambda: recorder.calls)
    # A rename is atomic: the file was complete when it appeared (inotify reports IN_MOVED_TO).
    assert recorder.calls[0][0] - moved < 1.0
    assert recorder.names(inbox) == ["moved.txt"]
