"""The resident memory of the pipeline's processes, sampled at intervals while a long run goes on
(the soak of issue 12): each role's own process, and its parsing processes together (they are
recycled, so their number and ids change). It prints a line per sample and, at the end, whether each
role's memory stayed flat: a leak shows as a later part of the run that sits higher than an earlier
one, so the medians of the first and the last third (after a warm-up) are compared."""

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.chaos_faults import Role
from tests.support.process import descendants, resident

MIB = 1024 * 1024
# Flat: the last third's median at most this much above the first third's (whichever is larger).
GROWTH_MIB = 10.0
GROWTH_SHARE = 0.10
WARMUP_SHARE = 0.10  # the first samples: imports, pools, caches filling


@dataclass(frozen=True, slots=True)
class Sample:
    """One role at one moment: seconds from the start, its own memory, its children's."""

    at: float
    own: int
    children: int
    children_count: int


class MemoryLog:
    """Samples every role every `every` seconds on a thread of its own, until `stop`."""

    def __init__(self, roles: dict[str, Role], every: float, began: float, say: Callable[[str], None] = print) -> None:
        self.roles = roles
        self.every = every
        self.began = began
        self.say = say
        self.samples: dict[str, list[Sample]] = {name: [] for name in roles}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-log", daemon=True)

    def start(self) -> None:
        """Take the first sample now and go on in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        self._thread.join(self.every + 10)
        self.sample()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.every):
                return

    def sample(self) -> None:
        """Read every role's memory once and print it on one line."""
        at = time.monotonic() - self.began
        parts = []
        for name, role in self.roles.items():
            process = role.process
            if process is None or process.poll() is not None:
                parts.append(f"{name} -")
                continue
            below = descendants(process.pid)
            sample = Sample(at, resident(process.pid), sum(resident(pid) for pid in below), len(below))
            self.samples[name].append(sample)
            parts.append(f"{name} {sample.own / MIB:.0f}" + (f"+{sample.children / MIB:.0f}" if below else ""))
        self.say(f"memory +{at:6.0f}s (MiB, own+children): " + "  ".join(parts))

    def verdicts(self) -> dict[str, tuple[bool, str]]:
        """Per role: whether its own memory stayed flat, and the figures that say so."""
        return {name: _verdict(samples) for name, samples in self.samples.items()}


def _verdict(samples: list[Sample]) -> tuple[bool, str]:
    """Flat when neither the role's own memory nor its total with its children rose from the first
    third of the run to the last by more than allowed."""
    kept = samples[int(len(samples) * WARMUP_SHARE) :]
    if len(kept) < 3:
        return False, f"{len(samples)} samples: too few to tell"
    own_flat, own = _growth(kept, lambda s: s.own)
    total_flat, total = _growth(kept, lambda s: s.own + s.children)
    peak = max(s.own + s.children for s in samples) / MIB
    return own_flat and total_flat, f"{len(samples)} samples; own {own}; with children {total}; peak {peak:.0f} MiB"


def _growth(kept: list[Sample], size: Callable[[Sample], int]) -> tuple[bool, str]:
    third = max(1, len(kept) // 3)
    early = statistics.median(size(s) for s in kept[:third]) / MIB
    late = statistics.median(size(s) for s in kept[-third:]) / MIB
    allowed = max(GROWTH_MIB, early * GROWTH_SHARE)
    return late - early <= allowed, f"{early:.0f} → {late:.0f} MiB ({late - early:+.1f}, allowed +{allowed:.0f})"
