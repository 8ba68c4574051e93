"""Hostile files dropped into ONE running pipeline (`govreport run` as a real process, the real
RabbitMQ, a SQLite database): each ends in a stored outcome with a clear reason (or a logged skip),
exactly one event on the events exchange, the process serving on, the file left as it was, and the
memory of the process and its children bounded.

The parser's answer to each kind of file is unit-tested elsewhere (test_fuzz, test_zipped,
test_big_html, test_pdf, test_watch); here is the end-to-end proof that the pipeline carries it."""

import hashlib
import itertools
import os
import random
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.support import hostile
from tests.support.big_documents import big_html
from tests.support.pipeline_kit import EventSink, delete_namespace, new_namespace, wait_until
from tests.support.process import AS_A_USER, Govreport, alive, environment, resident_tree
from tests.support.servers import require
from worker.adapters.db import make_engine

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(240)]

SEEDS = sorted((Path(__file__).parent / "fixtures" / "corpus" / "seeds").glob("*.txt"))
VALID = SEEDS[2].read_bytes()
MIB = 2**20
# The pipeline's memory (the `govreport` process and every process below it, resident) may grow by
# this much over the module. The module pushes about 60 MB of hostile bytes through it (25 MB hashed
# in chunks, a 15 MB page held in a message, parsed in a child) and opens bombs that expand to
# gigabytes: holding on to any of them, or letting a bomb expand, shows as hundreds of megabytes
# more. Parsing processes are replaced and allocators keep freed pages, hence the generous margin.
RSS_GROWTH = 400 * MIB
# Seconds a dropped file's outcome may take: a watcher pass, a parse of at most a few seconds on a
# shared 2-core machine, a store and a relay poll.
OUTCOME_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Dropped:
    """A file as dropped: where, and what it was (to prove nothing changed it)."""

    path: Path
    sha256: str
    mtime_ns: int

    def assert_unchanged(self) -> None:
        """The pipeline neither changed nor moved the file (the default GOVREPORT_AFTER=keep)."""
        assert hashlib.sha256(self.path.read_bytes()).hexdigest() == self.sha256
        assert self.path.stat().st_mtime_ns == self.mtime_ns


def snapshot(path: Path) -> Dropped:
    """A dropped file's identity (bytes and mtime)."""
    return Dropped(path, hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)


class Pipeline:
    """`govreport run` on a temporary inbox and database, with a sink of its events."""

    def __init__(self, root: Path, namespace: str) -> None:
        self.inbox = root / "inbox"
        self.outside = root / "outside"  # the same file system: a rename from here is a move in
        for folder in (self.inbox, self.outside, root / "db"):
            folder.mkdir()
        env = environment(
            namespace,
            root,
            GOVREPORT_QUIET="0.2",
            GOVREPORT_OPEN_QUIET="0.5",
            GOVREPORT_RESCAN_EVERY="2",
            GOVREPORT_CONCURRENCY="2",
            GOVREPORT_RELAY_INTERVAL="0.2",
            GOVREPORT_LOG_LEVEL="DEBUG",  # `watch.scanned`: rescans can be awaited
        )
        self.engine: Engine = make_engine(env["GOVREPORT_DATABASE_URL"])
        self.sink = EventSink(namespace)
        self.command = Govreport(["run"], env, wrapper=AS_A_USER)
        self._variants = itertools.count(1)
        self.rss_start = 0

    def close(self) -> None:
        """Stop the process, the sink and the database connections."""
        self.command.close()
        self.sink.close()
        self.engine.dispose()

    # --- dropping -------------------------------------------------------------------------------

    def unique_valid(self) -> bytes:
        """A valid report whose bytes no other drop has: trailing blank lines change the SHA-256
        (the identity) and nothing the parser reads."""
        return VALID + b"\n" * next(self._variants)

    def drop(self, relative: str | bytes, data: bytes) -> Dropped:
        """Write a file into the inbox in place (its writer closes it, as a copy does)."""
        path = Path(os.fsdecode(os.path.join(os.fsencode(self.inbox), os.fsencode(relative))))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return snapshot(path)

    # --- what came out --------------------------------------------------------------------------

    def report(self, sha256: str) -> dict[str, Any] | None:
        """The stored report of a content, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT status, failure_reason, failure_message, filename, path, format, pages, size "
                    "FROM reports WHERE sha256 = :sha"
                ),
                {"sha": sha256},
            ).one_or_none()
        return None if row is None else dict(row._mapping)

    def events_for(self, sha256: str) -> list[tuple[str, dict[str, Any]]]:
        """The events seen so far about a content: routing key and CloudEvent."""
        return [(key, body) for key, body, _ in list(self.sink.events) if body["data"]["source"]["sha256"] == sha256]

    def outcome(self, file: Dropped, timeout: float = OUTCOME_SECONDS) -> dict[str, Any]:
        """The stored report of a dropped file, once it and its event are there."""
        assert wait_until(
            lambda: self.report(file.sha256) is not None and bool(self.events_for(file.sha256)), timeout, every=0.1
        ), f"no outcome for {file.path.name!r}; last log lines: {self.command.raw[-10:]}"
        report = self.report(file.sha256)
        assert report is not None
        return report

    def assert_serving(self) -> None:
        """The process lives, logged no traceback, and still stores a normal report valid: whose
        event, coming after every earlier one, is also the barrier before counting events."""
        assert self.command.process.poll() is None and alive(self.command.pid), self.command.raw[-20:]
        file = self.drop(f"canary-{time.monotonic_ns()}.txt", self.unique_valid())
        assert self.outcome(file)["status"] == "valid"
        assert len(self.events_for(file.sha256)) == 1
        tracebacks = [line for line in self.command.lines() if "exception" in line]
        assert not tracebacks, tracebacks[:3]

    def assert_one_event(self, file: Dropped, routing_key: str) -> dict[str, Any]:
        """Exactly one event for a file's content (checked after the canary's, which came later)."""
        events = self.events_for(file.sha256)
        assert [key for key, _ in events] == [routing_key], events
        return events[0][1]

    def rescans(self, after: int = 0, count: int = 2) -> None:
        """Wait for `count` full rescans of the inbox after the `after`-th one."""
        assert wait_until(lambda: len(self.command.events("watch.scanned")) >= after + count, 30.0)

    def skips(self, path: Path) -> list[dict[str, Any]]:
        """The watcher's `watch.skipped` lines about a path."""
        return [line for line in self.command.events("watch.skipped") if line.get("path") == str(path)]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    require("127.0.0.1", 5672, "RabbitMQ")
    namespace = new_namespace()
    running = Pipeline(tmp_path_factory.mktemp("hostile"), namespace)
    try:
        assert running.command.wait_for("govreport.started", timeout=60), running.command.raw[-20:]
        running.assert_serving()  # every process started and warm: the memory's starting point
        running.rss_start = resident_tree(running.command.pid)
        yield running
    finally:
        running.close()
        delete_namespace(namespace)


def assert_failed(pipeline: Pipeline, file: Dropped, reason: str) -> dict[str, Any]:
    """The whole promise for one hostile file that must fail: its stored outcome, its one event,
    the process serving on, the file untouched; the stored report."""
    report = pipeline.outcome(file)
    assert (report["status"], report["failure_reason"]) == ("failed", reason), report
    assert report["failure_message"]
    pipeline.assert_serving()
    event = pipeline.assert_one_event(file, "report.failed")
    assert event["data"]["failure"]["reason"] == reason
    file.assert_unchanged()
    return report


# --- bytes that are no document ------------------------------------------------------------------


def test_random_bytes_fail_as_unreadable(pipeline: Pipeline) -> None:
    file = pipeline.drop("noise.bin", hostile.random_bytes(64 * 1024, seed=1))
    report = assert_failed(pipeline, file, "unreadable")
    assert "encoding" in report["failure_message"]


@pytest.mark.slow
def test_25_mb_of_random_bytes_fail_as_too_large_without_being_held(pipeline: Pipeline) -> None:
    data = hostile.random_bytes(25 * 1000 * 1000, seed=2)
    file = pipeline.drop("huge.pdf", data)
    report = assert_failed(pipeline, file, "too_large")
    assert report["size"] == len(data)
    handed = [line for line in pipeline.command.events("file.handed_over") if line.get("sha256") == file.sha256]
    assert len(handed) == 1 and handed[0]["size"] == len(data)
    # Over the limit, the bytes never travel: no claim check was needed for them.
    assert not [line for line in pipeline.command.events("file.claimed") if line.get("sha256") == file.sha256]


# --- bombs ---------------------------------------------------------------------------------------


def test_a_nested_zip_bomb_named_txt_fails_as_unreadable(pipeline: Pipeline) -> None:
    file = pipeline.drop("bomb.txt", hostile.nested_zip_bomb())
    report = assert_failed(pipeline, file, "unreadable")
    assert "zip" in report["failure_message"]


def test_a_zip_bomb_named_docx_fails_as_unreadable_before_inflating(pipeline: Pipeline) -> None:
    file = pipeline.drop("bomb.docx", hostile.docx_bomb())
    report = assert_failed(pipeline, file, "unreadable")
    assert "over the limit" in report["failure_message"]


def test_a_pdf_claiming_two_billion_pages_is_read_by_its_real_pages(pipeline: Pipeline) -> None:
    file = pipeline.drop("pages.pdf", hostile.pdf_huge_page_count())
    report = assert_failed(pipeline, file, "no_text")  # its two real pages are blank
    assert report["format"] == "pdf" and "of the 2 pages" in report["failure_message"]


def test_a_pdf_nested_100k_deep_fails_as_unreadable(pipeline: Pipeline) -> None:
    file = pipeline.drop("deep.pdf", hostile.pdf_deep_nesting(100_000))
    report = assert_failed(pipeline, file, "unreadable")
    assert report["format"] == "pdf"


def test_html_nested_100k_deep_is_not_a_report(pipeline: Pipeline) -> None:
    file = pipeline.drop("deep.html", hostile.html_nested(100_000))
    report = assert_failed(pipeline, file, "not_a_report")
    assert report["format"] == "html"


@pytest.mark.slow
def test_a_15_mb_web_page_holding_a_report_is_stored_valid(pipeline: Pipeline) -> None:
    file = pipeline.drop("big.html", big_html(15_000_000))
    report = pipeline.outcome(file)
    assert (report["status"], report["format"]) == ("valid", "html"), report
    pipeline.assert_serving()
    pipeline.assert_one_event(file, "report.valid")
    file.assert_unchanged()


# --- names, links, folders, permissions ----------------------------------------------------------

NAMES = {
    "newline": "first line\nsecond line.txt",
    "control characters": "bell\x07tab\tescape\x1b[31mdel\x7f.txt",
    "255 bytes of UTF-8": "政" * 85,  # the longest name Linux allows: 85 three-byte characters
}


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_hostile_names_are_stored_as_they_are(pipeline: Pipeline, name: str) -> None:
    assert len(name.encode()) <= 255
    file = pipeline.drop(name, pipeline.unique_valid())
    report = pipeline.outcome(file)
    assert (report["status"], report["filename"], report["path"]) == ("valid", name, name)
    pipeline.assert_serving()
    event = pipeline.assert_one_event(file, "report.valid")
    assert event["data"]["source"]["filename"] == name
    file.assert_unchanged()


def test_links_pointing_outside_are_skipped_with_a_logged_reason(pipeline: Pipeline) -> None:
    target = pipeline.outside / "secret.txt"
    target.write_bytes(pipeline.unique_valid())
    (pipeline.outside / "folder").mkdir()
    (pipeline.outside / "folder" / "inside.txt").write_bytes(pipeline.unique_valid())
    to_file, to_folder = pipeline.inbox / "link.txt", pipeline.inbox / "link-folder"
    to_file.symlink_to(target)
    to_folder.symlink_to(pipeline.outside / "folder", target_is_directory=True)

    assert wait_until(lambda: bool(pipeline.skips(to_file) and pipeline.skips(to_folder)), OUTCOME_SECONDS)
    for link in (to_file, to_folder):
        assert "link" in pipeline.skips(link)[0]["reason"]
    pipeline.assert_serving()
    for secret in (target, pipeline.outside / "folder" / "inside.txt"):
        sha256 = snapshot(secret).sha256
        assert pipeline.report(sha256) is None and not pipeline.events_for(sha256)
    # Skipped once, not again at every rescan (every 2 s here).
    pipeline.rescans(after=len(pipeline.command.events("watch.scanned")))
    assert len(pipeline.skips(to_file)) == 1 and len(pipeline.skips(to_folder)) == 1
    assert os.readlink(to_file) == str(target)


def test_a_folder_moved_in_has_each_of_its_files_stored(pipeline: Pipeline) -> None:
    folder = pipeline.outside / "moved"
    (folder / "sub").mkdir(parents=True)
    contents = {
        "a.txt": pipeline.unique_valid(),
        "sub/noise.bin": hostile.random_bytes(4096, seed=3),
        "sub/deep.html": hostile.html_nested(1000, tag="span"),
    }
    for relative, data in contents.items():
        (folder / relative).write_bytes(data)
    before = {relative: snapshot(folder / relative) for relative in contents}
    folder.rename(pipeline.inbox / "moved")

    files = {r: Dropped(pipeline.inbox / "moved" / r, f.sha256, f.mtime_ns) for r, f in before.items()}
    outcomes = {relative: pipeline.outcome(file) for relative, file in files.items()}
    assert {r: (o["status"], o["failure_reason"], o["path"]) for r, o in outcomes.items()} == {
        "a.txt": ("valid", None, "moved/a.txt"),
        "sub/noise.bin": ("failed", "unreadable", "moved/sub/noise.bin"),
        "sub/deep.html": ("failed", "not_a_report", "moved/sub/deep.html"),
    }
    pipeline.assert_serving()
    for relative, file in files.items():
        pipeline.assert_one_event(file, f"report.{outcomes[relative]['status']}")
        file.assert_unchanged()


def test_a_file_replaced_again_and_again_ends_as_its_last_version(pipeline: Pipeline) -> None:
    """Each version replaces the last by an atomic rename, 20 to 100 ms apart, while the watcher
    takes a renamed file after 50 ms: versions are taken, and some are replaced between the
    watcher's look at them and the read, or while read. What the code
    guarantees: a read sees one whole version (the file it opened), never a mix; the last version
    is stored, once, with one event, and is the path's current version; an earlier version may be
    stored too (as a version the path had), at most once."""
    path = pipeline.inbox / "replaced.txt"
    versions = [pipeline.unique_valid() + b"\n" * 1000 * i for i in range(12)]
    shas = [hashlib.sha256(v).hexdigest() for v in versions]
    staging = pipeline.inbox / ".replaced.txt.tmp"  # an ignored name: never taken itself
    pauses = random.Random(4)
    for data in versions:
        staging.write_bytes(data)
        os.replace(staging, path)
        time.sleep(pauses.uniform(0.02, 0.1))  # the writer's pace, around the watcher's 50 ms
    last = snapshot(path)
    assert last.sha256 == shas[-1]

    assert pipeline.outcome(last)["status"] == "valid"
    pipeline.assert_serving()
    pipeline.assert_one_event(last, "report.valid")
    with pipeline.engine.connect() as connection:
        stored = connection.execute(text("SELECT sha256 FROM reports WHERE path = 'replaced.txt'")).scalars().all()
        current = connection.execute(
            text("SELECT r.sha256 FROM paths p JOIN reports r ON r.id = p.report_id WHERE p.path = 'replaced.txt'")
        ).scalar_one()
    assert set(stored) <= set(shas), "a stored content that is no version: a torn read"
    assert current == shas[-1]
    for sha256 in stored:
        assert len([key for key, body in pipeline.events_for(sha256) if "cause" not in body]) == 1
    last.assert_unchanged()


def test_a_file_without_read_permission_is_skipped_once_with_a_logged_reason(pipeline: Pipeline) -> None:
    staged = pipeline.outside / "locked.txt"
    staged.write_bytes(pipeline.unique_valid())
    sha256 = snapshot(staged).sha256
    staged.chmod(0)  # before it is in the inbox: the watcher never sees it readable
    path = pipeline.inbox / "locked.txt"
    staged.rename(path)
    try:

        def unreadable() -> list[dict[str, Any]]:
            return [line for line in pipeline.command.events("file.unreadable") if line.get("filename") == path.name]

        assert wait_until(lambda: bool(unreadable()), OUTCOME_SECONDS)
        assert "Permission denied" in unreadable()[0]["error"]
        pipeline.rescans(after=len(pipeline.command.events("watch.scanned")))  # a loop would log it again
        assert len(unreadable()) == 1
        pipeline.assert_serving()
        assert pipeline.report(sha256) is None and not pipeline.events_for(sha256)
        assert stat.S_IMODE(path.stat().st_mode) == 0
    finally:
        path.chmod(0o644)


# --- last: what it all cost ----------------------------------------------------------------------


def test_memory_stays_bounded_after_every_hostile_file(pipeline: Pipeline) -> None:
    pipeline.assert_serving()
    now = resident_tree(pipeline.command.pid)
    growth = now - pipeline.rss_start
    assert growth < RSS_GROWTH, f"{pipeline.rss_start / MIB:.0f} MiB at the start, {now / MIB:.0f} MiB now"
