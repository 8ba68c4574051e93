"""The store on real SQLite and PostgreSQL: idempotent, replaceable, queryable, cross-year."""

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.corpus import CORPUS
from worker.adapters.db import DatabaseUnavailable, make_engine
from worker.adapters.queries import Filter, Reader
from worker.adapters.store import Arrival, Outcome, Store
from worker.core import ParseResult, parse_bytes
from worker.events import ReportEvent

SEEDS = sorted((CORPUS / "seeds").glob("*.txt"))
WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def outcome(path: Path, where: str | None = None) -> Outcome:
    data = path.read_bytes()
    arrival = Arrival(where or str(path), len(data), WHEN)
    return Outcome(parse_bytes(data, path.name), data, arrival)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(make_engine(database_url))
    yield store
    store.engine.dispose()


def count(store: Store, table: str, where: str = "") -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table} {where}").scalar_one())


def test_a_report_is_stored_with_cells_issues_content_sighting_and_event(store: Store) -> None:
    (saved,) = store.save([outcome(SEEDS[0])])
    assert saved.created and saved.event_id
    assert count(store, "reports") == 1
    assert count(store, "cells") == 198
    assert count(store, "issues") == 1  # W_NARRATIVE_MISMATCH
    assert count(store, "contents") == 1
    assert count(store, "sightings") == 1
    with store.engine.connect() as connection:
        routing_key, body = connection.exec_driver_sql("SELECT routing_key, body FROM outbox").one()
    event = ReportEvent.model_validate_json(body)
    assert routing_key == "report.valid"
    assert event.id == saved.event_id
    assert event.subject == event.data.source.sha256 == saved.sha256
    assert event.type == "cn.govreport.report.valid.v1"


def test_storing_the_same_result_twice_leaves_one_report_and_one_event(store: Store) -> None:
    first = store.save([outcome(SEEDS[1])])
    again = store.save([outcome(SEEDS[1])])
    assert [s.created for s in first + again] == [True, False]
    assert again[0].event_id is None
    assert again[0].report_id == first[0].report_id
    assert (count(store, "reports"), count(store, "outbox"), count(store, "cells")) == (1, 1, 198)
    assert count(store, "sightings") == 1  # the same path, size and mtime: the same sighting


def test_one_content_under_two_names_is_one_report_seen_twice(store: Store) -> None:
    saved = store.save([outcome(SEEDS[2], "/inbox/a.txt"), outcome(SEEDS[2], "/inbox/copy of a.txt")])
    assert [s.created for s in saved] == [True, False]
    assert (count(store, "reports"), count(store, "sightings"), count(store, "outbox")) == (1, 2, 1)


def test_several_reports_in_one_transaction(store: Store) -> None:
    saved = store.save([outcome(p) for p in SEEDS])
    assert all(s.created for s in saved)
    assert count(store, "reports") == count(store, "outbox") == len(SEEDS)


def test_threads_racing_on_one_sha_store_it_once(store: Store) -> None:
    item = outcome(SEEDS[3])
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def race() -> None:
        barrier.wait()
        try:
            store.save([item])
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (count(store, "reports"), count(store, "outbox"), count(store, "cells")) == (1, 1, 200)


def _save_in_process(url: str, path: str, barrier: "threading.Barrier") -> None:
    barrier.wait()
    Store(make_engine(url)).save([outcome(Path(path))])


def test_processes_racing_on_one_sha_store_it_once(database_url: str, store: Store) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    processes = [
        context.Process(target=_save_in_process, args=(database_url, str(SEEDS[4]), barrier)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert (count(store, "reports"), count(store, "outbox")) == (1, 1)


def test_a_failed_file_is_stored_with_its_reason_and_listed(store: Store) -> None:
    empty = Outcome(parse_bytes(b"", "empty.txt"), b"", Arrival("/inbox/empty.txt", 0, WHEN))
    store.save([empty])
    (listed,) = Reader(store).list(Filter(status="failed", reason="empty"))
    assert (listed.status, listed.failure_reason, listed.filename) == ("failed", "empty", "empty.txt")
    assert count(store, "outbox", "WHERE routing_key = 'report.failed'") == 1
    assert count(store, "cells") == 0


def test_reparse_replaces_cells_and_issues_in_one_go_and_announces_it(store: Store) -> None:
    old = Store(store.engine, parser_version="0.0.1")
    original = outcome(SEEDS[0])
    (first,) = old.save([original])
    changed_cells = dict(original.result.cells)
    changed_cells["active.penalty.decisions"] = 54
    newer = original.result.model_copy(update={"cells": changed_cells, "issues": []})
    saved = store.replace(Outcome(newer, original.data))
    assert saved.report_id == first.report_id and saved.event_id != first.event_id
    stored = Reader(store).get(str(first.report_id))
    assert stored is not None
    assert stored.parser_version == store.parser_version
    assert stored.result.cells["active.penalty.decisions"] == 54
    assert (count(store, "reports"), count(store, "cells"), count(store, "issues"), count(store, "outbox")) == (
        1,
        198,
        0,
        2,
    )
    store.replace(Outcome(newer, original.data))  # the same parse again: no second event
    assert count(store, "outbox") == 2


def _yearly(template_result: ParseResult, year: int, carried_over: int, carried_forward: int) -> Outcome:
    cells = dict(template_result.cells)
    cells["applications.carried_over.total"] = carried_over
    cells["applications.carried_forward.total"] = carried_forward
    meta = template_result.meta.model_copy(update={"organization": "某县某局", "year": year})
    source = template_result.source.model_copy(update={"sha256": f"{year:064d}"})
    return Outcome(template_result.model_copy(update={"cells": cells, "meta": meta, "source": source}))


@pytest.mark.parametrize("order", ["older first", "newer first"])
def test_cross_year_warns_on_the_newer_report_whichever_arrives_first(store: Store, order: str) -> None:
    base = outcome(SEEDS[1]).result
    older, newer = _yearly(base, 2020, 0, 3), _yearly(base, 2021, 2, 0)
    store.save([older] if order == "older first" else [newer])
    store.save([newer] if order == "older first" else [older])
    reader = Reader(store)
    listed = {r.year: r for r in reader.list(Filter(code="W_CROSS_YEAR"))}
    assert set(listed) == {2021}
    stored = reader.get(listed[2021].sha256)
    assert stored is not None
    issue = next(i for i in stored.result.issues if i.code == "W_CROSS_YEAR")
    assert issue.cells == ["applications.carried_over.total"]
    assert stored.result.status == "valid"  # a warning


def test_cells_aggregate_across_reports_in_sql(store: Store) -> None:
    store.save([outcome(p) for p in SEEDS])
    query = sa.text(
        "SELECT r.year, sum(c.value) FROM cells c JOIN reports r ON r.id = c.report_id "
        "WHERE c.key = 'active.penalty.previous' GROUP BY r.year ORDER BY r.year"
    )
    with store.engine.connect() as connection:
        totals = {year: total for year, total in connection.execute(query).all()}  # noqa: C416
    assert totals[2020] == 22 + 49  # seeds 000 and 002


def test_known_and_sightings(store: Store) -> None:
    item = outcome(SEEDS[0])
    assert store.known([item.result.source.sha256]) == set()
    store.save([item])
    assert store.known([item.result.source.sha256, "0" * 64]) == {item.result.source.sha256}
    store.sight([(item.result.source.sha256, Arrival("/elsewhere/r.txt", 1, WHEN))])
    stored = Reader(store).get(item.result.source.sha256[:10])
    # The latest first: `reports show` cuts the list there.
    assert stored is not None and [s.path for s in stored.sightings] == ["/elsewhere/r.txt", str(SEEDS[0])]


def test_an_unreachable_database_is_transient() -> None:
    store = Store(make_engine("postgresql://nobody@127.0.0.1:1/none"))
    with pytest.raises(DatabaseUnavailable):
        store.save([outcome(SEEDS[0])])


@pytest.mark.parametrize("order", ["older first", "newer first"])
def test_cross_year_within_one_batch(store: Store, order: str) -> None:
    base = outcome(SEEDS[1]).result
    older, newer = _yearly(base, 2020, 0, 3), _yearly(base, 2021, 2, 0)
    store.save([older, newer] if order == "older first" else [newer, older])
    listed = Reader(store).list(Filter(code="W_CROSS_YEAR"))
    assert [r.year for r in listed] == [2021]
    assert count(store, "issues", "WHERE code = 'W_CROSS_YEAR'") == 1
