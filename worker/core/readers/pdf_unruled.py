"""Lines of a PDF outside ruled tables: prose, and tables printed without ruling.

A table without ruling is found by its values (numbers and blank marks on a line). Its value
columns are bands inferred from where the values and the header cells sit (`worker.core.columns`);
each value line carries every band, "" where nothing is printed, so no value shifts column, and
is emitted with its row's label rebuilt as one cell (`pdf_labels`). A table ends at prose or a
heading, and before the header row of a next table (a 第二十条 group of table 二 has columns of
its own).
"""

import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from worker.core.cells import Kind, tokenize_cell
from worker.core.columns import Span, infer_bands, overlaps, place_line
from worker.core.document import Box, Where
from worker.core.readers.pdf_labels import STACKED, Block, find_labels
from worker.core.readers.pdf_lines import Segment, TextLine, box_of

# A line that separates two tables spans at least this many glyph heights (headings, prose).
_SEPARATOR_WIDTH = 4.0
_NONE = "无"
# Marks a value the columns could not place: read as a blank, never as a number of the wrong column.
_UNPLACED = "?"


@dataclass(frozen=True, slots=True)
class Emitted:
    """One output line: its place in reading order and its raw cells with their evidence."""

    page: int
    top: float
    x0: float
    cells: list[str]
    where: list[Where | None]


def is_value(text: str, *, none_word: bool = False) -> bool:
    """Whether a segment is a table value: numbers or blank marks, nothing else. `无` (none, read
    as 0) counts only where asked: a lone 无 may as well be a character of a vertical label."""
    if text.strip() == _NONE:
        return none_word
    tokens = tokenize_cell(unicodedata.normalize("NFKC", text))
    return bool(tokens) and all(t.kind in (Kind.NUMBER, Kind.BLANK) for t in tokens)


def read_lines(lines: Sequence[TextLine]) -> list[Emitted]:
    """Lines outside ruled tables → output lines: tables rebuilt by columns, prose as it is."""
    # A 无 after something else on its line is a value; first on its line it may be a character of
    # a label printed one character per line.
    values = [[s for i, s in enumerate(line.segments) if is_value(s.text, none_word=i > 0)] for line in lines]
    out: list[Emitted] = []
    for start, end in _regions(lines, values):
        if any(values[start:end]):
            out += _Table(lines[start:end], values[start:end]).rows()
        else:
            out += [_plain(line) for line in lines[start:end]]
    return out


def _plain(line: TextLine) -> Emitted:
    where: list[Where | None] = [Where(page=line.page, box=s.box) for s in line.segments]
    return Emitted(line.page, line.top, line.box[0], [s.text for s in line.segments], where)


def _regions(lines: Sequence[TextLine], values: list[list[Segment]]) -> list[tuple[int, int]]:
    """Runs of lines that are one table each (or prose): a table ends at a separator (prose, a
    heading, a heading row spanning the columns) and before a header row that follows values."""
    value_left = [min(s.x0 for s in v) if v else None for v in values]
    below: list[float | None] = [None] * len(lines)
    nearest: float | None = None
    for i in range(len(lines) - 1, -1, -1):
        below[i] = nearest
        nearest = value_left[i] if value_left[i] is not None else nearest
    regions: list[tuple[int, int]] = []
    start = 0
    # Where the values of the table above start (the leftmost of them: a column may be blank),
    # and where its labels end.
    above: float | None = None
    labels_end: float | None = None
    seen_values = False
    for i, line in enumerate(lines):
        left = value_left[i]
        if left is not None:
            if not seen_values or above is None:
                above, labels_end = left, None
            above = min(above, left)
            ends = [s.x1 for s in line.segments if s.x1 <= left and s.text.strip() != _NONE]
            if labels_end is not None:
                ends.append(labels_end)
            labels_end = max(ends, default=None)
            seen_values = True
            continue
        if _separates(lines, i, [x for x in (above, below[i]) if x is not None]):
            regions += [(start, i), (i, i + 1)]
            start, seen_values = i + 1, False
        elif seen_values and above is not None and _is_header(line, above, labels_end):
            regions.append((start, i))
            start, seen_values = i, False
    regions.append((start, len(lines)))
    return [(a, b) for a, b in regions if a < b]


def _separates(lines: Sequence[TextLine], i: int, value_lefts: list[float]) -> bool:
    """A wide line of one piece (prose, a heading) that reaches over where the values of the
    tables around it are printed; a heading row spanning a table reaches over both."""
    line = lines[i]
    if len(line.segments) != 1:
        return False
    segment = line.segments[0]
    if segment.x1 - segment.x0 < _SEPARATOR_WIDTH * segment.height or not value_lefts:
        return False
    if all(segment.x1 > left + segment.height for left in value_lefts):
        return True
    # A line reaching over the values of only one of them is a heading between tables, unless it
    # is stacked on a line of its own cell (a wrapped label).
    return segment.x1 > min(value_lefts) + segment.height and not _stacked(lines, i)


def _stacked(lines: Sequence[TextLine], i: int) -> bool:
    segment = lines[i].segments[0]
    span = Span(segment.x0, segment.x1)
    for j in (i - 1, i + 1):
        if not 0 <= j < len(lines) or lines[j].page != lines[i].page:
            continue
        for other in lines[j].segments:
            gap = max(other.box[1] - segment.box[3], segment.box[1] - other.box[3])
            if gap <= STACKED * segment.height and overlaps(span, Span(other.x0, other.x1)):
                return True
    return False


def _is_header(line: TextLine, value_left: float, labels_end: float | None) -> bool:
    """Cells side by side past the labels (over the columns of values): a next table's header."""
    if labels_end is not None:
        return sum(1 for s in line.segments if s.x0 > labels_end) >= 2
    return sum(1 for s in line.segments if s.x1 > value_left + s.height) >= 2


class _Table:
    """One table printed without ruling: its bands, label blocks and rows."""

    def __init__(self, lines: Sequence[TextLine], values: list[list[Segment]]) -> None:
        self.lines = lines
        self.height = statistics.median(s.height for line in lines for s in line.segments)
        # The labels printed on lines of values: what is left of the values (a 无 is a value).
        leading = [
            [s for s in line.segments if s.x1 <= v[0].x0 and s.text.strip() != _NONE]
            for line, v in zip(lines, values, strict=True)
            if v
        ]
        first_value = min(s.x0 for v in values for s in v)
        self.label_left = min((s.x0 for row in leading for s in row), default=None)
        self.label_right = max((s.x1 + 0.01 for row in leading for s in row), default=first_value - self.height / 2)
        self.labels: list[list[Segment]] = []
        self.band_cells: list[list[Segment]] = []
        for line in lines:
            self.labels.append([s for s in line.segments if s.x0 < self.label_right and not is_value(s.text)])
            self.band_cells.append([s for s in line.segments if s.x0 >= self.label_right or is_value(s.text)])
        filled = [[s for s in cells if is_value(s.text, none_word=True)] for cells in self.band_cells]
        self.is_values = [bool(v) for v in filled]
        spans = [[Span(s.x0, s.x1) for s in v] for v in filled if v]
        self.bands = infer_bands(spans, self._headers(infer_bands(spans)[0]))

    def _headers(self, first_band: Span) -> list[Span]:
        """Header cells: what stands over the columns above the first values, side by side, or a
        lone narrow cell (centred in a taller header row); a lone wide one is a heading spanning
        the table, and the label column's own header (`信息内容`) is no column of values."""
        first = self.is_values.index(True)
        headers: list[Span] = []
        for cells in self.band_cells[:first]:
            ordered = sorted(cells, key=lambda s: s.x0)
            for k, s in enumerate(ordered):
                if len(cells) == 1 and s.x1 - s.x0 >= _SEPARATOR_WIDTH * s.height:
                    continue
                span = Span(s.x0, s.x1)
                # The label column's header is centred in a column that starts where the labels
                # do and ends before the next header cell (or the first values).
                if k == 0 and self.label_left is not None:
                    limit = ordered[1].x0 if len(ordered) > 1 else first_band.x0
                    if 2 * span.centre - self.label_left <= limit:
                        continue
                headers.append(span)
        return headers

    def rows(self) -> list[Emitted]:
        """The table as output lines, top to bottom."""
        pieces = [(line.page, s) for line, labels in zip(self.lines, self.labels, strict=True) for s in labels]
        values = {i: (line.page, self._value_box(i)) for i, line in enumerate(self.lines) if self.is_values[i]}
        labels = find_labels(pieces, values, self.height)
        out = [_block_line(block) for block in labels.loose]
        for i, line in enumerate(self.lines):
            if i in values:
                out.append(self._value_row(i, labels.own[i], labels.groups.get(i, [])))
            elif self.band_cells[i]:
                cells = self.band_cells[i]
                where: list[Where | None] = [Where(page=line.page, box=s.box) for s in cells]
                out.append(Emitted(line.page, line.top, cells[0].x0, [s.text for s in cells], where))
        return out

    def _value_box(self, i: int) -> Box:
        return box_of(s.box for s in self.band_cells[i])

    def _value_row(self, i: int, label: Block | None, groups: list[Block]) -> Emitted:
        line = self.lines[i]
        leading = [*sorted(groups, key=lambda b: b.box[0]), *([label] if label is not None else [])]
        cells = [block.text for block in leading]
        where: list[Where | None] = [Where(page=block.page, box=block.box) for block in leading]
        values = self.band_cells[i]
        placement = place_line([Span(s.x0, s.x1) for s in values], self.bands)
        band_cells = ["" if index is None else values[index].text for index in placement.bands]
        stray: list[Segment] = []
        for index in placement.ambiguous:
            if is_value(values[index].text, none_word=True):
                self._unplaced(values[index], placement.bands, band_cells)
            else:
                stray.append(values[index])
        top, bottom = self._value_box(i)[1::2]
        for band, placed in zip(self.bands, placement.bands, strict=True):
            box = values[placed].box if placed is not None else (band.x0, top, band.x1, bottom)
            where.append(Where(page=line.page, box=box))
        cells += band_cells + [s.text for s in stray]
        where += [Where(page=line.page, box=s.box) for s in stray]
        row_top = min([top, *(b.box[1] for b in leading)])
        return Emitted(line.page, row_top, line.box[0], cells, where)

    def _unplaced(self, segment: Segment, placed: tuple[int | None, ...], cells: list[str]) -> None:
        """A value between columns: every column it could be in reads as unreadable, not as it."""
        span = Span(segment.x0, segment.x1)
        near = [b for b, band in enumerate(self.bands) if overlaps(span, band)]
        if not near:
            left = [b for b, band in enumerate(self.bands) if band.x1 <= span.centre]
            right = [b for b, band in enumerate(self.bands) if band.x0 >= span.centre]
            near = [*left[-1:], *right[:1]]
        for band in near:
            if placed[band] is None:
                cells[band] = _UNPLACED


def _block_line(block: Block) -> Emitted:
    box = block.box
    return Emitted(block.page, box[1], box[0], [block.text], [Where(page=block.page, box=box)])
