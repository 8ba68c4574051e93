"""Versions of a file and changes to stored outcomes, on real SQLite and PostgreSQL: a new content at a
path supersedes the one before, only current versions are listed when asked, every change to a stored
outcome queues one change event with a new id, a re-parse that changes nothing queues nothing, and
published events are pruned."""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.corpus import CORPUS
from worker.adapters.db import make_engine
from worker.adapters.outbox import Outbox, prune_published
from worker.adapters.queries import Filter, Reader
from worker.adapters.store import OUTBOX, Arrival, Outcome, Store
from worker.core import ParseResult, parse_bytes
from worker.events import PendingRow, event_id

SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))
T0 = datetime(2026, 11, 1, tzinfo=UTC)
PATH = "2024/huaian.txt"


@cache
def _parsed(seed: Path) -> ParseResult:
    return parse_bytes(seed.read_bytes(), seed.name)


def version(seed: Path, minute: int, where: str = PATH) -> Outcome:
    """A seed's content as the file at `where`, modified `minute` minutes after T0."""
    data = seed.read_bytes()
    return Outcome(_parsed(seed), data, Arrival(where, len(data), T0 + timedelta(minutes=minute)))


def sha(seed: Path) -> str:
    return _parsed(seed).source.sha256


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(make_engine(database_url))
    yield store
    store.engine.dispose()


def events(store: Store) -> list[dict[str, Any]]:
    """Every queued event, in the order the relay publishes them."""
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT body FROM outbox ORDER BY created_at, id").all()
    return [json.loads(body) for (body,) in rows]


def current(store: Store) -> set[str]:
    return {r.sha256 for r in Reader(store).list(Filter(current=True))}


def test_a_new_content_at_a_path_supersedes_the_one_before(store: Store) -> None:
    store.save([version(SEEDS[0], 0)])
    (saved,) = store.save([version(SEEDS[1], 5)])
    first, second = events(store)
    assert (first["path"], second["path"]) == (PATH, PATH)
    assert "supersedes" not in first and second["supersedes"] == sha(SEEDS[0])
    assert second["id"] == saved.event_id and second["revision"] == 0
    reader = Reader(store)
    newer, older = reader.get(sha(SEEDS[1])), reader.get(sha(SEEDS[0]))
    assert newer is not None and older is not None
    assert (newer.path, newer.supersedes, newer.current) == (PATH, sha(SEEDS[0]), True)
    assert (older.current, older.superseded_by) == (False, sha(SEEDS[1]))
    assert current(store) == {sha(SEEDS[1])}
    assert {r.sha256 for r in Reader(store).list(Filter())} == {sha(SEEDS[0]), sha(SEEDS[1])}
    exported = {row.result.source.sha256: row for row in reader.results(Filter())}
    assert exported[sha(SEEDS[1])].supersedes == sha(SEEDS[0]) and not exported[sha(SEEDS[0])].current
    assert [row.result.source.sha256 for row in reader.results(Filter(current=True))] == [sha(SEEDS[1])]


@pytest.mark.parametrize("order", ["in order", "newer first"])
def test_versions_in_one_batch_are_ordered_by_mtime_not_by_arrival(store: Store, order: str) -> None:
    older, newer = version(SEEDS[0], 0), version(SEEDS[1], 5)
    store.save([older, newer] if order == "in order" else [newer, older])
    assert current(store) == {sha(SEEDS[1])}
    by_subject = {e["subject"]: e for e in events(store)}
    if order == "in order":
        assert by_subject[sha(SEEDS[1])]["supersedes"] == sha(SEEDS[0])
        # The relay publishes one transaction's events in the order they were decided.
        assert [e["subject"] for e in events(store)] == [sha(SEEDS[0]), sha(SEEDS[1])]
    else:
        # The older version came late: stored, not current, and its event says what is current.
        assert by_subject[sha(SEEDS[0])]["supersededby"] == sha(SEEDS[1])
        assert "supersedes" not in by_subject[sha(SEEDS[1])]


def test_the_same_content_at_two_paths_is_current_while_either_holds_it(store: Store) -> None:
    saved = store.save([version(SEEDS[0], 0), version(SEEDS[0], 0, "copies/huaian.txt")])
    assert [s.event_id is not None for s in saved] == [True, False]  # stored once, announced once
    store.save([version(SEEDS[1], 5)])
    assert events(store)[-1]["supersedes"] == sha(SEEDS[0])
    assert current(store) == {sha(SEEDS[0]), sha(SEEDS[1])}  # the copy still holds the old content
    store.save([version(SEEDS[2], 6, "copies/huaian.txt")])
    assert current(store) == {sha(SEEDS[1]), sha(SEEDS[2])}


def test_a_path_going_back_to_an_older_content_is_announced_as_a_placement(store: Store) -> None:
    store.save([version(SEEDS[0], 0)])
    store.save([version(SEEDS[1], 5)])
    (saved,) = store.save([version(SEEDS[0], 9)])
    assert not saved.created and saved.event_id == event_id(sha(SEEDS[0]), store.parser_version, 1)
    revert = events(store)[-1]
    assert (revert["subject"], revert["revision"], revert["cause"]) == (sha(SEEDS[0]), 1, "placement")
    assert (revert["path"], revert["supersedes"]) == (PATH, sha(SEEDS[1]))
    assert "changed" not in revert  # the result itself did not change
    assert current(store) == {sha(SEEDS[0])}
    stored = Reader(store).get(sha(SEEDS[0]))
    assert stored is not None and (stored.supersedes, stored.revision) == (sha(SEEDS[1]), 1)
    assert len(events(store)) == 3


def test_a_file_back_with_the_same_content_is_only_a_sighting(store: Store) -> None:
    store.save([version(SEEDS[0], 0)])
    store.save([version(SEEDS[0], 30)])  # deleted, then put back: a new mtime, the same bytes
    store.sight([(sha(SEEDS[0]), Arrival(PATH, 1, T0 + timedelta(minutes=31)))])
    assert len(events(store)) == 1
    stored = Reader(store).get(sha(SEEDS[0]))
    assert stored is not None and len(stored.sightings) == 3 and stored.current


def test_ingest_style_sightings_place_a_stored_content_again(store: Store) -> None:
    """`ingest` records content it already has with `sight`: a revert found that way is announced too."""
    store.save([version(SEEDS[0], 0), version(SEEDS[1], 5, "other.txt")])
    store.save([version(SEEDS[1], 6)])
    store.sight([(sha(SEEDS[0]), Arrival(PATH, 1, T0 + timedelta(minutes=7)))])
    last = events(store)[-1]
    assert (last["subject"], last["cause"], last["supersedes"]) == (sha(SEEDS[0]), "placement", sha(SEEDS[1]))


def test_two_versions_stored_at_once_by_two_writers_are_linked(store: Store) -> None:
    """Two consumers storing two versions of one new file at the same moment: the path's row is claimed
    and locked first, so the later one (by mtime) is current whichever commits first."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(item: Outcome) -> None:
        barrier.wait()
        try:
            store.save([item])
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=(version(seed, minute),)) for seed, minute in ((SEEDS[0], 0), (SEEDS[1], 5))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert current(store) == {sha(SEEDS[1])}
    by_subject = {e["subject"]: e for e in events(store)}
    linked = by_subject[sha(SEEDS[1])].get("supersedes") == sha(SEEDS[0])
    late = by_subject[sha(SEEDS[0])].get("supersededby") == sha(SEEDS[1])
    assert linked != late  # exactly one of the two, depending on which committed first


# -- changes to a stored outcome ------------------------------------------------------------------


def _yearly(year: int, carried_over: int, carried_forward: int) -> Outcome:
    base = _parsed(SEEDS[1])
    cells = dict(base.cells)
    cells["applications.carried_over.total"] = carried_over
    cells["applications.carried_forward.total"] = carried_forward
    meta = base.meta.model_copy(update={"organization": "某县某局", "year": year})
    source = base.source.model_copy(update={"sha256": f"{year:064d}"})
    return Outcome(base.model_copy(update={"cells": cells, "meta": meta, "source": source}))


def test_a_late_previous_year_report_announces_the_newer_reports_new_warning(store: Store) -> None:
    (newer,) = store.save([_yearly(2021, 2, 0)])
    store.save([_yearly(2020, 0, 3)])
    queued = events(store)
    assert [(e["subject"][-4:], e["revision"]) for e in queued] == [("2021", 0), ("2020", 0), ("2021", 1)]
    change = queued[-1]
    assert change["id"] == event_id(f"{2021:064d}", store.parser_version, 1) != newer.event_id
    assert (change["cause"], change["changed"], change["issuesadded"]) == ("crossyear", "issues", "W_CROSS_YEAR")
    assert "issuesremoved" not in change and "statusbefore" not in change
    assert "W_CROSS_YEAR" in {i["code"] for i in change["data"]["issues"]}
    store.save([_yearly(2020, 0, 3)])  # the same previous year again: nothing changes, nothing is sent
    assert len(events(store)) == 3


def test_within_one_batch_the_first_event_already_carries_the_warning(store: Store) -> None:
    store.save([_yearly(2021, 2, 0), _yearly(2020, 0, 3)])
    queued = {e["subject"][-4:]: e for e in events(store)}
    assert len(queued) == 2 and queued["2021"]["revision"] == 0
    assert "W_CROSS_YEAR" in {i["code"] for i in queued["2021"]["data"]["issues"]}


def test_a_reparse_that_changes_nothing_sends_nothing_and_one_that_does_sends_one(store: Store) -> None:
    old = Store(store.engine, parser_version="0.0.1")
    original = version(SEEDS[0], 0)
    (first,) = old.save([original])
    same = store.replace(Outcome(original.result, original.data))
    assert same.event_id is None and len(events(store)) == 1
    stored = Reader(store).get(str(first.report_id))
    assert stored is not None and stored.parser_version == store.parser_version  # not redone next time

    cells = dict(original.result.cells)
    cells["active.penalty.decisions"] = 54
    changed = original.result.model_copy(update={"cells": cells, "issues": []})
    saved = store.replace(Outcome(changed, original.data))
    queued = events(store)
    assert len(queued) == 2 and saved.event_id == queued[-1]["id"] != first.event_id
    change = queued[-1]
    assert (change["cause"], change["revision"], change["path"]) == ("reparse", 1, PATH)
    assert change["cellschanged"] == "active.penalty.decisions"
    assert change["changed"] == "cells issues" and change["issuesremoved"] == "W_NARRATIVE_MISMATCH"
    assert change["data"]["cells"]["active.penalty.decisions"] == 54
    assert store.replace(Outcome(changed, original.data)).event_id is None
    assert len(events(store)) == 2


def test_a_reparse_that_changes_the_status_says_so(store: Store) -> None:
    original = version(SEEDS[0], 0)
    store.save([original])
    failed = parse_bytes(b"", SEEDS[0].name).model_copy(update={"source": original.result.source})
    store.replace(Outcome(failed, original.data))
    change = events(store)[-1]
    assert change["type"] == "cn.govreport.report.failed.v1" and change["statusbefore"] == "valid"
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM cells").scalar_one() == 0


def test_a_reparse_of_last_year_that_changes_its_numbers_is_checked_on_this_year(store: Store) -> None:
    store.save([_yearly(2020, 0, 2), _yearly(2021, 2, 0)])  # they agree
    assert len(events(store)) == 2
    store.replace(_yearly(2020, 0, 3))
    queued = events(store)
    assert [(e["subject"][-4:], e["revision"], e.get("cause")) for e in queued[2:]] == [
        ("2020", 1, "reparse"),
        ("2021", 1, "crossyear"),
    ]


# -- pruning -------------------------------------------------------------------------------------


def test_published_events_are_pruned_after_the_keep_time_and_pending_ones_never(store: Store) -> None:
    store.save([version(seed, minute, f"{minute}.txt") for minute, seed in enumerate(SEEDS[:3])])
    published: list[PendingRow] = []
    Outbox(store).publish_pending(published.extend, limit=2)
    assert len(published) == 2
    backdate = OUTBOX.update().where(OUTBOX.c.id == sa.bindparam("_id")).values(published_at=sa.bindparam("_at"))
    with store.begin() as connection:
        connection.execute(
            backdate,
            [
                {"_id": published[0].id, "_at": datetime.now(UTC) - timedelta(days=8)},
                {"_id": published[1].id, "_at": datetime.now(UTC) - timedelta(days=6)},
            ],
        )
    assert prune_published(store, timedelta(days=7)) == 1
    with store.engine.connect() as connection:
        left = {row[0] for row in connection.exec_driver_sql("SELECT id FROM outbox")}
    assert published[0].id not in left and published[1].id in left and len(left) == 2
    assert Outbox(store).pending() == 1
    assert prune_published(store, timedelta(days=7)) == 0
