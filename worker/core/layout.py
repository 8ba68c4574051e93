"""Space-aligned text (`pdftotext -layout`) read by its columns, as the PDF reader reads x-positions.

A value's column is where it stands, not how many values precede it on its line: a blank printed
as nothing leaves its column empty, and the other values of the column, or the column's header,
say where that column is. Positions are offsets in the text as decoded, counted two ways: in
display columns (CJK two wide, as a terminal shows the text) and in characters (as pdftotext lays
them out); the count under which the table's values line up in columns is used. Each table (its
lines of values between headings, header rows and page breaks) gets its columns from
`worker.core.columns`, the inference the PDF reader uses; each line of values comes out with one
cell per column: "" where nothing is printed, "?" (unreadable: null) where a value stands between
columns. Labels stay text cells before the values; `align` pairs them.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from worker.core.cells import Kind, tokenize_cell
from worker.core.columns import Span, infer_bands_in_order, overlaps, place_line
from worker.core.forms import TEMPLATES
from worker.core.labels import Role, candidates, role

# Lines holding a label and values apart by spaces that make a document space-aligned.
_MIN_LINES = 3
_UNPLACED = "?"
_UNITS = frozenset(("万", "万元", "元", "件", "个", "项", "条", "次"))
_NONE = "无"
# A header line of one cell this long is a heading over the whole table, not a column's header.
_LONE_HEADER = 12
_CHUNK = re.compile(r"[^ \t]+(?: [^ \t]+)*")
_WORD = re.compile(r"[^ \t]+")
_METRICS = ("cols", "chars")


@dataclass(slots=True)
class _Cell:
    text: str
    chars: Span  # character offsets
    cols: Span  # display columns
    value: bool


@dataclass(slots=True)
class _Line:
    number: int
    page: int
    cells: list[_Cell]

    @property
    def values(self) -> list[_Cell]:
        return [c for c in self.cells if c.value]


def read_space_aligned(raw: str, normalized: str) -> tuple[list[list[str]], list[int]] | None:
    """Lines of cells (values in their columns) and the line each came from, or None when the
    text is not space-aligned (tabs, bars, one cell a line): `cells.text_to_numbered_rows` reads it."""
    if "   " not in normalized:
        return None
    norm_lines = normalized.split("\n")
    raw_lines = raw.replace("\r", "").split("\n")
    if len(raw_lines) != len(norm_lines):
        raw_lines = norm_lines  # positions from the normalised text: close, if not exact
    lines = _lines(raw_lines, norm_lines)
    aligned = sum(1 for line in lines if line.values and len(line.cells) > 1)
    if aligned < _MIN_LINES or _separated(norm_lines):
        return None
    rows: list[list[str]] = []
    numbers: list[int] = []
    placed = {i: cells for region, heads in _tables(lines) for i, cells in _Table(lines, region, heads).rows()}
    for i, line in enumerate(lines):
        cells = placed.get(i) or [c.text for c in line.cells]
        if cells:
            rows.append(cells)
            numbers.append(line.number)
    return rows, numbers


def _separated(lines: Sequence[str]) -> bool:
    """Whether the text's table lines are separated by tabs or bars: not space-aligned."""
    return sum(1 for line in lines if "\t" in line.strip() or line.count("|") >= 2) >= _MIN_LINES


def _lines(raw_lines: Sequence[str], norm_lines: Sequence[str]) -> list[_Line]:
    lines: list[_Line] = []
    page = 1
    for number, (raw, norm) in enumerate(zip(raw_lines, norm_lines, strict=True), start=1):
        raw_pieces, norm_pieces = raw.split("\x0c"), norm.split("\x0c")
        if len(raw_pieces) != len(norm_pieces):
            raw_pieces = norm_pieces
        for k, (raw_piece, norm_piece) in enumerate(zip(raw_pieces, norm_pieces, strict=True)):
            page += k > 0  # a form feed ends a page
            cells = _cells(raw_piece if len(raw_piece) == len(norm_piece) else norm_piece, norm_piece)
            if cells:
                lines.append(_Line(number, page, cells))
    return lines


def _cells(src: str, norm: str) -> list[_Cell]:
    """A line's cells: runs of text apart by two spaces or more; values split off on their own."""
    prefix = [0]
    for ch in src:
        prefix.append(prefix[-1] + (2 if unicodedata.east_asian_width(ch) in "WF" else 1))
    cells: list[_Cell] = []
    for chunk in _CHUNK.finditer(norm):
        if not tokenize_cell(chunk.group()):
            continue  # page furniture: `- 3 -`, `1/29`
        words = [(m.start() + chunk.start(), m.end() + chunk.start()) for m in _WORD.finditer(chunk.group())]
        words = _with_units(norm, words)
        first = not cells
        kinds = [_is_value(norm[a:b], first and i == 0) for i, (a, b) in enumerate(words)]
        tail = len(kinds)
        while tail > 0 and kinds[tail - 1]:
            tail -= 1
        if tail:
            a, b = words[0][0], words[tail - 1][1]
            cells.append(_Cell(norm[a:b], Span(a, b), Span(prefix[a], prefix[b]), False))
        for a, b in words[tail:]:
            cells.append(_Cell(norm[a:b], Span(a, b), Span(prefix[a], prefix[b]), True))
    return cells


def _with_units(text: str, words: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`12 万`: a unit printed apart belongs to the number before it."""
    out: list[tuple[int, int]] = []
    for a, b in words:
        if out and text[a:b] in _UNITS:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _is_value(text: str, first: bool) -> bool:
    """A number or a blank mark; a `无` that starts its line may be a character of a label."""
    if text == _NONE and first:
        return False
    tokens = tokenize_cell(text)
    return bool(tokens) and all(t.kind in (Kind.NUMBER, Kind.BLANK) for t in tokens)


def _part_of_a_row(text: str) -> bool:
    """Whether a text is (a piece of) a row or group label rather than a heading or header."""
    return any(candidates(t, text) or role(t, text) is Role.FORM for t in TEMPLATES)


def _tables(lines: Sequence[_Line]) -> list[tuple[list[int], list[int]]]:
    """The tables: runs of lines with values (and the label lines among them) on one page, each
    with the lines above it since the table before (where its headers are). A table ends at a
    page break and at a line of headings or header words."""
    tables: list[tuple[list[int], list[int]]] = []
    current: list[int] = []
    above: list[int] = []
    for i, line in enumerate(lines):
        if current and line.page != lines[current[-1]].page:
            tables.append((current, above))
            current, above = [], []
        if line.values:
            current.append(i)
        elif current and all(_part_of_a_row(c.text) for c in line.cells):
            current.append(i)
        elif current:
            tables.append((current, above))
            current, above = [], [i]
        else:
            above.append(i)
    if current:
        tables.append((current, above))
    return tables


class _Table:
    """One table's columns, and its lines of values placed in them."""

    def __init__(self, lines: Sequence[_Line], region: list[int], above: list[int]) -> None:
        self.lines = lines
        self.region = [i for i in region if lines[i].values]
        self.above = above
        self.metric, self.bands = max((self._columns(m) for m in _METRICS), key=lambda found: found[2])[:2]

    def _spans(self, metric: str, cells: Sequence[_Cell]) -> list[Span]:
        return [c.cols if metric == "cols" else c.chars for c in cells]

    def _columns(self, metric: str) -> tuple[str, tuple[Span, ...], tuple[int, int]]:
        """The bands under one way of counting, and how well the values sit in them."""
        spans = [self._spans(metric, self.lines[i].values) for i in self.region]
        left = min(s.x0 for line in spans for s in line)
        heads: list[Span] = []
        for i in self.above:
            cells = self.lines[i].cells
            if len(cells) == 1 and len(cells[0].text) >= _LONE_HEADER:
                continue
            heads += [s for s in self._spans(metric, cells) if s.x1 > left]
        bands = infer_bands_in_order(spans, heads)
        placed = sum(len(line) - len(place_line(line, bands).ambiguous) for line in spans)
        # Ties go to display columns (listed first): the count the offsets most often are in.
        return metric, bands, (placed, -len(bands))

    def rows(self) -> list[tuple[int, list[str]]]:
        """Each line of values as cells: its text before the values, one cell per column, and any
        text after them."""
        out = []
        for i in self.region:
            cells = self.lines[i].cells
            first = next(k for k, c in enumerate(cells) if c.value)
            values = [c for c in cells[first:] if c.value]
            after = [c.text for c in cells[first:] if not c.value]
            spans = self._spans(self.metric, values)
            placement = place_line(spans, self.bands)
            columns = ["" if k is None else values[k].text for k in placement.bands]
            for k in placement.ambiguous:
                self._unplaced(spans[k], placement.bands, columns)
            out.append((i, [c.text for c in cells[:first]] + columns + after))
        return out

    def _unplaced(self, span: Span, placed: tuple[int | None, ...], columns: list[str]) -> None:
        """A value between columns: every column it could be in reads as unreadable, not as it."""
        near = [b for b, band in enumerate(self.bands) if overlaps(span, band)]
        if not near:
            left = [b for b, band in enumerate(self.bands) if band.x1 <= span.centre]
            right = [b for b, band in enumerate(self.bands) if band.x0 >= span.centre]
            near = [*left[-1:], *right[:1]]
        for band in near:
            if placed[band] is None:
                columns[band] = _UNPLACED
