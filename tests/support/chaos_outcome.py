"""What a chaos run found (tests/support/chaos.py): the counts that must be 0, figures to read, the
faults injected and, on a long run, whether each process's memory stayed flat."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.support.chaos_faults import Fault


@dataclass
class Outcome:
    """What a run found: the counts that must be 0, figures to read, and the faults injected."""

    counts: dict[str, int]
    figures: dict[str, Any]
    faults: list[Fault]
    skipped: list[str] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)
    memory: dict[str, tuple[bool, str]] = field(default_factory=dict)  # role → (flat, figures)

    @property
    def ok(self) -> bool:
        """Whether every count is 0."""
        return not any(self.counts.values()) and all(flat for flat, _ in self.memory.values())

    def table(self) -> str:
        """The counts, the figures and the fault log, for a person (and CI's log)."""
        lines = ["check                                  count"]
        lines += [f"{name:<38} {value:>6}" for name, value in self.counts.items()]
        lines += ["", "figures"]
        lines += [f"  {name}: {value}" for name, value in self.figures.items()]
        by_kind = Counter(fault.kind for fault in self.faults)
        lines += [
            "",
            f"faults injected: {len(self.faults)} ({', '.join(f'{k} {n}' for k, n in sorted(by_kind.items()))})",
        ]
        lines += [
            f"  +{fault.at:7.1f}s  {fault.kind:<16} {fault.target:<11} {fault.seconds:5.1f}s  {fault.note}"
            for fault in self.faults
        ]
        if self.skipped:
            lines += ["", f"faults skipped: {len(self.skipped)}", *(f"  {line}" for line in self.skipped)]
        for name, values in self.examples.items():
            if values:
                lines += ["", f"{name} (first {len(values)}):", *(f"  {value}" for value in values)]
        if self.memory:
            lines += ["", "memory (each role's own process; children are its parsing processes)"]
            lines += [
                f"  {name:<11} {'flat' if flat else 'GREW'}: {figures}" for name, (flat, figures) in self.memory.items()
            ]
        verdict = "every count is 0" + (" and memory is flat" if self.memory else "")
        lines += ["", "RESULT: " + (verdict if self.ok else "FAILED: a count is not 0 or memory grew")]
        return "\n".join(lines)
