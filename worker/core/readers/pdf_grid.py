"""Ruled tables of a PDF page: the ruling lines give the grid, the grid gives rows of cells.

Real reports draw every cell border (stroked lines or thin filled rectangles). The cell around a
character is bounded by the nearest vertical rulings left and right of it and the nearest
horizontal rulings above and below it that reach it; a cell bounded by rulings further apart than
one grid step spans columns or rows, and is emitted as HTML's colspan/rowspan are (`html._grid`):
one cell in the row where it starts, an empty cell per column it covers in the rows below.
"""

import itertools
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from worker.core.document import Box, Where
from worker.core.readers.pdf_lines import Glyph, Rule, group_lines, has_cuts, join_wrapped, line_text, segments
from worker.core.readers.pdf_unruled import is_value

# Rulings closer than this (points) are one line: a border drawn as a rectangle has two edges.
_SAME = 2.0
# How far a ruling may stop short of the point it should reach (joints are drawn loosely).
_REACH = 2.0
# Rulings shorter than this are decoration (tick marks, underlines of a character), not borders.
_SHORTEST = 3.0
# A table of more grid positions than this is not a report's table: its text is read as lines.
_MAX_POSITIONS = 40_000
# Rulings compared pairwise: more than a page of tables ever has.
_MAX_RULES = 1_500


@dataclass(frozen=True, slots=True)
class _Cell:
    row: int
    column: int
    rows: int
    columns: int
    box: Box


@dataclass(frozen=True, slots=True)
class Grid:
    """One ruled table of a page: its box, rows of raw cells and where each cell is."""

    box: Box
    rows: list[list[str]]
    where: list[list[Where | None]]


def find_grids(rules: Sequence[Rule], glyphs: Sequence[Glyph], page: int) -> tuple[list[Grid], list[Glyph]]:
    """The page's ruled tables, and the glyphs that are in none of them (prose, page numbers)."""
    horizontal = _merge([r for r in rules if r.horizontal and r.end - r.start >= _SHORTEST])[:_MAX_RULES]
    vertical = _merge([r for r in rules if not r.horizontal and r.end - r.start >= _SHORTEST])[:_MAX_RULES]
    tables = [t for t in _components(horizontal, vertical) if len(t[0]) >= 2 and len(t[1]) >= 2]
    layouts = [layout for h, v in tables if (layout := _Layout.build(h, v)) is not None]
    if not layouts:
        return [], list(glyphs)
    inside: list[list[list[Glyph]]] = [[[] for _ in layout.cells] for layout in layouts]
    outside: list[Glyph] = []
    for glyph in glyphs:
        x, y = (glyph.x0 + glyph.x1) / 2, (glyph.top + glyph.bottom) / 2
        for index, layout in enumerate(layouts):
            xs, ys = layout.xs, layout.ys
            if xs[0] < x < xs[-1] and ys[0] < y < ys[-1]:
                cell = layout.at[bisect_right(ys, y) - 1][bisect_right(xs, x) - 1]
                if cell is not None:
                    inside[index][cell].append(glyph)
                    break
        else:
            outside.append(glyph)
    grids: list[Grid] = []
    for layout, cell_glyphs in zip(layouts, inside, strict=True):
        cells = [group_lines(glyphs) if glyphs else [] for glyphs in cell_glyphs]
        if any(_coarse(line) for lines in cells for line in lines):
            # Rulings that do not separate the values (a frame, rules under rows only): the
            # table is read as if it had none, its columns taken from where its values sit.
            outside += [glyph for glyphs in cell_glyphs for glyph in glyphs]
        else:
            grids.append(layout.grid([join_wrapped(line_text(line) for line in lines) for lines in cells], page))
    return [g for g in grids if g.rows], outside


def _coarse(line: list[Glyph]) -> bool:
    """Whether a line of one cell holds what are several cells: pieces far apart of which one is
    a value, or three or more, or two words (not a heading's characters spread over a wide cell)."""
    if not has_cuts(line):
        return False
    pieces = segments(line)
    return any(is_value(p.text) for p in pieces) or len(pieces) > 2 or min(len(p.text) for p in pieces) > 1


def _merge(rules: list[Rule]) -> list[Rule]:
    """Collinear pieces of one ruling as one rule."""
    merged: list[Rule] = []
    level: list[Rule] = []
    for rule in [*sorted(rules, key=lambda r: r.at), None]:
        if rule is not None and (not level or rule.at - level[-1].at <= _SAME):
            level.append(rule)
            continue
        start = len(merged)
        for piece in sorted(level, key=lambda r: r.start):
            last = merged[-1] if len(merged) > start else None
            if last is not None and piece.start <= last.end + _REACH:
                merged[-1] = last._replace(end=max(last.end, piece.end))
            else:
                merged.append(piece._replace(at=level[0].at))
        level = [rule] if rule is not None else []
    return merged


def _crosses(h: Rule, v: Rule) -> bool:
    return h.start - _REACH <= v.at <= h.end + _REACH and v.start - _REACH <= h.at <= v.end + _REACH


def _components(horizontal: list[Rule], vertical: list[Rule]) -> list[tuple[list[Rule], list[Rule]]]:
    """Rulings that touch each other, transitively: one table each."""
    parent = list(range(len(horizontal) + len(vertical)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in enumerate(horizontal):
        for j, v in enumerate(vertical):
            if _crosses(h, v):
                parent[find(i)] = find(len(horizontal) + j)
    groups: dict[int, tuple[list[Rule], list[Rule]]] = {}
    for i, h in enumerate(horizontal):
        groups.setdefault(find(i), ([], []))[0].append(h)
    for j, v in enumerate(vertical):
        groups.setdefault(find(len(horizontal) + j), ([], []))[1].append(v)
    return sorted(groups.values(), key=lambda g: min((r.at for r in g[0]), default=0.0))


def _levels(values: list[float]) -> list[float]:
    levels: list[float] = []
    for value in sorted(values):
        if levels and value - levels[-1] <= _SAME:
            continue
        levels.append(value)
    return levels


class _Layout:
    """The grid of one table: row and column lines, and the cell of every grid position."""

    def __init__(self, ys: list[float], xs: list[float], cells: list[_Cell], at: list[list[int | None]]) -> None:
        self.ys, self.xs, self.cells, self.at = ys, xs, cells, at
        self.box: Box = (xs[0], ys[0], xs[-1], ys[-1])

    @classmethod
    def build(cls, horizontal: list[Rule], vertical: list[Rule]) -> "_Layout | None":
        """The grid of a table's rulings, or None for a grid too large to be a report's table."""
        ys, xs = _levels([r.at for r in horizontal]), _levels([r.at for r in vertical])
        if len(ys) < 2 or len(xs) < 2 or (len(ys) - 1) * (len(xs) - 1) > _MAX_POSITIONS:
            return None
        # Per grid row, the vertical rulings that reach its middle; per grid column, the horizontal ones.
        middles_y = [(a + b) / 2 for a, b in itertools.pairwise(ys)]
        middles_x = [(a + b) / 2 for a, b in itertools.pairwise(xs)]
        across = [sorted(v.at for v in vertical if v.start - _REACH <= y <= v.end + _REACH) for y in middles_y]
        down = [sorted(h.at for h in horizontal if h.start - _REACH <= x <= h.end + _REACH) for x in middles_x]
        found: dict[Box, int] = {}
        cells: list[_Cell] = []
        at: list[list[int | None]] = []
        for r, y in enumerate(middles_y):
            at.append([])
            for c, x in enumerate(middles_x):
                box = _enclosing(x, y, across[r], down[c])
                if box is not None and box not in found:
                    row, column = bisect_right(ys, box[1] + _SAME) - 1, bisect_right(xs, box[0] + _SAME) - 1
                    rows = bisect_right(ys, box[3] + _SAME) - 1 - row
                    columns = bisect_right(xs, box[2] + _SAME) - 1 - column
                    found[box] = len(cells)
                    cells.append(_Cell(row, column, max(rows, 1), max(columns, 1), box))
                at[-1].append(found[box] if box is not None else None)
        return cls(ys, xs, cells, at)

    def grid(self, texts: list[str], page: int) -> Grid:
        """Rows of raw cells (the text of each cell given) in HTML's grid semantics."""
        rows: list[list[str]] = []
        where: list[list[Where | None]] = []
        for r, positions in enumerate(self.at):
            if not any(self.cells[i].row == r for i in positions if i is not None):
                continue  # a grid row where no cell starts prints nothing of its own
            number = len(rows) + 1
            line: list[str] = []
            places: list[Where | None] = []
            c = 0
            while c < len(positions):
                index = positions[c]
                if index is None:  # no cell here: the table's outline is not a rectangle
                    line.append("")
                    places.append(None)
                    c += 1
                elif self.cells[index].row == r:
                    cell = self.cells[index]
                    line.append(texts[index])
                    places.append(Where(page=page, box=cell.box, row=number, column=c + 1))
                    c = max(c + 1, cell.column + cell.columns)
                else:  # covered by a cell that starts in a row above: keeps the column's place
                    line.append("")
                    box = (self.xs[c], self.ys[r], self.xs[c + 1], self.ys[r + 1])
                    places.append(Where(page=page, box=box, row=number, column=c + 1))
                    c += 1
            while line and places[-1] is None:
                line.pop()
                places.pop()
            rows.append(line)
            where.append(places)
        return Grid(self.box, rows, where)


def _enclosing(x: float, y: float, across: list[float], down: list[float]) -> Box | None:
    """The nearest rulings around a point that reach it: the cell the point is in."""
    i, j = bisect_right(across, x), bisect_right(down, y)
    if i == 0 or i == len(across) or j == 0 or j == len(down):
        return None
    return (across[i - 1], down[j - 1], across[i], down[j])
