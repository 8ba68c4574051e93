"""GOVREPORT_AFTER=keep|move|delete: a dropped file leaves the inbox once its outcome is stored, and
never before. The archiver's rules on the real databases (SQLite and PostgreSQL), its never-clobbering
moves on real file systems, and the whole pipeline on the real RabbitMQ, a SIGKILL included."""

import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator, MutableMapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from watchdog.utils.dirsnapshot import DirectorySnapshot

from tests.support.databases import DIALECTS, empty_database
from tests.support.in_process import Pipeline, quick_settings
from tests.support.pipeline_kit import EventSink, delete_namespace, new_namespace, wait_until
from tests.support.process import SPINNING_SHARE, Govreport, cpu_seconds, descendants, environment, kill_quietly
from tests.support.servers import require
from worker import archive as archive_module
from worker.adapters.db import make_engine
from worker.adapters.handovers import Handovers
from worker.adapters.store import Store
from worker.adapters.watch import _visible_entries
from worker.archive import ARCHIVE_NAME, THREAD, Archiver, Mode, Replaced, archive_folder, move, place
from worker.config import Settings
from worker.errors import ConfigurationError
from worker.files import FileData, inbox_relative, read_file
from worker.jobs import job_for, outcome, parse_job
from worker.runner import Roles, run

Logs = list[MutableMapping[str, Any]]
SEEDS = sorted((Path(__file__).parent / "fixtures" / "corpus" / "seeds").glob("*.txt"))
VALID = SEEDS[2].read_bytes()
# An annual report's title and first lines without its tables: stored as invalid (E_MISSING_TABLE).
INVALID = "\n".join(SEEDS[2].read_text(encoding="utf-8").splitlines()[:5]).encode()
MAX_BYTES = 20 * 1024 * 1024


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from empty_database(request, tmp_path)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path.resolve() / "inbox"
    folder.mkdir()
    return folder


def days() -> set[str]:
    """Today, and tomorrow for a test that runs over midnight: the archive's dated folder is one of them."""
    today = date.today()
    return {today.isoformat(), date.fromordinal(today.toordinal() + 1).isoformat()}


def dated(folder: Path) -> Path:
    """The one dated folder below `folder`, checked to be today's."""
    [day] = list(folder.iterdir())
    assert day.name in days()
    return day


def drop(inbox: Path, relative: str, data: bytes) -> Path:
    path = inbox / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def hand_over(store: Store, inbox: Path, path: Path) -> FileData:
    """Record a file as the watcher's intake does once the broker confirmed it."""
    file = read_file(path, MAX_BYTES, shown=inbox_relative(path, inbox))
    Handovers(store).record([(str(path), file.size, file.mtime_ns, file.sha256)])
    return file


def store_outcome(store: Store, file: FileData) -> str:
    """Parse and store a file's outcome as a consumer does; its status."""
    parsed = parse_job(job_for(file, MAX_BYTES))
    store.save([outcome(file, parsed.result, parsed.evidence)])
    return parsed.result.status.value


def handovers(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM handovers").scalar_one())


def archiver(store: Store, inbox: Path, mode: Mode = "move", **options: Any) -> Archiver:
    return Archiver(store, inbox, mode, stop=threading.Event(), **options)


def events(logs: Logs, name: str) -> Logs:
    return [entry for entry in logs if entry["event"] == name]


# --- the archiver on the real databases ----------------------------------------------------------


def test_a_file_is_moved_only_once_its_outcome_is_stored(store: Store, inbox: Path) -> None:
    path = drop(inbox, "2024/a.txt", VALID)
    mtime_ns = path.stat().st_mtime_ns
    file = hand_over(store, inbox, path)
    archiving = archiver(store, inbox)

    assert archiving.run_once() is True  # waiting for its outcome
    assert path.read_bytes() == VALID and handovers(store) == 1
    assert not (inbox / ARCHIVE_NAME).exists()

    assert store_outcome(store, file) == "valid"
    with capture_logs() as logs:
        assert archiving.run_once() is False
    assert not path.exists()
    moved = dated(inbox / ARCHIVE_NAME / "done") / "2024" / "a.txt"
    assert moved.read_bytes() == VALID and moved.stat().st_mtime_ns == mtime_ns
    assert handovers(store) == 0
    [archived] = events(logs, "file.archived")
    assert archived["sha256"] == file.sha256
    assert (archived["from"], archived["to"]) == (str(path), str(moved))


def test_failed_outcomes_go_under_failed_and_invalid_ones_under_done(store: Store, inbox: Path) -> None:
    paths = {"invalid.txt": INVALID, "empty.txt": b"", "junk.bin": bytes(range(256)) * 8}
    files = {name: hand_over(store, inbox, drop(inbox, name, data)) for name, data in paths.items()}
    statuses = {name: store_outcome(store, file) for name, file in files.items()}
    assert statuses == {"invalid.txt": "invalid", "empty.txt": "failed", "junk.bin": "failed"}

    assert archiver(store, inbox).run_once() is False
    assert sorted(path.name for path in inbox.iterdir()) == [ARCHIVE_NAME]
    assert sorted(p.name for p in dated(inbox / ARCHIVE_NAME / "done").iterdir()) == ["invalid.txt"]
    assert sorted(p.name for p in dated(inbox / ARCHIVE_NAME / "failed").iterdir()) == ["empty.txt", "junk.bin"]


def test_delete_deletes_the_file_once_its_outcome_is_stored(store: Store, inbox: Path) -> None:
    path = drop(inbox, "a.txt", VALID)
    file = hand_over(store, inbox, path)
    deleting = archiver(store, inbox, "delete")
    assert deleting.run_once() is True and path.exists()

    store_outcome(store, file)
    with capture_logs() as logs:
        assert deleting.run_once() is False
    assert list(inbox.iterdir()) == []
    assert handovers(store) == 0
    [deleted] = events(logs, "file.deleted")
    assert deleted["sha256"] == file.sha256 and deleted["path"] == str(path)


def test_a_name_clash_gets_a_number_and_overwrites_nothing(store: Store, inbox: Path) -> None:
    earlier = inbox / ARCHIVE_NAME / "done" / date.today().isoformat() / "a.txt"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"archived earlier")
    store_outcome(store, hand_over(store, inbox, drop(inbox, "a.txt", VALID)))

    assert archiver(store, inbox).run_once() is False
    assert earlier.read_bytes() == b"archived earlier"
    assert (earlier.parent / "a (1).txt").read_bytes() == VALID
    assert not (inbox / "a.txt").exists()


def test_a_replaced_file_is_left_in_the_inbox_and_its_hand_over_forgotten(store: Store, inbox: Path) -> None:
    path = drop(inbox, "a.txt", VALID)
    file = hand_over(store, inbox, path)
    path.write_bytes(VALID + b"\na new version")  # not yet handed over
    store_outcome(store, file)

    with capture_logs() as logs:
        assert archiver(store, inbox).run_once() is False
    assert path.read_bytes() == VALID + b"\na new version"
    assert not (inbox / ARCHIVE_NAME).exists()
    assert handovers(store) == 0
    [skipped] = events(logs, "file.archive_skipped")
    assert skipped["reason"] == "replaced" and skipped["sha256"] == file.sha256


def test_a_hand_over_whose_file_is_gone_is_forgotten(store: Store, inbox: Path) -> None:
    path = drop(inbox, "a.txt", VALID)
    store_outcome(store, hand_over(store, inbox, path))
    path.unlink()  # by a person, or by this archiver just before a kill
    assert archiver(store, inbox).run_once() is False
    assert handovers(store) == 0
    assert not (inbox / ARCHIVE_NAME).exists()


def test_files_of_other_inboxes_are_not_touched(store: Store, tmp_path: Path, inbox: Path) -> None:
    # `inbox2` starts with the same characters as `inbox`: only the path separator tells them apart.
    others = [drop(tmp_path.resolve() / name, "a.txt", VALID) for name in ("inbox2", "elsewhere")]
    for other in others:
        store_outcome(store, hand_over(store, other.parent, other))
    assert archiver(store, inbox).run_once() is False
    assert all(other.read_bytes() == VALID for other in others)
    assert handovers(store) == 2


def test_a_file_that_cannot_be_moved_is_left_with_one_warning_and_tried_again(
    store: Store, tmp_path: Path, inbox: Path
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    blocker = folder / "done"
    blocker.write_bytes(b"a file where the archive needs a folder")
    path = drop(inbox, "a.txt", VALID)
    store_outcome(store, hand_over(store, inbox, path))
    archiving = archiver(store, inbox, archive=folder, retry_every=0.05)

    with capture_logs() as logs:
        for _ in range(3):
            assert archiving.run_once() is False
            time.sleep(0.06)  # past retry_every: each pass tries again
    assert path.read_bytes() == VALID and handovers(store) == 1
    failures = events(logs, "file.archive_failed")
    assert len(failures) == 3
    assert [entry["log_level"] for entry in failures] == ["warning", "debug", "debug"]
    assert failures[0]["then"] == "left in the inbox" and failures[0]["path"] == str(path)

    blocker.unlink()
    assert archiving.run_once() is False
    assert not path.exists() and (dated(folder / "done") / "a.txt").read_bytes() == VALID
    assert handovers(store) == 0


def test_a_file_that_cannot_be_moved_is_not_tried_again_before_its_time(store: Store, inbox: Path) -> None:
    (inbox / ARCHIVE_NAME).write_bytes(b"a file where the archive needs a folder")
    path = drop(inbox, "a.txt", VALID)
    store_outcome(store, hand_over(store, inbox, path))
    archiving = archiver(store, inbox)  # tried again after RETRY_EVERY (10 minutes)

    with capture_logs() as logs:
        archiving.run_once()
        archiving.run_once()
    assert len(events(logs, "file.archive_failed")) == 1
    assert path.exists()


def test_the_archiver_thread_archives_after_a_wake_and_stops(store: Store, inbox: Path) -> None:
    path = drop(inbox, "a.txt", VALID)
    archiving = archiver(store, inbox, poll=0.05)
    thread = archiving.start()
    try:
        store_outcome(store, hand_over(store, inbox, path))
        archiving.waking(lambda _files: None)([])  # as the watcher's callback does after a hand-over
        assert wait_until(lambda: not path.exists(), timeout=10)
    finally:
        archiving.stop.set()
        archiving.wake()
        thread.join(5)
    assert not thread.is_alive()
    assert (dated(inbox / ARCHIVE_NAME / "done") / "a.txt").read_bytes() == VALID


# --- where the archive is ------------------------------------------------------------------------


def test_the_archive_is_hidden_inside_the_inbox_unless_set(tmp_path: Path) -> None:
    inbox = tmp_path.resolve() / "inbox"
    assert archive_folder(inbox, None) == inbox / ".archive"
    assert archive_folder(inbox, tmp_path / "kept") == tmp_path.resolve() / "kept"
    assert archive_folder(inbox, inbox / ".old" / "kept") == inbox / ".old" / "kept"


@pytest.mark.parametrize("where", ["inbox/kept", "inbox", "."])
def test_an_archive_the_watcher_would_read_is_refused(tmp_path: Path, where: str) -> None:
    # "." with an inbox named "done": the archive's done/ folder would be the inbox itself.
    inbox = tmp_path / ("done" if where == "." else "inbox")
    with pytest.raises(ConfigurationError, match="GOVREPORT_ARCHIVE"):
        archive_folder(inbox, tmp_path / where)


def test_run_refuses_such_an_archive_before_starting_any_worker(tmp_path: Path) -> None:
    settings = settings_for(new_namespace(), tmp_path, after="move", archive=tmp_path / "inbox" / "kept")
    with pytest.raises(ConfigurationError, match="would ingest its own archive"):
        run(settings, Roles(), threading.Event())
    assert not (tmp_path / "inbox").exists()


# --- moves that never overwrite ------------------------------------------------------------------


@pytest.fixture(params=["renameat2", "reserved name"])
def no_clobber(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of never overwriting: RENAME_NOREPLACE, and (as on NFS) a name reserved by O_EXCL."""
    if request.param == "renameat2":
        if archive_module._RENAMEAT2 is None:
            pytest.skip("no renameat2 in this libc")
    else:
        monkeypatch.setattr(archive_module, "_RENAMEAT2", None)
    return str(request.param)


def test_place_numbers_clashes_before_the_extension(tmp_path: Path, no_clobber: str) -> None:
    target = tmp_path / "kept" / "report.final.pdf"
    target.parent.mkdir()
    for n, content in enumerate((b"first", b"second", b"third")):
        source = tmp_path / f"source{n}"
        source.write_bytes(content)
        place(source, target)
        assert not source.exists()
    assert {p.name: p.read_bytes() for p in target.parent.iterdir()} == {
        "report.final.pdf": b"first",
        "report.final (1).pdf": b"second",
        "report.final (2).pdf": b"third",
    }, no_clobber


def test_a_failed_rename_leaves_no_reserved_name_behind(tmp_path: Path, no_clobber: str) -> None:
    with pytest.raises(FileNotFoundError):
        place(tmp_path / "missing", tmp_path / "target")
    assert list(tmp_path.iterdir()) == [], no_clobber


def test_a_file_changed_since_its_check_is_put_back(tmp_path: Path) -> None:
    source, other = tmp_path / "a.txt", tmp_path / "b.txt"
    source.write_bytes(b"new version")
    other.write_bytes(b"the file that was checked")
    (tmp_path / "kept").mkdir()
    with pytest.raises(Replaced):
        move(source, tmp_path / "kept" / "a.txt", os.lstat(other))
    assert source.read_bytes() == b"new version"
    assert list((tmp_path / "kept").iterdir()) == []


@pytest.fixture
def other_device(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system than tmp_path (tmpfs), removed afterwards."""
    shm = Path("/dev/shm")  # noqa: S108 - tmpfs on purpose, and the folder made in it has a random name
    if not shm.is_dir() or not os.access(shm, os.W_OK) or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no writable file system other than the temporary folder's")
    folder = shm / f"govreport-test-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder)


def test_a_move_across_file_systems_copies_then_unlinks(tmp_path: Path, other_device: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(VALID)
    os.chmod(source, 0o640)
    checked = os.lstat(source)
    (other_device / "a.txt").write_bytes(b"archived earlier")

    placed = move(source, other_device / "a.txt", checked)
    assert placed == other_device / "a (1).txt"
    assert not source.exists()
    assert placed.read_bytes() == VALID
    assert (placed.stat().st_mtime_ns, placed.stat().st_mode) == (checked.st_mtime_ns, checked.st_mode)
    assert (other_device / "a.txt").read_bytes() == b"archived earlier"
    assert sorted(p.name for p in other_device.iterdir()) == ["a (1).txt", "a.txt"]  # no partial copy left


def test_a_file_changed_before_a_copy_across_file_systems_stays(tmp_path: Path, other_device: Path) -> None:
    source, other = tmp_path / "a.txt", tmp_path / "b.txt"
    source.write_bytes(b"new version")
    other.write_bytes(b"the file that was checked")
    with pytest.raises(Replaced):
        move(source, other_device / "a.txt", os.lstat(other))
    assert source.read_bytes() == b"new version"
    assert list(other_device.iterdir()) == []


# --- the pipeline on the real RabbitMQ ------------------------------------------------------------


@pytest.fixture
def namespace() -> Iterator[str]:
    require("127.0.0.1", 5672, "RabbitMQ")
    name = new_namespace()
    yield name
    delete_namespace(name)


@pytest.fixture
def sink(namespace: str) -> Iterator[EventSink]:
    collected = EventSink(namespace)
    yield collected
    collected.close()


def settings_for(namespace: str, tmp_path: Path, **overrides: Any) -> Settings:
    return quick_settings(namespace, tmp_path, **{"open_quiet": 0.2, **overrides})


def files_below(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_move_puts_each_outcome_under_done_or_failed_of_the_day(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    settings = settings_for(namespace, tmp_path, after="move")
    inbox = settings.inbox
    with Pipeline(settings) as pipeline:
        drop(inbox, "2024/a.txt", VALID)
        drop(inbox, "b.txt", INVALID)
        drop(inbox, "c.txt", b"")
        sink.wait_for(3)
        assert wait_until(
            lambda: files_below(inbox) != [] and all(p.startswith(ARCHIVE_NAME) for p in files_below(inbox))
        )
        time.sleep(2.5)  # two rescans: the watcher must not read its own archive
        assert pipeline.count("SELECT count(*) FROM reports") == 3
        assert pipeline.count("SELECT count(*) FROM handovers") == 0
    assert len(sink.events) == 3
    done, failed = dated(inbox / ARCHIVE_NAME / "done"), dated(inbox / ARCHIVE_NAME / "failed")
    assert files_below(done) == ["2024/a.txt", "b.txt"] and files_below(failed) == ["c.txt"]
    assert (done / "2024" / "a.txt").read_bytes() == VALID


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_delete_deletes_each_file_once_stored(namespace: str, sink: EventSink, tmp_path: Path) -> None:
    settings = settings_for(namespace, tmp_path, after="delete")
    with Pipeline(settings) as pipeline:
        drop(settings.inbox, "a.txt", VALID)
        drop(settings.inbox, "b.txt", b"")
        sink.wait_for(2)
        assert wait_until(lambda: list(settings.inbox.iterdir()) == [])
        assert pipeline.count("SELECT count(*) FROM reports") == 2


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_keep_is_the_default_and_keeps_the_file(namespace: str, sink: EventSink, tmp_path: Path) -> None:
    settings = settings_for(namespace, tmp_path)
    assert settings.after == "keep"
    with Pipeline(settings) as pipeline:
        path = drop(settings.inbox, "a.txt", VALID)
        sink.wait_for(1)
        assert wait_until(lambda: pipeline.count("SELECT count(*) FROM handovers") == 1)
        assert THREAD not in {thread.name for thread in threading.enumerate()}
        assert path.read_bytes() == VALID
    assert sorted(p.name for p in settings.inbox.iterdir()) == ["a.txt"]


def kill(command: Govreport) -> None:
    """SIGKILL a `govreport` process and its parsing processes: no orderly stop of any kind."""
    below = descendants(command.pid)
    command.process.send_signal(signal.SIGKILL)
    command.wait(30)
    for pid in below:
        kill_quietly(pid)


def count(database: str, sql: str) -> int:
    engine = make_engine(database)
    with engine.connect() as connection:
        value = int(connection.exec_driver_sql(sql).scalar_one())
    engine.dispose()
    return value


@pytest.mark.rabbitmq
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_kill_after_the_commit_and_before_the_move_leaves_the_file_until_the_restart(
    namespace: str, sink: EventSink, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    blocker = archive / "done"
    blocker.write_bytes(b"a file where the archive needs a folder: the move fails after the commit")
    env = environment(
        namespace,
        tmp_path,
        GOVREPORT_AFTER="move",
        GOVREPORT_ARCHIVE=str(archive),
        GOVREPORT_QUIET="0.1",
        GOVREPORT_OPEN_QUIET="0.2",
        GOVREPORT_METRICS_PORT="0",
    )
    database = env["GOVREPORT_DATABASE_URL"]
    path = drop(tmp_path / "inbox", "a.txt", VALID)

    first = Govreport(["run"], env)
    try:
        assert first.wait_for("file.archive_failed", timeout=90), first.raw[-20:]
        sink.wait_for(1)
        kill(first)
    finally:
        first.close()
    assert path.read_bytes() == VALID
    assert count(database, "SELECT count(*) FROM reports") == 1
    assert count(database, "SELECT count(*) FROM handovers") == 1

    blocker.unlink()
    # At DEBUG the archiver logs each of its passes (`archive.pass`): a timer left behind shows.
    second = Govreport(["run"], {**env, "GOVREPORT_LOG_LEVEL": "DEBUG"})
    try:
        assert second.wait_for("file.archived", timeout=90), second.raw[-20:]
        time.sleep(1.0)  # anything published again would come now
        assert not path.exists()
        assert (dated(archive / "done") / "a.txt").read_bytes() == VALID
        assert not second.events("file.handed_over")
        # Archived, the run goes back to waiting without a timer: no pass of the archiver after.
        passes, before, started = len(second.events("archive.pass")), cpu_seconds(second.pid), time.monotonic()
        time.sleep(5.0)
        share = (cpu_seconds(second.pid) - before) / (time.monotonic() - started)
        assert passes >= 1
        assert len(second.events("archive.pass")) == passes, second.events("archive.pass")[passes:]
        assert share < SPINNING_SHARE, f"{share:.2%} of a core while idle"
    finally:
        second.close()
    assert count(database, "SELECT count(*) FROM reports") == 1
    assert count(database, "SELECT count(*) FROM outbox") == 1
    assert count(database, "SELECT count(*) FROM handovers") == 0
    assert len(sink.events) == 1


def test_the_poller_never_walks_the_archive(inbox: Path) -> None:
    drop(inbox, "2024/a.txt", VALID)
    drop(inbox, f"{ARCHIVE_NAME}/done/2024-01-01/b.txt", VALID)
    snapshot = DirectorySnapshot(str(inbox), stat=os.lstat, listdir=_visible_entries)
    assert sorted(os.path.relpath(p, inbox) for p in snapshot.paths) == [".", "2024", "2024/a.txt"]
