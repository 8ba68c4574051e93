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
from collections import Counter
from collections.abc import Sequence
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
# What a line of values ends in: numbers (`1,215`, `+938`, `0.5`, `-`) apart by spaces.
_DIGITS = " 0123456789,.+-"
# What a line's text makes of a `Line`: its cells, its values, the index of the first, its texts.
_Cut = tuple[tuple[Cell, ...], tuple[Cell, ...], int, tuple[str, ...]]


def read_space_aligned(raw: str, normalized: str) -> tuple[list[list[str]], list[int]] | None:
    """Lines of cells (values in their columns) and the line each came from, or None when the
    text is not space-aligned (tabs, bars, one cell a line): `cells.text_to_numbered_rows` reads it."""
    if "   " not in normalized:
        return None
    norm_lines = normalized.split("\n")
    if _separated(normalized, norm_lines):
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
        cells = placed.get(i) or list(line.texts)
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
        if len(table.counts) == 1 and table.counts[0].placed < sizes[k]:
            table = Table(lines, *region)  # a value finds no one column that way: weigh both
        tables.append(table)
    if lead.clear:
        return tables, lead.clear
    votes = Counter(t.clear for t in tables if t.clear)
    return tables, votes.most_common(1)[0][0] if votes else None


def _separated(text: str, lines: Sequence[str]) -> bool:
    """Whether the text's table lines are separated by tabs or bars: not space-aligned."""
    if "\t" not in text and text.count("|") < 2 * _MIN_LINES:
        return False  # no tab, and too few bars for so many lines of two: no line need be looked at
    return sum(1 for line in lines if "\t" in line.strip() or line.count("|") >= 2) >= _MIN_LINES


def _lines(raw_lines: Sequence[str], norm_lines: Sequence[str]) -> list[Line]:
    lines: list[Line] = []
    page = 1
    for number, (raw, norm) in enumerate(zip(raw_lines, norm_lines, strict=True), start=1):
        if "\x0c" not in norm and "\x0c" not in raw:  # no page break: the common line
            line = _cells(raw if len(raw) == len(norm) else norm, norm)
            if line[0]:  # any cells
                lines.append(_new_line(Line, (number, page, *line)))
            continue
        raw_pieces, norm_pieces = raw.split("\x0c"), norm.split("\x0c")
        if len(raw_pieces) != len(norm_pieces):
            raw_pieces = norm_pieces
        for k, (raw_piece, norm_piece) in enumerate(zip(raw_pieces, norm_pieces, strict=True)):
            page += k > 0  # a form feed ends a page
            line = _cells(raw_piece if len(raw_piece) == len(norm_piece) else norm_piece, norm_piece)
            if line[0]:
                lines.append(_new_line(Line, (number, page, *line)))
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


def _cells(src: str, norm: str) -> _Cut:
    """A line's cells (runs of text apart by two spaces or more; values split off on their own),
    and what a `Line` keeps of them.

    A line of values is a label, which recurs, and numbers, which do not: the label's cells are
    taken from a cache and the numbers cut by `str.split` (`_cut` costs twice as much). Such a
    line is not looked up itself: it would miss, and push out a line that recurs."""
    cut = norm.find("  ", len(norm.rstrip(_DIGITS)))
    if cut >= 0:
        line = _labelled(src, norm, cut)
        if line is not None:
            return line
    return _cut_line(src, norm)


@lru_cache(maxsize=2048)
def _cut_line(src: str, norm: str) -> _Cut:
    """`_cells` of any other line: cached (the cells are immutable), a form's headers and
    headings recur report after report."""
    return _line(_cut(src, norm)[0])


def _line(cells: tuple[Cell, ...]) -> _Cut:
    """What a `Line` keeps of its cells."""
    values = tuple([c for c in cells if c.value])
    # A cell equal to the first value is a value too: the first one equal to it is that one.
    return cells, values, cells.index(values[0]) if values else -1, tuple([c.text for c in cells])


def _labelled(src: str, norm: str, cut: int) -> _Cut | None:
    """`_cells` of a line whose text from `cut` (two spaces, then only `_DIGITS`) is values apart by
    two spaces or more, or None when it is not (a word not a value; a single space between words).

    A chunk holds no two spaces: the chunks before `cut` are the label's own, and so are their
    columns (every wide character of theirs is before `cut`). A word after it is a chunk of its
    own, ASCII (never `无`, never a unit): a value cell, its columns its offsets plus the wide
    characters of `src` before them (as `_cut` counts them)."""
    (label, values, first, texts), wide = _label(src[:cut], norm[:cut])
    words = norm[cut:].split()
    cells: list[Cell] = []
    find = norm.find
    b = cut
    if src[cut:].isascii():  # the common line: every wide character is the label's
        for text in words:
            a = find(text, b)
            if a - b < 2 or not _is_value(text):
                return None
            b = a + len(text)
            cells.append(_new_cell(Cell, (text, a, b, a + wide, b + wide, True)))
    else:
        for text in words:  # fullwidth digits (`５`) or spaces in `src`: counted as they go
            a = find(text, b)
            if a - b < 2 or not _is_value(text):
                return None
            wide += _wide_count(src[b:a])
            b = a + len(text)
            after = wide + _wide_count(src[a:b])
            cells.append(_new_cell(Cell, (text, a, b, a + wide, b + after, True)))
            wide = after
    if not cells:
        return label, values, first, texts
    tail = tuple(cells)
    return label + tail, values + tail, first if values else len(label), texts + tuple(words)


@lru_cache(maxsize=2048)
def _label(src: str, norm: str) -> tuple[_Cut, int]:
    """`_cells` of a line's label, and the wide characters of its `src`: the label of a line of
    values recurs report after report."""
    cells, wide = _cut(src, norm)
    return _line(cells), wide


@lru_cache(maxsize=4096)
def _wide_count(text: str) -> int:
    """How many characters of `text` are two display columns wide (`_wide`).

    Cached: a line's columns are counted chunk by chunk and gap by gap (`_cut`), and a form's
    labels, fullwidth numbers (`５`) and runs of spaces recur."""
    return 0 if text.isascii() else sum(map(len, _wide_runs().findall(text)))


def _cut(src: str, norm: str) -> tuple[tuple[Cell, ...], int]:
    """A line's cells (`_cells`), and how many wide characters `src` holds.

    A cell's display columns are its offsets plus the wide characters of `src` before them,
    counted as the chunks go: the gap before a chunk, then the chunk."""
    narrow = src.isascii()  # every column is its offset
    cells: list[Cell] = []
    before = wide = end = 0  # wide characters before the chunk, and up to its end
    for chunk in _CHUNK.finditer(norm):
        text = chunk.group()
        a, b = chunk.span()
        if not narrow:
            before = wide + _wide_count(src[end:a])
            wide = before + _wide_count(src[a:b])
            end = b
        if " " not in text:  # one word: the common case
            value = _is_value(text) and (text != _NONE or bool(cells))  # `_value(text, not cells)`
            if value or tokenize_cell(text):
                cells.append(_new_cell(Cell, (text, a, b, a + before, b + wide, value)))
            continue
        if not tokenize_cell(text):
            continue  # page furniture: `- 3 -`, `1/29`
        words = _with_units(norm, [(m.start() + a, m.end() + a) for m in _WORD.finditer(text)])
        first = not cells
        kinds = [_value(norm[x:y], first and i == 0) for i, (x, y) in enumerate(words)]
        tail = len(kinds)
        while tail > 0 and kinds[tail - 1]:
            tail -= 1
        if tail:
            x, y = words[0][0], words[tail - 1][1]
            cells.append(_new_cell(Cell, (norm[x:y], x, y, *_columns(src, a, before, x, y), False)))
        for x, y in words[tail:]:
            cells.append(_new_cell(Cell, (norm[x:y], x, y, *_columns(src, a, before, x, y), True)))
    return tuple(cells), 0 if narrow else wide + _wide_count(src[end:])


def _columns(src: str, a: int, before: int, x: int, y: int) -> tuple[int, int]:
    """The display columns of offsets `x`, `y` inside a chunk starting at `a`, `before` wide
    characters before it."""
    return x + before + _wide_count(src[a:x]), y + before + _wide_count(src[a:y])


# Cells and lines built at C speed: a named tuple's generated `__new__` is a Python function.
_new_cell = _new_line = tuple.__new__


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
        labels = all(map(_part_of_a_row, line.texts))
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
