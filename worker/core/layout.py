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
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

from worker.core.cells import Kind, tokenize_cell
from worker.core.forms import TEMPLATES
from worker.core.labels import Role, candidates, role
from worker.core.layout_columns import LONE_HEADER, METRICS, Cell, Line, Table

# Lines holding a label and values apart by spaces that make a document space-aligned.
_MIN_LINES = 3
_UNITS = frozenset(("万", "万元", "元", "件", "个", "项", "条", "次"))
_NONE = "无"
# Led by a class, not a repeat (`[^ \t]+`): the regex engine then skips spaces at C speed.
_CHUNK = re.compile(r"[^ \t][^ \t]*(?: [^ \t]+)*")
_WORD = re.compile(r"[^ \t][^ \t]*")


def read_space_aligned(raw: str, normalized: str) -> tuple[list[list[str]], list[int]] | None:
    """Lines of cells (values in their columns) and the line each came from, or None when the
    text is not space-aligned (tabs, bars, one cell a line): `cells.text_to_numbered_rows` reads it."""
    if "   " not in normalized:
        return None
    norm_lines = normalized.split("\n")
    if _separated(norm_lines):
        return None  # asked first: tab and bar reports with spaces in them need no cells cut
    raw_lines = raw.replace("\r", "").split("\n")
    if len(raw_lines) != len(norm_lines):
        raw_lines = norm_lines  # positions from the normalised text: close, if not exact
    lines = _lines(raw_lines, norm_lines)
    aligned = sum(1 for line in lines if line.values and len(line.cells) > 1)
    if aligned < _MIN_LINES:
        return None
    rows: list[list[str]] = []
    numbers: list[int] = []
    tables, document = _measured(lines)
    placed: dict[int, list[str]] = {}
    for table in tables:
        table.decide(document)
        placed.update(table.rows())
    for i, line in enumerate(lines):
        cells = placed.get(i) or [c.text for c in line.cells]
        if cells:
            rows.append(cells)
            numbers.append(line.number)
    return rows, numbers


def _measured(lines: Sequence[Line]) -> tuple[list[Table], str | None]:
    """The tables, and the way of counting offsets the document is laid out in, if its values
    tell. One document is laid out one way: tables whose values cannot tell follow those that can.

    Weighing both ways costs the most of a table, so the table printing the most values is
    weighed first; when it tells, another table is read that way alone if every value of it
    finds its one column so, and weighed both ways (as it would be without the lead) otherwise."""
    regions = _tables(lines)
    if not regions:
        return [], None
    sizes = [sum(len(lines[i].values) for i in region) for region, _ in regions]
    most = sizes.index(max(sizes))
    lead = Table(lines, *regions[most])
    tables = []
    for k, region in enumerate(regions):
        table = lead if k == most else Table(lines, *region, metrics=(lead.clear,) if lead.clear else METRICS)
        if len(table.counts) == 1 and table.counts[0].score[0] < sizes[k]:
            table = Table(lines, *region)  # a value finds no one column that way: weigh both
        tables.append(table)
    if lead.clear:
        return tables, lead.clear
    votes = Counter(t.clear for t in tables if t.clear)
    return tables, votes.most_common(1)[0][0] if votes else None


def _separated(lines: Sequence[str]) -> bool:
    """Whether the text's table lines are separated by tabs or bars: not space-aligned."""
    return sum(1 for line in lines if "\t" in line.strip() or line.count("|") >= 2) >= _MIN_LINES


def _lines(raw_lines: Sequence[str], norm_lines: Sequence[str]) -> list[Line]:
    lines: list[Line] = []
    page = 1
    for number, (raw, norm) in enumerate(zip(raw_lines, norm_lines, strict=True), start=1):
        if "\x0c" not in norm and "\x0c" not in raw:  # no page break: the common line
            cells = _cells(raw if len(raw) == len(norm) else norm, norm)
            if cells:
                lines.append(Line(number, page, cells))
            continue
        raw_pieces, norm_pieces = raw.split("\x0c"), norm.split("\x0c")
        if len(raw_pieces) != len(norm_pieces):
            raw_pieces = norm_pieces
        for k, (raw_piece, norm_piece) in enumerate(zip(raw_pieces, norm_pieces, strict=True)):
            page += k > 0  # a form feed ends a page
            cells = _cells(raw_piece if len(raw_piece) == len(norm_piece) else norm_piece, norm_piece)
            if cells:
                lines.append(Line(number, page, cells))
    return lines


@lru_cache(maxsize=1)
def _wide() -> re.Pattern[str]:
    """The characters two display columns wide (East Asian Wide and Fullwidth), as one pattern."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x1100, 0x10000):
        if unicodedata.east_asian_width(chr(code)) in "WF" and not 0xD800 <= code <= 0xDFFF:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]")


@lru_cache(maxsize=2048)
def _cells(src: str, norm: str) -> tuple[Cell, ...]:
    """A line's cells: runs of text apart by two spaces or more; values split off on their own.

    Cached (the cells are immutable): a form's headers and headings recur report after report."""
    runs = _Runs(src)
    column, last, wide = runs.column, runs.last, runs.total
    cells: list[Cell] = []
    for chunk in _CHUNK.finditer(norm):
        text = chunk.group()
        if " " not in text:  # one word: the common case
            value = _is_value(text) and (text != _NONE or bool(cells))  # `_value(text, not cells)`
            if value or tokenize_cell(text):
                a, b = chunk.span()
                # `column(a)`, `column(b)` past the line's last wide character (values) written out.
                if a >= last:
                    cells.append(_new_cell(Cell, (text, a, b, a + wide, b + wide, value)))
                else:
                    cells.append(_new_cell(Cell, (text, a, b, column(a), column(b), value)))
            continue
        if not tokenize_cell(text):
            continue  # page furniture: `- 3 -`, `1/29`
        words = [(m.start() + chunk.start(), m.end() + chunk.start()) for m in _WORD.finditer(chunk.group())]
        words = _with_units(norm, words)
        first = not cells
        kinds = [_value(norm[a:b], first and i == 0) for i, (a, b) in enumerate(words)]
        tail = len(kinds)
        while tail > 0 and kinds[tail - 1]:
            tail -= 1
        if tail:
            a, b = words[0][0], words[tail - 1][1]
            cells.append(_new_cell(Cell, (norm[a:b], a, b, column(a), column(b), False)))
        for a, b in words[tail:]:
            cells.append(_new_cell(Cell, (norm[a:b], a, b, column(a), column(b), True)))
    return tuple(cells)


# Cells built at C speed: a named tuple's generated `__new__` is a Python function, called per cell.
_new_cell = tuple.__new__


class _Runs:
    """The runs of wide characters of a line, to count display columns: the offset plus the wide
    characters before it, counted by runs (a label is one or a few runs; a match per character
    costs)."""

    __slots__ = ("before", "ends", "last", "starts", "total")

    def __init__(self, src: str) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.before: list[int] = []  # wide characters in the runs before each run
        total = 0
        if not src.isascii():
            for run in _wide_runs().finditer(src):
                a, b = run.span()
                self.starts.append(a)
                self.ends.append(b)
                self.before.append(total)
                total += b - a
        self.total = total
        self.last = self.ends[-1] if self.ends else 0  # past it, every wide character is before

    def column(self, offset: int) -> int:
        """The display column of a character offset."""
        if offset >= self.last:
            return offset + self.total  # values stand right of their labels: the common case
        k = bisect_right(self.starts, offset) - 1
        return offset if k < 0 else offset + self.before[k] + min(offset, self.ends[k]) - self.starts[k]


def _column_counter(src: str) -> Callable[[int], int]:
    """The display column of a character offset of `src` (`_Runs.column`)."""
    if src.isascii():
        return _same
    return _Runs(src).column


def _same(offset: int) -> int:
    return offset


@lru_cache(maxsize=1)
def _wide_runs() -> re.Pattern[str]:
    # Led by one plain range holding every wide character (`_wide` starts at U+1100), checked
    # again behind it: the regex engine skips to such a character at C speed, where a pattern led
    # by a repeat is tried at every offset (a line of values is mostly spaces).
    wide = _wide().pattern
    return re.compile(f"[\u1100-\uffff](?<={wide}){wide}*")


def _with_units(text: str, words: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`12 万`: a unit printed apart belongs to the number before it."""
    out: list[tuple[int, int]] = []
    for a, b in words:
        if out and text[a:b] in _UNITS:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _value(text: str, first: bool) -> bool:
    """A number or a blank mark; a `无` that starts its line may be a character of a label."""
    return _is_value(text) and not (first and text == _NONE)


@lru_cache(maxsize=65536)
def _is_value(text: str) -> bool:
    """A number or a blank mark, wherever it stands (`_value`): one argument, so that the cache's
    key is the text itself rather than a tuple built per call."""
    tokens = tokenize_cell(text)
    return bool(tokens) and all(t.kind in (Kind.NUMBER, Kind.BLANK) for t in tokens)


@lru_cache(maxsize=65536)
def _part_of_a_row(text: str) -> bool:
    """Whether a text is (a piece of) a row or group label rather than a heading or header."""
    return any(candidates(t, text) or role(t, text) is Role.FORM for t in TEMPLATES)


def _tables(lines: Sequence[Line]) -> list[tuple[list[int], list[int]]]:
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
            continue
        lone = len(line.cells) == 1 and len(line.cells[0].text) >= LONE_HEADER
        if lone and not current and not above:
            # A heading or prose with no table open and nothing above: as a label line or not, it
            # changes nothing, so its text (new in every report) need not be looked up as one.
            continue
        labels = all(_part_of_a_row(c.text) for c in line.cells)
        if current and labels:
            current.append(i)
        elif current:
            tables.append((current, above))
            current, above = [], [i]
        elif labels:
            continue  # the head of a wrapped label before the table's first values
        elif lone:
            above = []  # a heading or prose: the next table's header is below it
        else:
            above.append(i)
    if current:
        tables.append((current, above))
    return tables
