"""Which row a line of values printed without its label belongs to, where the form's order settles it.

Labels and values come apart in real text: a label wrapped over lines with its values on a line of
their own, or (PDF → markdown) a block of labels followed by a block of value lines. Values are
always printed in the form's order, so a value line belongs to a row after every row whose values
were printed before it, and before every row whose values come after it. Within those bounds: one
candidate row takes the line; as many lines as candidate rows pair in order; otherwise (a row
printed blank, or a line whose label was not recognised) a line pairs only with the label printed
right before it. Anything else stays unassigned: a missing value is null, never a value borrowed
from a neighbour. Text that may be the label of a row that was not recognised is a wall: values
never pair across it.
"""

from collections.abc import Callable, Sequence
from enum import Enum
from typing import NamedTuple


class Step(Enum):
    """What happened at one point of the stream."""

    FIXED = "fixed"  # a row's values were printed with its label (or completed one a line)
    LABEL = "label"  # a row's label was printed without values
    VALUES = "values"  # a line of values was printed without a label


# Enum members as module constants: looking one up on its class costs more than the comparison.
_FIXED, _LABEL, _VALUES = Step.FIXED, Step.LABEL, Step.VALUES


class Event(NamedTuple):
    """One step, the row it concerns (LABEL, FIXED), its wall segment and the table reached so far.

    A named tuple: one is made per row and line of values of every report."""

    step: Step
    row: int
    segment: int
    table: int


# fits(event index, row) → whether the values of that event fill that row exactly.
Fits = Callable[[int, int], bool]


def pair(events: Sequence[Event], table_of: Sequence[int], fits: Fits, *, unwalled: int = -1) -> dict[int, int]:
    """The row of each VALUES event (by event index) that the order settles; the rest are absent.
    The row `unwalled` (table 四's, whose band of values no other row could take) pairs across walls."""
    values = [j for j, e in enumerate(events) if e.step is _VALUES]
    if not values:
        return {}
    options = _candidates(events, values, table_of, fits, unwalled)
    assigned: dict[int, int] = {}
    taken: set[int] = set()
    last = -1
    for n, j in enumerate(values):
        if j in assigned:
            continue
        open_rows = _open(options[j], taken, last)
        if not open_rows:
            continue
        block = [
            k for k in values[n:] if k not in assigned and options[k] and _open(options[k], taken, last) == open_rows
        ]
        if len(block) == len(open_rows):
            chosen = dict(zip(block, open_rows, strict=True))
        else:
            row = _adjacent(events, j, open_rows)
            chosen = {j: row} if row is not None else {}
        for k, row in chosen.items():
            assigned[k] = row
            taken.add(row)
            last = max(last, row)
    return assigned


def _open(rows: set[int], taken: set[int], last: int) -> list[int]:
    return sorted(r for r in rows if r not in taken and r > last)


def _candidates(
    events: Sequence[Event], values: list[int], table_of: Sequence[int], fits: Fits, unwalled: int
) -> dict[int, set[int]]:
    """For each line of values (by event index): the rows labelled without values in the same
    wall segment, inside the bounds set by the rows whose values were printed before and after
    the line, and that the line fills exactly."""
    fixed = {e.row for e in events if e.step is _FIXED}
    labelled = [(e.row, e.segment) for e in events if e.step is _LABEL and e.row not in fixed]
    # Per table, the furthest row whose values were printed before each line and the nearest
    # printed after it: a row between them is all the order allows.
    before = _fixed_bounds(events, table_of, range(len(events)), max)
    after = _fixed_bounds(events, table_of, range(len(events) - 1, -1, -1), min)
    options: dict[int, set[int]] = {}
    for j in values:
        here = events[j]
        rows = {row for row, segment in labelled if segment == here.segment or row == unwalled}
        found = set()
        for row in rows:
            table = table_of[row]
            if table < here.table:
                continue  # a later table has begun: this line is none of the earlier table's
            bound = before[j].get(table)
            if bound is not None and bound > row:
                continue
            bound = after[j].get(table)
            if bound is not None and bound < row:
                continue
            if fits(j, row):
                found.add(row)
        options[j] = found
    return options


def _fixed_bounds(
    events: Sequence[Event], table_of: Sequence[int], order: range, keep: Callable[[int, int], int]
) -> dict[int, dict[int, int]]:
    """At each line of values, walking `order`: per table, the `keep` (max or min) of the rows
    whose values were printed strictly before it in that walk."""
    bounds: dict[int, int] = {}
    out: dict[int, dict[int, int]] = {}
    for j in order:
        event = events[j]
        if event.step is _VALUES:
            out[j] = dict(bounds)
        elif event.step is _FIXED:
            table = table_of[event.row]
            bounds[table] = keep(bounds[table], event.row) if table in bounds else event.row
    return out


def _adjacent(events: Sequence[Event], j: int, rows: list[int]) -> int | None:
    """The candidate labelled right before the line: values follow their label."""
    previous = events[j - 1] if j > 0 else None
    if previous is not None and previous.step is _LABEL and previous.row in rows:
        return previous.row
    return None
