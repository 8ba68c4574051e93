"""Align the stream of lines against the template: find each row's label, give it its values.

The layout varies, the form does not: every row has a fixed label and a fixed number of values.
A row takes the values printed after its label on the same line; values on a line of their own
go to the row that waits for them (a label printed without values), and a complete line of
values that comes before its label waits for that label. A row never borrows a value from the
next row: what is missing stays missing (null).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.core.cells import Kind, Line, Token
from worker.core.document import Where
from worker.core.forms import ROWS, TABLE_APPLICATIONS, TABLE_REVIEW, TABLES, Row, Template
from worker.core.labels import candidates, split_numbered

# How far past the furthest row seen a label may jump: far enough for rows whose labels were
# lost, near enough that a header word (`总计`, `其他`) cannot match a row of the table's end.
_LOOKAHEAD = 6
# Unmatched text this long is prose: whatever row was waiting for values will not get them.
_PROSE = 60
_CONTEXT = 8
_MAX_ORPHANS = 3
# How many rows of a table must be recognised for the table to count as found.
_FOUND = {"active": 2, "applications": 3, "review_litigation": 1}

# A token with where it was read: the evidence travels with the value it belongs to.
_Placed = tuple[Token, Where | None]
Wheres = Sequence[Where | None]


@dataclass(slots=True)
class _Fill:
    row: Row
    values: list[_Placed] = field(default_factory=list)
    labelled: bool = False
    from_own_line: bool = False
    context: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return 0 < len(self.values) < self.row.width


@dataclass(frozen=True, slots=True)
class Alignment:
    """What the alignment found: the value token of every cell (None when missing)."""

    template: Template
    cells: dict[str, Token | None]
    tables_found: frozenset[str]
    context: dict[str, tuple[str, ...]]
    where: dict[str, Where] = field(default_factory=dict)

    def row_context(self, row_key_prefix: str) -> tuple[str, ...]:
        """The header text printed just before a row (where units are stated)."""
        return self.context.get(row_key_prefix, ())


class Aligner:
    """Feed lines in reading order, then ask for the alignment."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.fills = [_Fill(row) for row in ROWS[template]]
        self.review = len(self.fills) - 1
        # Per table, the furthest row seen: each table's labels are looked for from its own start,
        # so a table that is missing or garbled does not hide the next one.
        self.furthest: dict[str, int] = {}
        for index, fill in enumerate(self.fills):
            self.furthest.setdefault(fill.row.table, index - 1)
        self.active: int | None = None
        self.pending: list[int] = []
        self.orphans: list[list[_Placed]] = []
        self.recent_text: list[str] = []
        self.applications_seen = False

    def feed(self, line: Line, where: Wheres | None = None) -> None:
        """Take one line of tokens, with where each token was read when that is known."""
        placed: list[_Placed] = list(zip(line, where, strict=True)) if where is not None else [(t, None) for t in line]
        if len(line) == 1 and line[0].is_value:  # one value on its own line: the common case
            self._without_label(placed, loose_text=False)
            return
        segments: list[tuple[int | None, list[_Placed]]] = [(None, [])]
        loose_text = False
        for item in placed:
            token = item[0]
            if token.kind != Kind.TEXT:
                segments[-1][1].append(item)
                continue
            for part in split_numbered(token.text):
                row = self._match(part)
                if row is not None:
                    segments.append((row, []))
                elif row is None and not self._is_fragment(part):
                    loose_text = True
                    self._remember(part)
        lead = segments[0][1]
        if any(t.is_value for t, _ in lead):
            self._without_label(lead, loose_text)
        for row, tokens in segments[1:]:
            if row is not None:
                self._with_label(row, tokens)

    def alignment(self) -> Alignment:
        """The cells found so far, and which tables were found."""
        cells: dict[str, Token | None] = {}
        context: dict[str, tuple[str, ...]] = {}
        where: dict[str, Where] = {}
        for fill in self.fills:
            for i, key in enumerate(fill.row.keys):
                token, origin = fill.values[i] if i < len(fill.values) else (None, None)
                cells[key] = token
                if origin is not None and token is not None and token.is_value:
                    where[key] = origin
            context[f"{fill.row.table}.{fill.row.name}"] = fill.context
        found = frozenset(t for t in TABLES if self._table_found(t))
        return Alignment(self.template, cells, found, context, where)

    def _table_found(self, table: str) -> bool:
        fills = [f for f in self.fills if f.row.table == table]
        with_values = sum(1 for f in fills if f.labelled and any(t.is_value for t, _ in f.values))
        # A blank form (rows printed, not one number in them) is not a filled-in table (spec §3).
        numbers = any(t.kind == Kind.NUMBER for f in fills for t, _ in f.values)
        return with_values >= _FOUND[table] and numbers

    # -- labels --------------------------------------------------------------------------------

    def _match(self, text: str) -> int | None:
        if self._review_anchor(text):
            return self.review
        for candidate in candidates(self.template, text):
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

    def _is_fragment(self, text: str) -> bool:
        best = candidates(self.template, text)
        return bool(best) and self.fills[best[0].row].labelled

    def _review_anchor(self, text: str) -> bool:
        if self.fills[self.review].labelled or "复议" not in text:
            return False
        if self.applications_seen:
            return "行政复议" in text or len(text) <= 20
        return "行政复议" in text and len(text) <= 12

    def _remember(self, text: str) -> None:
        if len(text) > _PROSE:
            # Prose between tables: nothing before it still waits for values.
            self.pending.clear()
            self.orphans.clear()
            self.active = None
        self.recent_text.append(text)
        del self.recent_text[:-_CONTEXT]

    # -- values --------------------------------------------------------------------------------

    def _with_label(self, index: int, tokens: list[_Placed]) -> None:
        fill = self.fills[index]
        fill.labelled = True
        fill.context = tuple(self.recent_text)
        self.recent_text.clear()
        self.furthest[fill.row.table] = max(self.furthest[fill.row.table], index)
        self.active = index
        if fill.row.table == TABLE_APPLICATIONS:
            self.applications_seen = True
        self._drop_stale_pending(fill.row.table)
        width = fill.row.width
        values = _trim(tokens, width)
        # A row printed with every cell empty (`<td></td>` × width) is a row of blanks; one empty
        # cell after a label (`行政许可 |`) is only the line's layout.
        explicit_blanks = width > 1 and len(values) >= width and fill.row.table != TABLE_REVIEW
        orphan = next((o for o in self.orphans if sum(t.is_value for t, _ in o) >= width), None)
        if any(t.is_value for t, _ in values) or explicit_blanks:
            fill.values = values
            fill.from_own_line = True
        elif orphan is not None:
            self.orphans.remove(orphan)
            fill.values = _trim(orphan, width)
        else:
            self.pending.append(index)

    def _without_label(self, tokens: list[_Placed], loose_text: bool) -> None:
        values = [p for p in tokens if p[0].is_value or p[0].kind == Kind.EMPTY]
        count = sum(1 for t, _ in values if t.is_value)
        active = self.fills[self.active] if self.active is not None else None
        if active is not None and active.partial:
            width = active.row.width
            if count >= width and not active.from_own_line:
                active.values = _trim(values, width)  # a whole row beats a stray value before it
            else:
                active.values.extend(_strip(values)[: width - len(active.values)])
            return
        if self.pending:
            self._to_pending(values, count)
            return
        if not loose_text:
            self.orphans.append(values)
            del self.orphans[:-_MAX_ORPHANS]

    def _to_pending(self, values: list[_Placed], count: int) -> None:
        widths = [self.fills[i].row.width for i in self.pending]
        exact = [i for i, w in zip(self.pending, widths, strict=True) if w == count]
        fitting = [i for i, w in zip(self.pending, widths, strict=True) if w <= count]
        target = exact[0] if exact else fitting[0] if fitting else None
        if target is None and self.active in self.pending:
            target = self.active  # the first values of a row printed one per line
        if target is None:
            return
        self.pending.remove(target)
        fill = self.fills[target]
        fill.values = _trim(values, fill.row.width) if count >= fill.row.width else _strip(values)
        fill.from_own_line = False

    def _drop_stale_pending(self, table: str) -> None:
        order = TABLES.index(table)
        self.pending = [i for i in self.pending if TABLES.index(self.fills[i].row.table) >= order]


def _strip(values: list[_Placed]) -> list[_Placed]:
    start, end = 0, len(values)
    while start < end and values[start][0].kind == Kind.EMPTY:
        start += 1
    while end > start and values[end - 1][0].kind == Kind.EMPTY:
        end -= 1
    return values[start:end]


def _trim(tokens: list[_Placed], width: int) -> list[_Placed]:
    """The values of a row from the cells after its label: empty cells at the ends of a line
    belong to the layout, not to the row, when there are more cells than the row has values."""
    values = [p for p in tokens if p[0].is_value or p[0].kind == Kind.EMPTY]
    while len(values) > width and values[-1][0].kind == Kind.EMPTY:
        values.pop()
    while len(values) > width and values[0][0].kind == Kind.EMPTY:
        values.pop(0)
    values = values[:width]
    return values if any(t.is_value for t, _ in values) or len(values) >= width else _strip(values)


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
