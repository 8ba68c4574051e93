"""The columns of one space-aligned table, counted in display columns or in characters.

`layout` cuts `-layout` text into lines of cells with both offsets and into tables; here each
table's values get their columns (`worker.core.columns`, as the PDF reader's do), the count that
lines them up is chosen, and each line of values comes out with one cell per column.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from functools import cached_property, lru_cache
from operator import itemgetter
from typing import NamedTuple

from worker.core.columns import (
    Extent,
    Placement,
    Span,
    add_header_columns,
    bands_in_order,
    infer_bands_near,
    overlapped,
    overlaps,
    place_lines,
)
from worker.core.labels import header_piece

# The two ways of counting an offset: display columns (CJK two wide) and characters.
METRICS = ("cols", "chars")
# A header line of one cell this long (characters) is a heading over the table, not a column's
# header (`第二十条第(一)项`); a lone narrow one (`总计`) is a header centred in a taller cell.
LONE_HEADER = 4
# How far (columns or characters) values of one column may stray from each other in `-layout` text.
_WANDER = 2
# Lines above a table's values where its header cells may be.
_HEADER_LINES = 8
_UNPLACED = "?"


class Cell(NamedTuple):
    """One cell of a line: its text, its offsets both ways, and whether it is a value.

    A named tuple: lines make dozens, and a dataclass costs several times more to build."""

    text: str
    char0: int  # character offsets
    char1: int
    col0: int  # display columns
    col1: int
    value: bool


class Line(NamedTuple):
    """One line of the text (its number, its page) as cells.

    A named tuple, built at C speed from what `layout` caches of a line's text: a report makes
    dozens, and a dataclass costs several times more to build."""

    number: int
    page: int
    cells: tuple[Cell, ...]
    # The cells that are values, and the index of the first (-1: none): asked for again and
    # again, and a line's cells never change.
    values: tuple[Cell, ...]
    first: int
    texts: tuple[str, ...]  # the cells' texts: the line as read when its values need no columns


def _looseness(bands: Sequence[Span], lines: Sequence[Sequence[Extent]], placements: Sequence[Placement]) -> float:
    """How much wider the bands are than the widest value in each, past what values wander:
    values of one column, counted right, stand at the same place."""
    widest = [0.0] * len(bands)
    for line, placement in zip(lines, placements, strict=True):
        for band, index in enumerate(placement.bands):
            if index is not None:
                x0, x1 = line[index]
                width = x1 - x0
                if width > widest[band]:
                    widest[band] = width
    return sum(max(0.0, b.x1 - b.x0 - w - _WANDER) for b, w in zip(bands, widest, strict=True))


def _misfit(bands: Sequence[Span], leaves: Sequence[Span]) -> float:
    """How far the columns stand from the headers over them: the least total distance of
    centres, matching bands to headers in order (a header may head a column left blank), in
    headers' spacings (so that display columns and characters compare)."""
    if not leaves:
        return 0.0
    heads = sorted([(x0 + x1) / 2 for x0, x1 in leaves])  # `h.centre`, written out
    spacing = (heads[-1] - heads[0]) / (len(heads) - 1) if len(heads) > 1 else 1.0
    if len(bands) > len(heads):
        return float("inf")
    inf = float("inf")
    # The table over bands i and headers j: row[j] = min(row[j - 1], cost[j - 1] + |at - heads[j - 1]|),
    # the running least. Band i (from 0) can only be matched to header i or later, and must leave
    # a header for each band after it: only j in [i + 1, i + 1 + slack] can be finite and reach
    # the answer, the rest are inf or never read. Each band's row is kept for that window alone
    # (`cost[t]` is row[i + t] of the band before), the same sums in the same order.
    slack = len(heads) - len(bands)
    cost = [0.0] * (slack + 1)
    for i, (x0, x1) in enumerate(bands):
        at = (x0 + x1) / 2  # `band.centre`
        least = inf
        row = []
        for before, centre in zip(cost, heads[i : i + slack + 1], strict=True):
            here = before + abs(at - centre)
            if here < least:
                least = here
            row.append(least)
        cost = row
    return cost[-1] / max(spacing, 1.0)


def _stacked(rows: list[list[tuple[str, Extent]]]) -> list[Extent]:
    """Header cells, a header wrapped over lines counted once: a cell under a cell of a line
    above, the only one of its line under it, continues it (`本年制发` / `件数`) unless the two
    are different headers (`法人或其他组织` over the `社会公益` it spans)."""
    heads: list[Extent] = []
    for k, cells in enumerate(rows):
        for text, span in cells:
            over = _last_over(rows, k, span)
            if over is not None and _count_inside(cells, over[1]) == 1:
                parent = over[0]
                if _header_piece(parent + text) or not (_header_piece(parent) and _header_piece(text)):
                    continue
            heads.append(span)
    return heads


def _count_inside(cells: list[tuple[str, Extent]], outer: Extent) -> int:
    """How many of a line's cells lie under `outer`: inside it, give or take one."""
    low, high = outer[0] - 1, outer[1] + 1
    count = 0
    for _, (s0, s1) in cells:
        if low <= s0 and s1 <= high:
            count += 1
    return count


def _last_over(rows: list[list[tuple[str, Extent]]], k: int, span: Extent) -> tuple[str, Extent] | None:
    """The last header cell, in reading order, of the lines before line `k`, that `span` lies under."""
    s0, s1 = span
    for i in range(k - 1, -1, -1):  # `reversed(rows[:k])` without copying the lines
        cells = rows[i]
        for cell in reversed(cells):
            o0, o1 = cell[1]
            if o0 - 1 <= s0 and s1 <= o1 + 1:  # inside it, give or take one
                return cell
    return None


# The same header words recur in every table of every report.
_header_piece = lru_cache(maxsize=4096)(header_piece)


@lru_cache(maxsize=256)
def _header_leaves(rows: tuple[tuple[tuple[Cell, ...], bool], ...], metric: str) -> tuple[Span, ...]:
    """The leaves of header lines, each line's cells with whether its first cell heads the labels
    (left out). Cached: a form's header lines recur report after report (`layout` caches a line's
    cells, so that the same lines are the same tuples)."""
    at = _extent(metric)
    heads = [[(c.text, at(c)) for c in (cells[1:] if labels else cells)] for cells, labels in rows]
    return tuple(_leaves(_stacked(heads))) if heads else ()


def _leaves(heads: list[Extent]) -> list[Span]:
    """Headers over one column: no narrower header stands under them (`法人或其他组织` spans five);
    two at one place (`申请人情况` centred over `社会公益组`) are one."""
    unique = sorted(set(heads))
    starts = [h0 for h0, _ in unique]
    leaves = []
    for h0, h1 in unique:
        low, high, width = h0 - 1, h1 + 1, h1 - h0
        # Only a header starting within `low`..`high` can lie inside this one (a header ends
        # after it starts): the others are not looked at, a wide table has dozens of headers.
        for o0, o1 in unique[bisect_left(starts, low) : bisect_right(starts, high)]:
            if o1 <= high and o1 - o0 < width:
                break
        else:
            leaves.append(Span(h0, h1))
    return leaves


class _Count:
    """A table's columns under one way of counting offsets, its lines placed in them, and how
    well they sit (`score`, higher is better).

    What a score is made of is worked out when asked for: two counts are ranked by the values
    they place first (`_ranked`), and where those differ the rest of either score, or where one
    count cannot place as many values as the other does the placements of the former, are never
    looked at."""

    def __init__(
        self,
        metric: str,
        spans: list[list[Extent]],
        found: tuple[Span, ...],
        bands: tuple[Span, ...],
        leaves: tuple[Span, ...],
    ) -> None:
        """`found`: the bands of the values alone; `bands`: those and the headers' own."""
        self.metric = metric
        self.spans = spans
        self.found = found
        self.bands = bands
        self.leaves = leaves
        self.headers = len(leaves)  # how many headers over single columns

    @cached_property
    def placements(self) -> list[Placement]:
        """Where each line's values go in the bands."""
        return place_lines(self.spans, self.bands)

    @cached_property
    def placed(self) -> int:
        """How many values find their one column."""
        return sum(len(line) - len(p.ambiguous) for line, p in zip(self.spans, self.placements, strict=True))

    def most_placed(self) -> int:
        """As many values as could find their one column: a band holds one value of a line."""
        width = len(self.bands)
        return sum(len(line) if len(line) < width else width for line in self.spans)

    @cached_property
    def score(self) -> tuple[float, ...]:
        """Values placed, looseness, columns found and misfit of the headers, each negated where
        less is better."""
        found = self.found
        placements = self.placements if self.bands == found else place_lines(self.spans, found)
        loose = _looseness(found, self.spans, placements)
        return (self.placed, -loose, -len(found), -_misfit(self.bands, self.leaves))


def _ranked(counts: list[_Count]) -> tuple[list[_Count], bool]:
    """The counts best first (`sorted` by score; on a tie the first listed, display columns: the
    count the offsets most often are in), and whether the first two differ in what the values
    alone tell (score[:3]): the scores' tails are worked out only for counts that place as many
    values."""
    if len(counts) < 2:
        return counts, False
    first, second = counts
    if second.most_placed() < first.placed:
        return counts, True  # the second's placements are not needed
    if first.placed != second.placed:
        return (counts if first.placed > second.placed else [second, first]), True
    a, b = first.score, second.score
    return [second, first] if b > a else counts, a[:3] != b[:3]


def _extent(metric: str) -> Callable[[Cell], Extent]:
    # `(c.col0, c.col1)` or `(c.char0, c.char1)`, at C speed: asked for every header cell.
    return _COLS if metric == "cols" else _CHARS


_COLS: Callable[[Cell], Extent] = itemgetter(Cell._fields.index("col0"), Cell._fields.index("col1"))
_CHARS: Callable[[Cell], Extent] = itemgetter(Cell._fields.index("char0"), Cell._fields.index("char1"))


class Table:
    """One table's columns, and its lines of values placed in them."""

    def __init__(
        self, lines: Sequence[Line], region: list[int], above: list[int], metrics: Sequence[str] = METRICS
    ) -> None:
        """`metrics`: the ways of counting to weigh (one, when the document's way is known)."""
        self.lines = lines
        self.region = [i for i in region if lines[i].values]
        self.above = above
        self.best: _Count | None = None
        self.settled = False
        self.counts: list[_Count] = []
        self._clear = False
        self._heads: dict[str, tuple[Span, ...]] = {}
        counts = {len(lines[i].values) for i in self.region}
        if len(counts) == 1 and all(len(self._headers(m)) <= min(counts) for m in metrics):
            return  # every line prints every column its headers show: the order places the values
        values = [lines[i].values for i in self.region]
        self.spans = {m: _spans(m, values) for m in metrics}
        self.counts, self._clear = _ranked([self._count(m) for m in metrics])

    @property
    def clear(self) -> str | None:
        """The way of counting the values alone choose (their columns line up under it), if any."""
        return self.counts[0].metric if self._clear else None

    def decide(self, document: str | None) -> None:
        """Take the count the values choose, else the one the document's other tables chose, else
        the one the headers fit best if it places the values as the other does."""
        if not self.counts:
            return
        best, other = self.counts if len(self.counts) == 2 else (self.counts[0], self.counts[0])
        chosen = best if self._clear or document is None else next(c for c in self.counts if c.metric == document)
        # More columns than the headers show: values strayed into bands of their own.
        strayed = 0 < chosen.headers < len(chosen.bands)
        self.best = chosen
        self.settled = bool(self._clear or document or _agree(best, other)) and not strayed

    def _count(self, metric: str) -> _Count:
        """The bands under one way of counting, and how well the values sit in them: under the
        right count the values of a column line up (tight bands, few of them) and stand under
        their headers; under the wrong one, labels of different lengths scatter them."""
        spans = self.spans[metric]
        leaves = self._headers(metric)
        bands = bands_in_order(spans, _WANDER)
        if bands is None:
            bands = infer_bands_near(spans, _WANDER)  # what the check below would turn to
        else:
            ends = [band.x1 for band in bands]
            under = [b for h in leaves for b in overlapped(h, bands, ends)]
            if len(set(under)) < len(under):
                # The fullest lines miss different columns: their i-th values are no one column.
                bands = infer_bands_near(spans, _WANDER)
        return _Count(metric, spans, bands, add_header_columns(bands, leaves), leaves)

    def _headers(self, metric: str) -> tuple[Span, ...]:
        """The header cells over single columns of values, from the lines above the table."""
        heads = self._heads.get(metric)
        if heads is None:
            heads = self._heads[metric] = self._find_headers(metric)
        return heads

    def _find_headers(self, metric: str) -> tuple[Span, ...]:
        at = _extent(metric)
        # The first header cell of a table with labels, nearer the labels than the values, heads
        # the labels (`信息内容`, the note of table 三), not a column of values.
        # A line's cells run left to right: its labels end where its last label ends, and its
        # values start where its first value does.
        region = [self.lines[i] for i in self.region]
        labels = [at(line.cells[line.first - 1])[1] for line in region if line.first]
        left = min([at(line.cells[line.first])[0] for line in region])
        middle = (max(labels) + left) / 2 if labels else -1.0
        rows: list[tuple[tuple[Cell, ...], bool]] = []
        for i in self.above[-_HEADER_LINES:]:
            cells = self.lines[i].cells
            if len(cells) == 1 and len(cells[0].text) >= LONE_HEADER:
                continue
            rows.append((cells, sum(at(cells[0])) / 2 < middle))
        return _header_leaves(tuple(rows), metric)

    def rows(self) -> list[tuple[int, list[str]]]:
        """Each line of values as cells: its text before the values, one cell per column (or,
        with the columns unsettled or not needed, its values alone), and any text after them."""
        if not self.settled or self.best is None:  # `decide` settles a table with its best count
            return [(i, list(self.lines[i].texts)) for i in self.region]
        out = []
        bands = self.best.bands
        for i, spans, placement in zip(self.region, self.spans[self.best.metric], self.best.placements, strict=True):
            line = self.lines[i]
            cells, values, first = line.cells, line.values, line.first
            # The cells from the first value on are the values, and any text after them.
            after = [c.text for c in cells[first:] if not c.value] if first + len(values) < len(cells) else []
            columns = ["" if k is None else values[k].text for k in placement.bands]
            for k in placement.ambiguous:
                _unplaced(spans[k], bands, placement.bands, columns)
            out.append((i, [*line.texts[:first], *columns, *after]))
        return out


def _spans(metric: str, lines: Sequence[Sequence[Cell]]) -> list[list[Extent]]:
    """Where each line's values stand under one way of counting: bare pairs (`(c.col0, c.col1)`),
    taken at C speed, where a `Span` each would cost several times more (a table's values make
    hundreds)."""
    at = _extent(metric)
    return [list(map(at, cells)) for cells in lines]


def _agree(best: _Count, other: _Count) -> bool:
    """Whether two counts place every line's values in the same bands."""
    return [p.bands for p in best.placements] == [p.bands for p in other.placements]


def _unplaced(span: Extent, bands: Sequence[Span], placed: tuple[int | None, ...], columns: list[str]) -> None:
    """A value between columns: every column it could be in reads as unreadable, not as it."""
    value = Span(*span)
    near = [b for b, band in enumerate(bands) if overlaps(value, band)]
    if not near:
        left = [b for b, band in enumerate(bands) if band.x1 <= value.centre]
        right = [b for b, band in enumerate(bands) if band.x0 >= value.centre]
        near = [*left[-1:], *right[:1]]
    for band in near:
        if placed[band] is None:
            columns[band] = _UNPLACED
