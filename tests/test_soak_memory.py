"""The soak's memory verdict (tests/support/memory_log.py): flat memory passes, a leak fails, and a
leak in the parsing processes counts as much as one in the role's own process."""

import os

from tests.support.chaos_outcome import Outcome
from tests.support.memory_log import MIB, MemoryLog, Sample, _verdict


def samples(own: list[float], children: list[float] | None = None) -> list[Sample]:
    children = children or [0.0] * len(own)
    return [
        Sample(float(i), int(o * MIB), int(c * MIB), 2 if c else 0)
        for i, (o, c) in enumerate(zip(own, children, strict=True))
    ]


def test_flat_memory_with_noise_is_flat() -> None:
    flat, figures = _verdict(samples([100, 104, 101, 103, 100, 102, 104, 101, 103, 102]))
    assert flat, figures
    assert "own 103 → 102 MiB" in figures and "peak 104 MiB" in figures


def test_steady_growth_is_a_leak() -> None:
    flat, figures = _verdict(samples([100 + 4 * i for i in range(12)]))
    assert not flat, figures


def test_growth_in_the_parsing_processes_is_a_leak_too() -> None:
    flat, figures = _verdict(samples([100] * 12, [200 + 20 * i for i in range(12)]))
    assert not flat, figures


def test_a_warm_up_rise_is_not_a_leak() -> None:
    flat, figures = _verdict(samples([40, 100, 101, 100, 102, 101, 100, 101, 102, 100]))
    assert flat, figures


def test_too_few_samples_cannot_say_flat() -> None:
    assert not _verdict(samples([100, 100]))[0]


def test_memory_that_grew_fails_the_run() -> None:
    outcome = Outcome(counts={"lost": 0}, figures={}, faults=[])
    assert outcome.ok
    outcome.memory = {"consumer-1": (False, "grew"), "watcher": (True, "flat")}
    assert not outcome.ok
    assert "GREW" in outcome.table() and "FAILED" in outcome.table()


def test_a_sample_reads_this_process() -> None:
    class Me:  # a Role as far as the log needs: a process with a pid that is running
        pid = os.getpid()

        def poll(self) -> None:
            return None

    class Role:
        process = Me()

    lines: list[str] = []
    log = MemoryLog({"me": Role()}, every=1.0, began=0.0, say=lines.append)  # type: ignore[dict-item]
    log.sample()
    (sample,) = log.samples["me"]
    assert 10 * MIB < sample.own < 4096 * MIB
    assert lines and lines[0].startswith("memory +")
