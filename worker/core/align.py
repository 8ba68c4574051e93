"""Align the stream of lines against the template: find each row's label, give it its values.

The layout varies, the form does not: every row has a fixed label and a fixed number of values.
A row takes the values printed after its label on the same line, or, for a label printed alone,
the values printed one a line after it; a whole line of values printed without a label goes to the
row the form's order settles (`pairing`). A number goes into a cell only when the layout settles
the cell: by the row's separators or columns (empty cells kept), or by an exact count (as many
values as the row has columns). A row printed with fewer values and nothing to say which columns
they fill is null, with the reason; it never takes a value from the next row, nor a value printed
after text that may be the label of a row that was not recognised.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from worker.core.cells import Kind, Line, Token
from worker.core.document import Where
from worker.core.forms import ROWS, TABLE_APPLICATIONS, TABLE_REVIEW, TABLES, Row, Template
from worker.core.labels import Candidate, Role, candidates, role, split_numbered
from worker.core.pairing import Event, Step, pair
from worker.core.result import Code, Issue

# Enum members as module constants: looking one up on its class costs more than the comparison.
_TEXT, _NUMBER, _EMPTY = Kind.TEXT, Kind.NUMBER, Kind.EMPTY
_FORM, _HEADER, _OTHER = Role.FORM, Role.HEADER, Role.OTHER
_FIXED, _LABEL, _VALUES = Step.FIXED, Step.LABEL, Step.VALUES

# A named tuple built at C speed: its generated `__new__` is a Python function, called per event.
_new_event = tuple.__new__
# How far past the furthest row seen a label may jump: far enough for rows whose labels were
# lost, near enough that a header word (`总计`, `其他`) cannot match a row of the table's end.
_LOOKAHEAD = 6
# Unmatched text this long is prose: nothing before it pairs with values after it.
_PROSE = 60
_CONTEXT = 8
# How many rows of a table must be recognised for the table to count as found.
_FOUND = {"active": 2, "applications": 3, "review_litigation": 1}
# Where a segment of a line belongs: before any label, or after text that labels no known row.
_LEAD = -1
_UNOWNED = -2

# A token with where it was read: the evidence travels with the value it belongs to.
Placed = tuple[Token, Where | None]
Wheres = Sequence[Where | None]


@dataclass(slots=True)
class _Fill:
    row: Row
    entries: list[Placed] = field(default_factory=list)  # values and empty cells, as printed
    held: int = 0  # how many of `entries` are values: asked at every value printed one a line
    labelled: bool = False
    fixed: bool = False  # its values were printed where no other row can take them
    context: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Alignment:
    """What the alignment found: the value token of every cell (None when missing)."""

    template: Template
    cells: dict[str, Token | None]
    tables_found: frozenset[str]
    context: dict[str, tuple[str, ...]]
    where: dict[str, Where] = field(default_factory=dict)
    # Why a row's printed values were not placed (cell key → reason), for the warning people read.
    doubts: dict[str, str] = field(default_factory=dict)

    def row_context(self, row_key_prefix: str) -> tuple[str, ...]:
        """The header text printed just before a row (where units are stated)."""
        return self.context.get(row_key_prefix, ())


class Aligner:
    """Feed lines in reading order, then ask for the alignment."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.fills = [_Fill(row) for row in ROWS[template]]
        self.review = len(self.fills) - 1
        self.table_of, furthest = _table_layout(template)
        # Per table, the furthest row seen: each table's labels are looked for from its own start,
        # so a table that is missing or garbled does not hide the next one.
        self.furthest: dict[str, int] = dict(furthest)
        self.events: list[Event] = []
        self.lines: list[list[Placed]] = []  # the values of each VALUES event
        self.open: int | None = None  # the row just labelled alone, taking its values one a line
        self.segment = 0  # bumped by text that may label a row that was not recognised
        self.table = 0
        self.recent_text: list[str] = []
        self.applications_seen = False

    def feed(self, line: Line, where: Wheres | None = None) -> None:
        """Take one line of tokens, with where each token was read when that is known."""
        if len(line) == 1 and line[0].is_value and (where is None or len(where) == 1):
            self._value((line[0], None if where is None else where[0]))  # the common case
            return
        placed = zip(line, where, strict=True) if where is not None else [(t, None) for t in line]
        owner: int = _LEAD
        tokens: list[Placed] = []
        for item in placed:
            token = item[0]
            if token.kind is not _TEXT:
                tokens.append(item)
                continue
            for part in split_numbered(token.text):
                # Asked once here for both: a cached call still hashes the text and builds a key.
                best = candidates(self.template, part)
                row = self._match(part, best)
                kind = self._text(part, best) if row is None else None
                if kind is _FORM:
                    continue  # a piece of a label: the values around it stay where they are
                if tokens or owner >= 0:  # nothing to flush otherwise: no values, no label
                    self._flush(owner, tokens)
                    tokens = []
                if row is not None:
                    owner = row
                elif kind is _HEADER:
                    self._header()
                    owner = _UNOWNED  # a number among header words is theirs (`保留4位小数`)
                else:
                    self._wall()  # what follows may be the values of a row not recognised
                    owner = _UNOWNED
        if tokens or owner >= 0:  # as above: a line of text alone flushes nothing
            self._flush(owner, tokens)

    def alignment(self) -> Alignment:
        """The cells found so far, and which tables were found."""
        # Read, never changed: the rows' own lists serve (`_cells_of` and `_trim` copy what they keep).
        entries = [f.entries for f in self.fills]
        for j, row in pair(self.events, self.table_of, self._fits, unwalled=self.review).items():
            entries[row] = self.lines[self.events[j].row]
        cells: dict[str, Token | None] = {}
        context: dict[str, tuple[str, ...]] = {}
        where: dict[str, Where] = {}
        doubts: dict[str, str] = {}
        # Per table, its labelled rows with a value and whether a number is printed in it: the
        # tables found, counted in the same pass over the rows.
        with_values = dict.fromkeys(TABLES, 0)
        numbered: set[str] = set()
        for fill, printed, row_key in zip(self.fills, entries, _row_keys(self.template), strict=True):
            table = fill.row.table
            values = [p for p in printed if p[0].is_value]
            if fill.labelled and values:
                with_values[table] += 1
            if table not in numbered and _any_number(values):  # a number is a value
                numbered.add(table)
            placed, doubt = _cells_of(printed, fill.row, values)
            if doubt is not None:  # the row is left null, every cell of it for this reason
                for key in fill.row.keys:
                    cells[key] = None
                    doubts[key] = doubt
            elif placed is values:  # the row's values, as many as its columns: the common case
                for key, (token, origin) in zip(fill.row.keys, values, strict=True):
                    cells[key] = token
                    if origin is not None:
                        where[key] = origin
            else:
                for key, item in zip(fill.row.keys, placed, strict=True):
                    if item is None:
                        cells[key] = None
                        continue
                    token, origin = item
                    cells[key] = token
                    if origin is not None and token.is_value:
                        where[key] = origin
            context[row_key] = fill.context
        # A blank form (rows printed, not one number in them) is not a filled-in table (spec §3).
        found = frozenset(t for t in TABLES if with_values[t] >= _FOUND[t] and t in numbered)
        return Alignment(self.template, cells, found, context, where, doubts)

    # -- labels and other text -----------------------------------------------------------------

    def _match(self, text: str, best: tuple[Candidate, ...]) -> int | None:
        """The row `text` labels (`best`: its candidates), or None."""
        if "复议" in text and self._review_anchor(text):
            return self.review
        for candidate in best:
            if candidate.row == self.review:
                continue
            if self.fills[candidate.row].labelled:
                return None  # the best reading is a row already seen: a fragment of its label
            furthest = self.furthest[self.fills[candidate.row].row.table]
            if candidate.row > furthest + _LOOKAHEAD and not candidate.strong:
                continue
            if candidate.positional and candidate.row != furthest + 1:
                continue
            return candidate.row
        return None

    def _text(self, text: str, best: tuple[Candidate, ...]) -> Role:
        """Remember text that labels no new row, and say what it is for the rows around it
        (`best`: its candidates)."""
        self.recent_text.append(text)
        del self.recent_text[:-_CONTEXT]
        if len(text) > _PROSE:
            return _OTHER  # prose between tables
        if best and self.fills[best[0].row].labelled:
            return _FORM  # a fragment of a row already seen
        return role(self.template, text)

    def _review_anchor(self, text: str) -> bool:
        if self.fills[self.review].labelled or "复议" not in text:
            return False
        if self.applications_seen:
            return "行政复议" in text or len(text) <= 20
        return "行政复议" in text and len(text) <= 12

    def _header(self) -> None:
        """Header words end the values of a row printed one a line; before its first value they
        are the columns' headers (table 四's, or a header repeated after a page break)."""
        if self.open is not None and self.fills[self.open].entries:
            self.open = None

    def _wall(self) -> None:
        """Text that may be an unrecognised row's label: no values pair across it."""
        self.segment += 1
        self.open = None

    # -- values --------------------------------------------------------------------------------

    def _flush(self, owner: int, tokens: list[Placed]) -> None:
        # `tokens` are a line's tokens other than text, in a list of their own: its values and
        # empty cells, the cells printed for a row (its text is no cell of it).
        if owner == _LEAD:
            if _any_value(tokens):
                self._values(tokens)
        elif owner != _UNOWNED:
            self._with_label(owner, tokens)

    def _with_label(self, index: int, tokens: list[Placed]) -> None:
        fill = self.fills[index]
        fill.labelled = True
        fill.context = tuple(self.recent_text)
        self.recent_text.clear()
        table = fill.row.table
        if index > self.furthest[table]:
            self.furthest[table] = index
        if self.table_of[index] > self.table:
            self.table = self.table_of[index]
        if table == TABLE_APPLICATIONS:
            self.applications_seen = True
        self.open = None
        values = tokens
        width = fill.row.width
        # A row printed with every cell empty (`<td></td>` × width) is a row of blanks; one empty
        # cell after a label (`行政许可 |`) is only the line's layout.
        explicit_blanks = width > 1 and len(values) >= width and table != TABLE_REVIEW
        if _any_value(values) or explicit_blanks:
            fill.entries = values
            fill.held = _count_values(values)
            fill.fixed = True
            self._event(_FIXED, index)
            if len(values) < width:  # `_trim` leaves fewer cells than `width` only to a shorter line
                # `1.属于国家秘密 48` and then the rest of the row one value a line.
                self.open = index
        else:
            self._event(_LABEL, index)
            self.open = index

    def _values(self, tokens: list[Placed]) -> None:
        """A line's values with no label before them: the next values of the open row (one a
        line), or a line for `pairing` to place."""
        values = tokens
        if self.open is not None and self._continues(self.open, values):
            return
        self.open = None
        self.lines.append(values)
        self._event(_VALUES, len(self.lines) - 1)

    def _value(self, item: Placed) -> None:
        """`_values` for a line of one value (a number or a blank), written out: one value a line
        is how most reports print most cells."""
        index = self.open
        if index is not None:
            # `_continues` for one value: it is the open row's next value while the row has room.
            fill = self.fills[index]
            held = fill.held
            width = fill.row.width
            if held < width:
                fill.entries.append(item)  # a value is no empty cell: `_strip` keeps it
                fill.held = held + 1
                if held + 1 == width:
                    if not fill.fixed:
                        self._event(_FIXED, index)
                        fill.fixed = True
                    self.open = None
                return
        self.open = None
        self.lines.append([item])
        self.events.append(_new_event(Event, (_VALUES, len(self.lines) - 1, self.segment, self.table)))

    def _continues(self, index: int, values: list[Placed]) -> bool:
        """Take a line as the next values of a row printed one a line, if it is that. A line of
        several values that fills a row is not: labels and value lines may come apart (PDF →
        markdown), and `pairing` places those."""
        fill = self.fills[index]
        count = _count_values(values)
        held = fill.held
        if count != 1 and (held or _fits(values, fill.row)):
            return False
        if held + count > fill.row.width:
            return False
        fill.entries += _strip(values)  # values and the empty cells between them
        fill.held = held + count
        if held + count == fill.row.width:
            if not fill.fixed:
                self._event(_FIXED, index)
                fill.fixed = True
            self.open = None
        return True

    def _event(self, step: Step, row: int) -> None:
        self.events.append(_new_event(Event, (step, row, self.segment, self.table)))

    def _fits(self, event: int, row: int) -> bool:
        return _fits(self.lines[self.events[event].row], self.fills[row].row)


def _any_value(tokens: list[Placed]) -> bool:
    for token, _ in tokens:  # noqa: SIM110 - per line: a generator for `any` costs more than the test
        if token.is_value:
            return True
    return False


def _any_number(tokens: list[Placed]) -> bool:
    for token, _ in tokens:  # noqa: SIM110 - as `_any_value`
        if token.kind == _NUMBER:
            return True
    return False


def _count_values(tokens: list[Placed]) -> int:
    count = 0
    for token, _ in tokens:
        if token.is_value:
            count += 1
    return count


@lru_cache(maxsize=2)
def _table_layout(template: Template) -> tuple[tuple[int, ...], tuple[tuple[str, int], ...]]:
    """The table (its index) of every row of a template, and the row before each table's first."""
    rows = ROWS[template]
    before: dict[str, int] = {}
    for index, row in enumerate(rows):
        before.setdefault(row.table, index - 1)
    return tuple(TABLES.index(row.table) for row in rows), tuple(before.items())


@lru_cache(maxsize=2)
def _row_keys(template: Template) -> tuple[str, ...]:
    """`table.row` of every row of a template, as `Alignment.context` is keyed."""
    return tuple(f"{row.table}.{row.name}" for row in ROWS[template])


def _fits(values: list[Placed], row: Row) -> bool:
    """Whether a line of values fills a row exactly: by count, or by its cells (empties kept)."""
    count = _count_values(values)
    if count == row.width or (row.table == TABLE_REVIEW and count > row.width):
        return True
    return count > 0 and len(_trim(values, row.width)) == row.width


def _cells_of(entries: list[Placed], row: Row, values: list[Placed]) -> tuple[Sequence[Placed | None], str | None]:
    """A row's cells from what was printed for it (`values`: its values alone, a list of its
    own), and why they were left null if they were. As many values as columns come back as
    `values` itself."""
    width = row.width
    if not values:
        return [None] * width, None
    if len(values) == width:
        return values, None
    if row.table == TABLE_REVIEW and len(values) > width:
        return values[:width], None
    cells = _trim(entries, width)
    if len(cells) == width:
        return [p if p[0].is_value else None for p in cells], None
    return [None] * width, f"{len(values)} values for {width} columns, and nothing to say which columns they fill"


def _strip(values: list[Placed]) -> list[Placed]:
    start, end = 0, len(values)
    while start < end and values[start][0].kind == _EMPTY:
        start += 1
    while end > start and values[end - 1][0].kind == _EMPTY:
        end -= 1
    return values[start:end]


def _trim(entries: list[Placed], width: int) -> list[Placed]:
    """Empty cells at the ends of a line belong to the layout, not to the row, while there are
    more cells than the row has columns."""
    cells = list(entries)
    while len(cells) > width and cells[-1][0].kind == _EMPTY:
        cells.pop()
    while len(cells) > width and cells[0][0].kind == _EMPTY:
        cells.pop(0)
    return cells


def align(template: Template, lines: list[Line], where: Sequence[Wheres] | None = None) -> Alignment:
    """Align a whole document's lines against a template; `where` (parallel to `lines`, one entry
    per token) says where each token was read, and comes back per cell in `Alignment.where`."""
    aligner = Aligner(template)
    if where is None:
        for line in lines:
            aligner.feed(line)
    else:
        for line, origins in zip(lines, where, strict=True):
            aligner.feed(line, origins)
    return aligner.alignment()


def explain_missing(issues: list[Issue], alignment: Alignment) -> list[Issue]:
    """The checks' issues, with the reason added to a W_MISSING_CELL whose row the layout left
    undetermined (`2 values for 3 columns…`)."""
    if not alignment.doubts:
        return issues
    out = []
    for issue in issues:
        doubt = alignment.doubts.get(issue.cells[0]) if issue.cells else None
        if issue.code == Code.W_MISSING_CELL and doubt is not None:
            issue = issue.model_copy(update={"message": f"{issue.message}: {doubt}"})
        out.append(issue)
    return out
