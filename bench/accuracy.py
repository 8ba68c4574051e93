"""How often the parser is right, or visibly doubtful, on damaged reports — and never silently wrong.

Run from the checkout: `.venv/bin/python bench/accuracy.py [--n N] [--seed S] [--json] [--processes P]`.
Renders N reports across every text shape, template, encoding, script, blank pattern and damage
class (`tests/render_noise.py`, mixed at the rates `draw_noise` gives), a share of them with an
injected error (`tests.render.inject`), parses each with `worker.core.parse_bytes`, and compares
every cell with the truth. A cell a careful reader cannot settle in the printed text
(`Rendered.undetermined`) is right as null or as its number, and wrong as any other number.

Figures: cells right; silent errors (a report called valid with a wrong number); nulls where a
number was printed and determinable; injected errors caught, of those the printed text still
shows (an error whose cells the damage left undetermined cannot be seen by anyone) and of all;
false alarms (an error code on a report with no injected error). Goals at N = 20,000: no silent
error, no false alarm, cells right >= 99.9 %, injected errors caught >= 98 %.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As a script only bench/ is on the path: make `worker` and `tests` importable from the checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.render import (  # noqa: E402  (needs the path set above)
    BLANKS,
    ENCODINGS,
    INJECTABLE,
    ORGS,
    SCRIPTS,
    SHAPES,
    YEARS,
    Blanks,
    Cells,
    Encoding,
    Noise,
    Script,
    Shape,
    draw_noise,
    encode,
    filename_for,
    inject,
    random_cells,
    render_report,
)
from worker.core import parse_bytes  # noqa: E402
from worker.core.checks import check_cells  # noqa: E402
from worker.core.forms import TABLES, TEMPLATES, Template  # noqa: E402

INJECTED_SHARE = 0.3
GOALS = {"silent_errors": 0, "false_alarms": 0, "cells_right_pct": 99.9, "caught_pct": 98.0}
_EXAMPLES = 12
_CHUNK = 50
_COLUMNS = ("reports", "silent", "wrong_in_invalid", "with_misses", "not_caught", "false_alarms", "failed")


@dataclass(frozen=True, slots=True)
class Case:
    """One report to render: everything that decides its bytes and its truth."""

    index: int
    seed: int
    template: Template
    shape: Shape
    blanks: Blanks
    script: Script
    encoding: Encoding
    crlf: bool
    noise: Noise
    code: str | None


@dataclass(frozen=True, slots=True)
class Truth:
    """What a case prints: its cells, the keys a reader cannot settle, the error it carries, its bytes."""

    cells: Cells
    undetermined: frozenset[str]
    code: str | None
    data: bytes


@dataclass(slots=True)
class Outcome:
    """What parsing one case gave, against its truth."""

    case: str
    shape: str
    cells: int = 0
    right: int = 0
    wrong: list[str] = field(default_factory=list)  # a number other than the truth (or for a blank)
    missed: list[str] = field(default_factory=list)  # null where a number was printed and determinable
    status: str = ""
    errors: list[str] = field(default_factory=list)
    code: str | None = None
    visible: bool = False  # the injected error still shows in what a reader can settle

    @property
    def silent(self) -> bool:
        """A report called valid that carries a wrong number."""
        return self.status == "valid" and bool(self.wrong)


def make_case(index: int, seed: int) -> Case:
    """The case of one index: the same seed and index give the same report."""
    rng = random.Random(seed * 1_000_003 + index)
    shape = SHAPES[index % len(SHAPES)]
    code = rng.choice(INJECTABLE) if rng.random() < INJECTED_SHARE else None
    return Case(
        index=index,
        seed=seed,
        template=rng.choice(TEMPLATES),
        shape=shape,
        blanks=rng.choice(BLANKS),
        script=SCRIPTS[1] if rng.random() < 0.25 else SCRIPTS[0],
        encoding=rng.choice(ENCODINGS),
        crlf=rng.random() < 0.2,
        noise=draw_noise(rng, shape),
        code=code,
    )


def render_case(case: Case) -> Truth:
    """Render a case: its cells (with its injected error), what is undetermined, and its bytes."""
    rng = random.Random(f"{case.seed}-{case.index}")
    cells = random_cells(rng, case.template, blanks=case.blanks)
    code = case.code
    if code is not None:
        try:
            cells = inject(cells, case.template, code, rng)
        except ValueError:  # a row total cannot break where a column is blank: another error
            code = "E_IDENTITY"
            cells = inject(cells, case.template, code, rng)
    org, year = rng.choice(ORGS), rng.choice(YEARS[case.template])
    rendered = render_report(
        cells, case.template, case.shape, org=org, year=year, script=case.script, rng=rng, noise=case.noise
    )
    return Truth(cells, rendered.undetermined, code, encode(rendered.text, case.encoding, crlf=case.crlf))


def evaluate(case: Case) -> Outcome:
    """Render, parse and compare one case."""
    truth = render_case(case)
    result = parse_bytes(truth.data, filename_for(case.shape))
    outcome = Outcome(f"{case.seed}:{case.index}", case.shape, status=result.status.value, code=truth.code)
    outcome.errors = sorted({i.code.value for i in result.issues if i.severity.value == "error"})
    for key, value in truth.cells.items():
        got = result.cells.get(key)
        outcome.cells += 1
        right = got == value and (got is None) == (value is None)
        if right or (got is None and key in truth.undetermined):
            outcome.right += 1
        elif got is None:
            outcome.missed.append(key)
        else:
            outcome.wrong.append(key)
    if truth.code is not None:
        settled = {k: None if k in truth.undetermined else v for k, v in truth.cells.items()}
        outcome.visible = truth.code in {i.code.value for i in check_cells(case.template, settled, TABLES)}
    return outcome


def _run_chunk(args: tuple[int, int, int]) -> list[Outcome]:
    start, stop, seed = args
    return [evaluate(make_case(i, seed)) for i in range(start, stop)]


def outcomes(n: int, seed: int, processes: int) -> Iterator[Outcome]:
    """Every case's outcome, in chunks over `processes` processes (in this one when 1)."""
    chunks = [(i, min(i + _CHUNK, n), seed) for i in range(0, n, _CHUNK)]
    if processes <= 1:
        for chunk in chunks:
            yield from _run_chunk(chunk)
        return
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for done in pool.imap_unordered(_run_chunk, chunks):
            yield from done


@dataclass(slots=True)
class Summary:
    """The figures of a run."""

    reports: int = 0
    cells: int = 0
    cells_right: int = 0
    silent_errors: int = 0
    wrong_cells: int = 0
    wrong_in_invalid: int = 0
    missed_cells: int = 0
    reports_with_misses: int = 0
    injected: int = 0
    injected_visible: int = 0
    caught: int = 0
    caught_visible: int = 0
    false_alarms: int = 0
    failed: int = 0
    seconds: float = 0.0
    by_shape: dict[str, Counter[str]] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def cells_right_pct(self) -> float:
        """Share of cells right (a doubtful cell given as null counts as right)."""
        return 100 * self.cells_right / max(self.cells, 1)

    @property
    def caught_pct(self) -> float:
        """Share of the injected errors the printed text still shows that came back as that error."""
        return 100 * self.caught_visible / max(self.injected_visible, 1)

    @property
    def caught_all_pct(self) -> float:
        """Share of all injected errors that came back as that error."""
        return 100 * self.caught / max(self.injected, 1)

    def add(self, o: Outcome) -> None:
        """Count one outcome."""
        self.reports += 1
        self.cells += o.cells
        self.cells_right += o.right
        self.wrong_cells += len(o.wrong)
        self.missed_cells += len(o.missed)
        shape = self.by_shape.setdefault(o.shape, Counter())
        shape["reports"] += 1
        if o.status == "failed":
            self.failed += 1
            shape["failed"] += 1
        if o.silent:
            self.silent_errors += 1
            shape["silent"] += 1
            self._example("silent", f"{o.case} {o.shape} {o.wrong[:4]}")
        elif o.wrong:
            self.wrong_in_invalid += 1
            shape["wrong_in_invalid"] += 1
            self._example("wrong_in_invalid", f"{o.case} {o.shape} {o.wrong[:4]} {o.errors}")
        if o.missed:
            self.reports_with_misses += 1
            shape["with_misses"] += 1
            self._example("missed", f"{o.case} {o.shape} {len(o.missed)} {o.missed[:3]}")
        if o.code is not None:
            self._injected(o, shape)
        elif o.errors:
            self.false_alarms += 1
            shape["false_alarms"] += 1
            self._example("false_alarm", f"{o.case} {o.shape} {o.errors}")

    def _injected(self, o: Outcome, shape: Counter[str]) -> None:
        caught = o.code in o.errors
        self.injected += 1
        self.caught += caught
        if o.visible:
            self.injected_visible += 1
            self.caught_visible += caught
            if not caught:
                shape["not_caught"] += 1
                self._example("not_caught", f"{o.case} {o.shape} {o.code} got {o.errors}")

    def _example(self, kind: str, text: str) -> None:
        found = self.examples.setdefault(kind, [])
        if len(found) < _EXAMPLES:
            found.append(text)

    def goals_met(self) -> bool:
        """Whether every goal of the run holds."""
        return (
            self.silent_errors == GOALS["silent_errors"]
            and self.false_alarms == GOALS["false_alarms"]
            and self.cells_right_pct >= GOALS["cells_right_pct"]
            and self.caught_pct >= GOALS["caught_pct"]
        )

    def figures(self) -> dict[str, object]:
        """Everything, for `--json`."""
        data = asdict(self)
        data["by_shape"] = {k: dict(v) for k, v in self.by_shape.items()}
        data["cells_right_pct"] = round(self.cells_right_pct, 4)
        data["caught_pct"] = round(self.caught_pct, 2)
        data["caught_all_pct"] = round(self.caught_all_pct, 2)
        data["goals_met"] = self.goals_met()
        return data


def measure(n: int, seed: int, processes: int = 1) -> Summary:
    """Run `n` cases and sum them up."""
    started = time.monotonic()
    summary = Summary()
    for outcome in outcomes(n, seed, processes):
        summary.add(outcome)
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


def report(summary: Summary) -> str:
    """The figures for people."""
    s = summary
    lines = [
        f"reports                   {s.reports}  ({s.failed} failed)  in {s.seconds} s",
        f"cells right               {s.cells_right_pct:.3f} %  ({s.cells_right} of {s.cells})",
        f"silent errors             {s.silent_errors}  (valid reports with a wrong number)",
        f"wrong numbers elsewhere   {s.wrong_in_invalid} invalid reports, {s.wrong_cells} wrong cells in all",
        f"nulls where determinable  {s.missed_cells} cells in {s.reports_with_misses} reports",
        f"injected errors caught    {s.caught_pct:.2f} %  ({s.caught_visible} of the {s.injected_visible} the "
        f"printed text shows; {s.caught_all_pct:.2f} % of all {s.injected})",
        f"false alarms              {s.false_alarms}  (an error code on a report with no injected error)",
        "",
        "shape          " + "".join(f"{k:>17}" for k in _COLUMNS),
    ]
    for shape in SHAPES:
        counts = s.by_shape.get(shape, Counter())
        lines.append(f"{shape:<15}" + "".join(f"{counts.get(k, 0):>17}" for k in _COLUMNS))
    for kind, found in s.examples.items():
        lines += ["", f"{kind} (case seed:index, shape, keys):", *(f"  {e}" for e in found)]
    verdict = "met" if s.goals_met() else "NOT met"
    lines += ["", f"goals (silent 0, false alarms 0, cells >= 99.9 %, caught >= 98 %): {verdict}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="reports to render and parse")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--processes", type=int, default=multiprocessing.cpu_count())
    args = parser.parse_args(argv)
    summary = measure(args.n, args.seed, args.processes)
    print(json.dumps(summary.figures(), ensure_ascii=False, indent=1) if args.json else report(summary))
    return 0 if summary.goals_met() else 1


if __name__ == "__main__":
    raise SystemExit(main())
