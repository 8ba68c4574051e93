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
from dataclasses import dataclass
from enum import Enum


class Step(Enum):
    """What happened at one point of the stream."""

    FIXED = "fixed"  # a row's values were printed with its label (or completed one a line)
    LABEL = "label"  # a row's label was printed without values
    VALUES = "values"  # a line of values was printed without a label


@dataclass(frozen=True, slots=True)
class Event:
    """One step, the row it concerns (LABEL, FIXED), its wall segment and the table reached so far."""

    step: Step
    row: int
    segment: int
    table: int


# fits(event index, row) → whether the values of that event fill that row exactly.
Fits = Callable[[int, int], bool]


def pair(events: Sequence[Event], table_of: Sequence[int], fits: Fits, *, unwalled: int = -1) -> dict[int, int]:
    """The row of each VALUES event (by event index) that the order settles; the rest are absent.
    The row `unwalled` (table 四's, whose band of values no other row could take) pairs across walls."""
    values = [j for j, e in enumerate(events) if e.step is Step.VALUES]
    if not values:
        return {}
    options = {j: _candidates(events, j, table_of, fits, unwalled) for j in values}
    assigned: dict[int, int] = {}
    taken: set[int] = set()
    last = -1
    for n, j in enumerate(values):
        if j in assigned:
            continue
        open_rows = sorted(r for r in options[j] if r not in taken and r > last)
        if not open_rows:
            continue
        block = [k for k in values[n:] if k not in assigned and _open(options[k], taken, last) == open_rows]
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


def _candidates(events: Sequence[Event], j: int, table_of: Sequence[int], fits: Fits, unwalled: int) -> set[int]:
    """Rows labelled without values in the same wall segment, inside the bounds set by the rows
    whose values were printed before and after the line, and that the line fills exactly."""
    here = events[j]
    fixed = {e.row for e in events if e.step is Step.FIXED}
    rows = {
        e.row
        for e in events
        if e.step is Step.LABEL and (e.segment == here.segment or e.row == unwalled) and e.row not in fixed
    }
    fixed_before = [e.row for e in events[:j] if e.step is Step.FIXED]
    fixed_after = [e.row for e in events[j + 1 :] if e.step is Step.FIXED]
    found = set()
    for row in rows:
        table = table_of[row]
        if table < here.table:
            continue  # a later table has begun: this line is none of the earlier table's
        if any(f > row and table_of[f] == table for f in fixed_before):
            continue
        if any(f < row and table_of[f] == table for f in fixed_after):
            continue
        if fits(j, row):
            found.add(row)
    return found


def _adjacent(events: Sequence[Event], j: int, rows: list[int]) -> int | None:
    """The candidate labelled right before the line: values follow their label."""
    previous = events[j - 1] if j > 0 else None
    if previous is not None and previous.step is Step.LABEL and previous.row in rows:
        return previous.row
    return None
