"""The parsing pool survives its documents: a process that dies or hangs ends only its own file,
at once and as a failure, and the pool is renewed with the old processes gone."""

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.faults import crash_or_hang, job
from worker.parsing import ParsePool, PoolSettings

pytestmark = pytest.mark.timeout(120)


def _pids(pool: ParsePool) -> set[int]:
    return {p.pid for p in dict(pool.executor._processes or {}).values()}  # type: ignore[attr-defined]


def test_a_crash_fails_only_its_own_file_and_the_pool_is_renewed() -> None:
    pool = ParsePool(PoolSettings(workers=2, seconds=30, memory=None), parse=crash_or_hang)
    try:
        names = ["a.txt", "crash.pdf", "b.txt", "c.txt"]
        results = [p.result for p in pool.run([job(n) for n in names])]
        assert [r.status.value for r in results] == ["valid", "failed", "valid", "valid"]
        crashed = results[1]
        assert crashed.failure is not None and crashed.failure.reason == "internal_error"
        assert "died" in crashed.failure.message
        # The renewed pool works, and parses the next batch normally.
        assert [p.result.status.value for p in pool.run([job("d.txt")])] == ["valid"]
    finally:
        pool.shutdown()


def test_a_document_that_hangs_is_cut_off_and_its_process_killed(tmp_path: Path) -> None:
    pool = ParsePool(PoolSettings(workers=1, seconds=0.5, memory=None), parse=crash_or_hang)
    pid_file = tmp_path / "pid"
    try:
        started = time.monotonic()
        hung = job("hang.pdf", data=str(pid_file).encode(), seconds=0.5)
        results = [p.result for p in pool.run([hung, job("ok.txt", seconds=0.5)])]
        assert time.monotonic() - started < 30
        assert results[0].failure is not None and results[0].failure.reason == "unreadable"
        assert "longer than" in results[0].failure.message
        assert results[1].status == "valid"
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)
    finally:
        pool.shutdown()


def test_the_memory_cap_fails_a_greedy_document_alone() -> None:
    pool = ParsePool(PoolSettings(workers=1, seconds=30, memory=512 * 1024 * 1024), parse=crash_or_hang)
    try:
        greedy, fine = (p.result for p in pool.run([job("greedy.pdf"), job("fine.txt")]))
        assert greedy.failure is not None and greedy.failure.reason == "internal_error"
        assert "MemoryError" in greedy.failure.message or "died" in greedy.failure.message
        assert fine.status == "valid"
    finally:
        pool.shutdown()


def test_shutdown_kills_the_processes() -> None:
    pool = ParsePool(PoolSettings(workers=2, seconds=30, memory=None))
    assert [p.result.status.value for p in pool.run([job("x.txt"), job("y.txt")])] == ["valid", "valid"]
    pids = _pids(pool)
    pool.shutdown()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _collect(pool: ParsePool, changed: threading.Event, wanted: set[int], timeout: float = 60.0) -> list[int]:
    """Tickets in the order they finished, until every one of `wanted` did (or the timeout)."""
    order: list[int] = []
    deadline = time.monotonic() + timeout
    while set(order) < wanted and time.monotonic() < deadline:
        changed.clear()
        order += [ticket for ticket, _ in pool.finished()]
        changed.wait(0.2)
    return order


def test_a_slow_document_holds_up_no_other() -> None:
    pool = ParsePool(PoolSettings(workers=2, seconds=30, memory=None), parse=crash_or_hang)
    changed = threading.Event()
    try:
        slow = pool.start(job("slow.txt", data=b"3"), changed.set)
        time.sleep(0.2)  # the slow one is running before the quick one arrives
        started = time.monotonic()
        quick = pool.start(job("quick.txt"), changed.set)
        first = _collect(pool, changed, {quick})
        assert first == [quick] and time.monotonic() - started < 2.5
        assert pool.in_flight == 1
        assert _collect(pool, changed, {slow}) == [slow]
    finally:
        pool.shutdown()


def test_a_crash_beside_a_slow_document_fails_only_itself() -> None:
    pool = ParsePool(PoolSettings(workers=2, seconds=30, memory=None), parse=crash_or_hang)
    try:
        slow, crashed = pool.run([job("slow.txt", data=b"1"), job("crash.pdf")])
        assert slow.result.status == "valid"
        assert crashed.result.failure is not None and "died" in crashed.result.failure.message
        assert pool.in_flight == 0
    finally:
        pool.shutdown()


def test_abandon_kills_the_parses_in_progress_at_once(tmp_path: Path) -> None:
    pool = ParsePool(PoolSettings(workers=1, seconds=30, memory=None), parse=crash_or_hang)
    pid_file = tmp_path / "pid"
    try:
        pool.start(job("hang.pdf", data=str(pid_file).encode()))
        pool.start(job("waiting.txt"))
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the parse never started"
            time.sleep(0.05)
        started = time.monotonic()
        abandoned = pool.abandon()
        assert time.monotonic() - started < 2
        assert sorted(j.filename for j in abandoned) == ["hang.pdf", "waiting.txt"]
        assert pool.in_flight == 0 and pool.finished() == []
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)
        assert [p.result.status.value for p in pool.run([job("after.txt")])] == ["valid"]
    finally:
        pool.shutdown()


def test_the_processes_are_replaced_after_their_share_without_waiting_for_the_old_ones_to_exit() -> None:
    pool = ParsePool(PoolSettings(workers=2, seconds=30, memory=None, tasks_per_process=3), parse=crash_or_hang)
    try:
        first = pool.executor
        served: list[set[int]] = []
        for round_ in range(4):
            # Two slow parses hold the old processes while the pool is replaced under them.
            names = [f"slow-{round_}-{i}.txt" for i in range(6)]
            results = pool.run([job(name, data=b"0.2") for name in names])
            assert [p.result.status.value for p in results] == ["valid"] * 6
            served.append(_pids(pool))
        assert pool.executor is not first, "the pool was never replaced"
        assert len(set().union(*served)) > 2, "the same two processes parsed everything"
        retired = list(pool._retired)
        assert retired, "no retired pool is finishing"
        deadline = time.monotonic() + 30
        while any(process.is_alive() for executor in retired for process in _processes(executor)):
            assert time.monotonic() < deadline, "a retired pool's processes did not exit"
            time.sleep(0.1)
    finally:
        pool.shutdown()
    assert not any(process.is_alive() for process in _processes(pool.executor))


def _processes(executor: object) -> list[Any]:
    return list(dict(getattr(executor, "_processes", None) or {}).values())
