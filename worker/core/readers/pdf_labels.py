"""Row labels of a table printed without ruling, rebuilt as cells.

The lines of a wrapped label stack into one block (right under each other, overlapping across);
a line of values belongs to the label block whose height spans it, the rightmost if several do
(values are centred in tall rows, so they rarely share a baseline with a label's first line). A
block spanning several rows to the left of their labels is a group label (often one character
per line): it leads the first row it spans, as in HTML's grid.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.core.columns import Span, overlaps
from worker.core.document import Box
from worker.core.readers.pdf_lines import Segment, join_wrapped

# Two lines of one label block are at most this far apart (× glyph height); rows are further.
STACKED = 0.5
# How far (× glyph height) past a label block a value line may still sit and belong to it.
_SLACK = 0.25
# Blocks still open to a next line: a label is never wider than this many columns of labels.
_OPEN = 12
_NUMBERED = re.compile(r"^\s*(?:[(（][一二三四五六七八九十\d]+[)）]|[一二三四五六七八九十]+、|\d+\s*[.、．])")


@dataclass(slots=True)
class Block:
    """Label segments stacked in one cell: a row label wrapped over lines, or a group label."""

    page: int
    pieces: list[Segment] = field(default_factory=list)
    box: Box = (0.0, 0.0, 0.0, 0.0)

    def add(self, segment: Segment) -> None:
        """Stack one more line of the label."""
        b, old = segment.box, self.box
        self.box = (
            b if not self.pieces else (min(old[0], b[0]), min(old[1], b[1]), max(old[2], b[2]), max(old[3], b[3]))
        )
        self.pieces.append(segment)

    @property
    def text(self) -> str:
        """The label's lines as one text."""
        return join_wrapped(s.text for s in self.pieces)


@dataclass(frozen=True, slots=True)
class Labels:
    """Per line of values its own label and the group labels leading it; the blocks of no row."""

    own: dict[int, Block | None]
    groups: dict[int, list[Block]]
    loose: list[Block]


def find_labels(pieces: Sequence[tuple[int, Segment]], values: dict[int, tuple[int, Box]], height: float) -> Labels:
    """Label segments (page, segment) and lines of values (index → page, box of its values) →
    the labels of each line of values."""
    blocks = _stack(pieces, height)
    by_page: dict[int, list[Block]] = {}
    for block in blocks:
        by_page.setdefault(block.page, []).append(block)
    owner = {i: _owner(box, by_page.get(page, []), height) for i, (page, box) in values.items()}
    sharing: dict[int, list[int]] = {}
    for i, chosen in owner.items():
        if chosen is not None:
            sharing.setdefault(id(chosen), []).append(i)
    own = dict(owner)
    for block in blocks:
        rows = sharing.get(id(block), [])
        if len(rows) > 1:
            own.update(_split(block, {i: values[i][1] for i in rows}, height))
    taken = {id(b) for b in own.values() if b is not None} | {k for k, rows in sharing.items() if len(rows) > 1}
    lines_by_page: dict[int, list[int]] = {}
    for i, (page, _) in sorted(values.items()):
        lines_by_page.setdefault(page, []).append(i)
    groups: dict[int, list[Block]] = {}
    loose: list[Block] = []
    for block in blocks:
        if id(block) in taken:
            continue
        row = _group_row(block, lines_by_page.get(block.page, []), values, own, height)
        if row is None:
            loose.append(block)
        else:
            groups.setdefault(row, []).append(block)
    return Labels(own, groups, loose)


def _stack(pieces: Sequence[tuple[int, Segment]], height: float) -> list[Block]:
    blocks: list[Block] = []
    for page, segment in sorted(pieces, key=lambda p: (p[0], p[1].box[1], p[1].x0)):
        best: Block | None = None
        span = Span(segment.x0, segment.x1)
        for block in reversed(blocks[-_OPEN:]):
            last = block.pieces[-1]
            gap = segment.box[1] - last.box[3]
            stacked = block.page == page and -STACKED * height <= gap <= STACKED * height
            if stacked and overlaps(span, Span(last.x0, last.x1)):
                best = block
                break
        if best is None:
            best = Block(page)
            blocks.append(best)
        best.add(segment)
    return blocks


def _middle(box: Box) -> float:
    return (box[1] + box[3]) / 2


def _owner(values: Box, blocks: list[Block], height: float) -> Block | None:
    """The rightmost label block whose height spans the line of values: the row's own label."""
    middle, slack = _middle(values), _SLACK * height
    spanning = [b for b in blocks if b.box[1] - slack <= middle <= b.box[3] + slack]
    return max(spanning, key=lambda b: b.box[0], default=None)


def _split(block: Block, rows: dict[int, Box], height: float) -> dict[int, Block | None]:
    """A block that several lines of values chose holds the labels of several rows printed
    without space between them: each of its lines goes to the nearest line of values."""
    parts = {i: Block(block.page) for i in rows}
    for piece in block.pieces:
        distances = [(abs(_middle(piece.box) - _middle(box)), i) for i, box in rows.items()]
        best = min(d for d, _ in distances)
        tied = [i for d, i in distances if d - best <= 0.1 * height]
        # A tie between two rows: a numbered line starts a label, any other continues one.
        parts[tied[-1] if _NUMBERED.match(piece.text) else tied[0]].add(piece)
    return {i: part if part.pieces else None for i, part in parts.items()}


def _group_row(
    block: Block, lines: list[int], values: dict[int, tuple[int, Box]], own: dict[int, Block | None], height: float
) -> int | None:
    """The first line of values a group label spans, left of that line's own label."""
    slack = _SLACK * height
    for i in lines:
        label = own.get(i)
        if label is not None and label.box[0] < block.box[2]:
            continue
        if block.box[1] - slack <= _middle(values[i][1]) <= block.box[3] + slack:
            return i
    return None
