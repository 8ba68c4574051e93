"""Normalised text → lines of typed cells (numbers, blanks, text), whatever the layout.

Tab-separated, `|`-separated, space-aligned and one-cell-per-line text all become the same thing:
a list of lines, each a tuple of tokens. Page furniture is dropped here so that it never reaches
the alignment.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from functools import lru_cache
from itertools import chain

from worker.core.document import Where


class Kind(IntEnum):
    """What a cell holds."""

    TEXT = 0
    NUMBER = 1
    BLANK = 2  # printed as blank: `—`, `-`, `/`, unreadable OCR
    EMPTY = 3  # nothing printed between two separators


@dataclass(frozen=True, slots=True)
class Token:
    """One cell of a line: its text and, for numbers, the value and the unit printed with it."""

    kind: Kind
    text: str
    value: Decimal | None = None
    unit: str | None = None
    # Numbers and blanks fill a table cell; text and empty cells do not.
    is_value: bool = field(init=False, compare=False)
    # The number as a count (an int), None when it has a fraction or is no number: read once
    # here, as tokens are cached, rather than for every cell of every report.
    count: int | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_value", self.kind in (Kind.NUMBER, Kind.BLANK))
        value = self.value
        integral = self.kind == Kind.NUMBER and value is not None and value == value.to_integral_value()
        object.__setattr__(self, "count", int(value) if integral and value is not None else None)


Line = tuple[Token, ...]
_EMPTY = Kind.EMPTY  # a module constant: looking a member up on its enum costs more than comparing

# More digits than any count or amount of the form can have (and than a bigint column holds).
_MAX_DIGITS = 15
_NUM = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_UNIT = r"(?:万元|万|元|件|条|个|项|次)"
_NUMBER = re.compile(rf"({_NUM})\s*({_UNIT})?")
_NUMBERS = re.compile(rf"{_NUM}\s*{_UNIT}?(?:\s+{_NUM}\s*{_UNIT}?)+")
_TEXT_THEN_NUMBERS = re.compile(rf"(.*?[^\d\s.,+-])\s+((?:{_NUM}\s*{_UNIT}?\s+)*{_NUM}\s*{_UNIT}?)")
# A short label glued to its number (`行政许可97`): the number has no unit, the text ends in CJK.
_LABEL_GLUED = re.compile(rf"(.{{1,25}}?[\u4e00-\u9fff)\"])({_NUM})")
# A label fused with a value OCR could not read (`T政规范性文件 □`): the value is a blank, not text.
_LABEL_THEN_BLANK = re.compile(r"(.{1,40}?[\u4e00-\u9fff)\"])\s+([-—―─/]|[?？�□■]+)")
_BLANK = re.compile(r"[-—―─_/\\.…·]+|[?？�□■]+|空")
_FURNITURE = re.compile(
    r"\d{1,4}\s*/\s*\d{1,4}|[-—]\s*\d{1,4}\s*[-—]|第\s*\d+\s*页(?:\s*[,/]?\s*共\s*\d+\s*页)?"
    r"|[Pp]age\s*\d+(?:\s*of\s*\d+)?|\x0c"
)
_MD_RULE = re.compile(r"\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?")
# A bullet is a marker followed by text: `- |` or `- ` alone is a blank cell, not a bullet.
_MD_PREFIX = re.compile(r"^\s*(?:#{1,6}\s+|[-*+>]\s+(?=[^\s|]))")
_MD_MARKS = frozenset("#-*+>")
_SPACE_RUN = re.compile(r" {2,}")
# Every pattern of a number and of page furniture holds a digit (a lone form feed is furniture too,
# but `tokenize_cell` strips it away before it gets here).
_DIGIT = re.compile(r"\d")
# The last characters the patterns of `_tokenize` can match besides digits: units (`_UNIT`), blank
# marks (`_BLANK`, `_LABEL_THEN_BLANK`), page furniture's `页`, `-`, `—` and form feed, and `无`.
_MAY_END = frozenset("万元件条个项次-—―─_/\\.…·?？�□■空页\x0c无")


def text_to_rows(text: str) -> list[list[str]]:
    """Split normalised plain text into lines of raw cells (tabs, pipes or runs of spaces)."""
    return text_to_numbered_rows(text)[0]


def text_to_numbered_rows(text: str) -> tuple[list[list[str]], list[int]]:
    """Lines of raw cells, and the 1-based line of the text each came from (its evidence)."""
    rows: list[list[str]] = []
    numbers: list[int] = []
    pieces: Iterable[tuple[int, str]] = enumerate(text.split("\n"), start=1)
    if "\x0c" in text:
        # A form feed ends a page, not a line: it must not shift the line numbers people see.
        pieces = [(number, piece) for number, raw in pieces for piece in raw.split("\x0c")]
    for number, piece in pieces:
        # Trailing tabs are the empty cells at the end of a row: kept, they say where values are.
        line = piece.rstrip(" ") if "\t" in piece else piece.rstrip()
        stripped = line.lstrip()
        if not stripped or ("---" in stripped and _MD_RULE.fullmatch(stripped)):
            continue
        if stripped[0] in _MD_MARKS and not _FURNITURE.fullmatch(stripped):  # `- 2 -` is a page number
            line = _MD_PREFIX.sub("", line)
        elif ("\t" not in line or _indented(stripped)) and "|" not in line and "  " not in stripped:
            # One cell (`_split_line`'s): prose, a lone label or value; or one indented by tabs
            # (`\t0`, a word processor's table copied a cell a line), `_split_cells`'s one part.
            rows.append([stripped])
            numbers.append(number)
            continue
        rows.append(_split_line(line))
        numbers.append(number)
    return rows, numbers


def _indented(stripped: str) -> bool:
    """Whether a line holding tabs (`stripped`: the line without the white space before it) has
    them only before its text: one cell, as `_split_cells` makes it (stripped at its end too)."""
    return "\t" not in stripped and not stripped[-1].isspace()


def _split_line(line: str) -> list[str]:
    if "\t" not in line and "|" not in line:
        part = line.strip()
        if "  " not in part:
            return [part]  # one cell: the prose line, the label or value printed alone
        return _split_cells([part], line)
    if "\t" in line:
        parts = line.split("\t")
    else:
        parts = line.split("|")
        # `| a | b |` (markdown) has no cell before its first bar nor after its last: a row
        # `| 规章 | 12 | 140 |` has two values, not two and an empty cell.
        if line.lstrip().startswith("|"):
            parts = parts[1:]
            if len(parts) > 1 and not parts[-1].strip():
                parts = parts[:-1]
    return _split_cells(parts, line)


def _split_cells(parts: list[str], line: str) -> list[str]:
    """A line's separated parts as cells: each part split again on runs of spaces."""
    cells = [part.strip() for part in parts]
    if "  " in line:
        cells = [c for cell in cells for c in (_SPACE_RUN.split(cell) if "  " in cell else (cell,))]
    # One cell and separators around it (`\t0`, `规章 |`): indentation, not empty cells; but
    # `行政事业性收费 2\t` (a label fused with its value) keeps the empty cell after it.
    if len(cells) > 1 and len(cells) - cells.count("") == 1:
        start = 0
        while not cells[start]:
            start += 1
        return cells[start:] if "\t" in line else [cells[start]]
    return cells


def tokenize_rows(rows: list[list[str]]) -> list[Line]:
    """Turn lines of raw cells into lines of tokens; lines left empty are dropped."""
    lines: list[Line] = []
    for row in rows:
        tokens = tokenize_cell(row[0]) if len(row) == 1 else tuple(t for cell in row for t in tokenize_cell(cell))
        for token in tokens:
            if token.kind != Kind.EMPTY:
                lines.append(tokens)
                break
    return lines


LineWhere = tuple[Where | None, ...]


def tokenize_placed(rows: list[list[str]], where: list[list[Where | None]]) -> tuple[list[Line], list[LineWhere]]:
    """`tokenize_rows`, keeping for every token where its cell was read (parallel to the lines)."""
    lines: list[Line] = []
    placed: list[LineWhere] = []
    for row, origins in zip(rows, where, strict=True):
        origin: LineWhere
        if len(row) == 1:
            tokens = tokenize_cell(row[0])
            origin = (origins[0],) * len(tokens)
            if not _filled(tokens):
                continue
        else:
            cells = list(map(tokenize_cell, row))
            tokens = tuple(chain.from_iterable(cells))
            if len(tokens) == len(cells) == len(origins) and () not in cells:
                # A token per cell (most rows of a grid; none empty, so none holds two): the
                # cells' evidence as it stands.
                origin = tuple(origins)
            else:
                origin = ()
                for ts, o in zip(cells, origins, strict=True):
                    if ts:
                        origin += (o,) * len(ts)
            if not _filled(tokens):
                continue
        lines.append(tokens)
        placed.append(origin)
    return lines, placed


def tokenize_lines(rows: list[list[str]], origins: list[Where | None]) -> tuple[list[Line], list[LineWhere]]:
    """`tokenize_placed` for rows whose cells were all read at one place (a line of text):
    `origins[i]` is where row i was read."""
    lines: list[Line] = []
    placed: list[LineWhere] = []
    for row, origin in zip(rows, origins, strict=True):
        tokens = tokenize_cell(row[0]) if len(row) == 1 else tuple(chain.from_iterable(map(tokenize_cell, row)))
        # `_filled`, its first test written out: most lines start with a filled cell.
        if tokens and (tokens[0].kind is not _EMPTY or _filled(tokens)):
            lines.append(tokens)
            placed.append((origin,) * len(tokens))
    return lines, placed


def _filled(tokens: tuple[Token, ...]) -> bool:
    """Whether a line holds anything but empty cells."""
    for token in tokens:  # noqa: SIM110 - per line: a generator for `any` costs more than the test
        if token.kind != _EMPTY:
            return True
    return False


@lru_cache(maxsize=65536)
def tokenize_cell(cell: str) -> tuple[Token, ...]:
    """One raw cell → its tokens: a number, several numbers, a blank, text, or text + numbers.

    Cached: the same cells (`0`, the form's labels) recur in every report, and tokens are frozen.
    """
    return tuple(_tokenize(cell.strip()))


def _tokenize(cell: str) -> list[Token]:
    if not cell:
        return [Token(Kind.EMPTY, "")]
    last = cell[-1]
    if not last.isdecimal() and last not in _MAY_END:
        # Every pattern below matches whole cells, and each ends in a digit (`\d`, the decimal
        # digits `isdecimal` tells), a unit, a blank mark or `页`: prose ending in `。` is text.
        return [Token(Kind.TEXT, cell)]
    return _tokenize_patterns(cell)


def _tokenize_patterns(cell: str) -> list[Token]:
    """`_tokenize` of a filled cell by its patterns, one after another; those of numbers and of
    page furniture only for a cell with a digit (each of them holds one)."""
    if cell == "无":
        return [Token(Kind.NUMBER, cell, Decimal(0))]
    if _BLANK.fullmatch(cell):
        return [Token(Kind.BLANK, cell)]
    digits = _DIGIT.search(cell) is not None
    if digits:
        numbers = _tokenize_numbers(cell)
        if numbers is not None:
            return numbers
    lost = _LABEL_THEN_BLANK.fullmatch(cell)
    if lost:
        return [Token(Kind.TEXT, lost.group(1)), Token(Kind.BLANK, lost.group(2))]
    glued = _LABEL_GLUED.fullmatch(cell) if digits else None
    if glued:
        return [Token(Kind.TEXT, glued.group(1)), _number(glued.group(2), None, glued.group(2))]
    return [Token(Kind.TEXT, cell)]


def _tokenize_numbers(cell: str) -> list[Token] | None:
    """Page furniture (no tokens), numbers, or text ending in numbers; None for none of them."""
    if _FURNITURE.fullmatch(cell):
        return []
    single = _NUMBER.fullmatch(cell)
    if single:
        return [_number(single.group(1), single.group(2), cell)]
    if _NUMBERS.fullmatch(cell):
        return [_number_token(part) for part in _split_numbers(cell)]
    split = _TEXT_THEN_NUMBERS.fullmatch(cell)
    if split:
        return [Token(Kind.TEXT, split.group(1)), *(_number_token(p) for p in _split_numbers(split.group(2)))]
    return None


def _split_numbers(text: str) -> list[str]:
    # `12 万` is one number with its unit, not two cells.
    return re.findall(rf"{_NUM}\s*{_UNIT}?", text)


def _number_token(text: str) -> Token:
    match = _NUMBER.fullmatch(text.strip())
    if match is None:  # pragma: no cover - callers pass what _NUM matched
        return Token(Kind.TEXT, text)
    return _number(match.group(1), match.group(2), text)


def _number(digits: str, unit: str | None, text: str) -> Token:
    if sum(ch.isdigit() for ch in digits) > _MAX_DIGITS:
        return Token(Kind.BLANK, text)  # no cell of the form holds such a number: unreadable
    try:
        value = Decimal(digits.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return Token(Kind.TEXT, text)
    if unit in ("件", "条", "个", "项", "次"):
        unit = None
    return Token(Kind.NUMBER, text, value, unit)
