"""The `pdftotext -layout` shape: tables printed with spaces, every cell at its column.

Header cells stand centred over their columns (wrapped when wider); values sit right-aligned or
centred in their column; labels wider than their column wrap over two to four lines, with the
values on the middle line (or, for two lines, on either one or on a line of their own between), as
pdftotext prints vertically centred cells. Columns are display columns (CJK two wide) or, as real
pdftotext output has them, characters. A blank may print as nothing: its column stays empty, and
the other values of the column say where it is. A page break inside a table moves every column;
the rows of a page that neither repeats the header nor has a complete row cannot be placed, and
their cells are undetermined.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.render_document import _Block, _grid, _prose_lines
from tests.render_grid import _Cell, _pieces, _Style
from tests.render_noise import furniture, ocr

_GAP = 2
# How far a page break may move the columns (pdftotext measures each page on its own).
_SHIFT = (-2, 8)


def display_width(text: str) -> int:
    """Display columns: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@dataclass(slots=True)
class _Placed:
    col: int
    cell: _Cell
    text: str


@dataclass(slots=True)
class _Page:
    """The data rows printed on one page of a table, and whether the page can place its values."""

    keys: list[list[str]] = field(default_factory=list)
    settled: bool = False


def render_layout(style: _Style, blocks: list[_Block]) -> str:
    """The whole report as `pdftotext -layout` prints it."""
    title = blocks[0].text
    return _prose_lines(blocks, lambda b: _Table(style, b, title).lines(), lambda b: b.text)


def _rows(style: _Style, grid: list[list[_Cell]]) -> list[list[_Placed]]:
    """Each grid row's cells with their grid column; a group label spanning rows is spread over
    them (a piece per row, or nothing), as a PDF centres it in its tall cell."""
    covered: dict[tuple[int, int], str] = {}
    rows: list[list[_Placed]] = []
    for r, row in enumerate(grid):
        placed: list[_Placed] = []
        col = 0
        for cell in row:
            while (r, col) in covered:
                placed.append(_Placed(col, _Cell("", "pad"), covered.pop((r, col))))
                col += 1
            pieces = _pieces(style, cell, spread=True)
            placed.append(_Placed(col, cell, pieces[0]))
            for i in range(1, cell.rowspan):
                covered[(r + i, col)] = pieces[i]
                for j in range(1, cell.colspan):
                    covered[(r + i, col + j)] = ""
            col += cell.colspan
        while (r, col) in covered:
            placed.append(_Placed(col, _Cell("", "pad"), covered.pop((r, col))))
            col += 1
        rows.append([p for p in placed if p.text or p.cell.kind == "value"])
    return rows


def _wrap(text: str, width: int, measure: Callable[[str], int]) -> list[str]:
    """Cut a text into lines no wider than `width` (at least two characters a line)."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if line and measure(line + ch) > width and len(line) >= 2:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line] if line else lines


class _Table:
    """One table laid out in columns."""

    def __init__(self, style: _Style, block: _Block, title: str) -> None:
        self.style, self.title, self.table = style, title, block.table
        noise, rng = style.noise, style.rng
        self.measure = len if noise.by_chars else display_width
        self.rows = _rows(style, _grid(block))
        values = [p for row in self.rows for p in row if p.cell.kind == "value"]
        self.first = min(p.col for p in values)
        self.columns = max(p.col + p.cell.colspan for row in self.rows for p in row)
        # A narrow label column wraps every long label, and its values are centred on the lines.
        self.narrow = bool(noise.wrapped) and rng.random() < noise.wrapped
        self.between = rng.random() < 0.5  # two-line labels: values on a line of their own
        self.groups_low = rng.random() < 0.5  # group pieces on the values line, not the first
        self.offsets = self._label_offsets()
        heads = [p for row in self.rows for p in row if p.cell.kind == "head" and p.col >= self.first]
        widest = max([self.measure(p.text) for p in values] + [min(self.measure(p.text), 8) for p in heads])
        self.slot = widest + _GAP + rng.randint(0, 3)
        self.start = self.offsets[-1] if self.first else rng.choice((0, 2, 4))
        self.shift = 0
        self.broken = False
        self.pages = [_Page()]

    # -- geometry ------------------------------------------------------------------------------

    def _label_offsets(self) -> list[int]:
        """Where each label column starts, and (last) where the values start."""
        rng, offsets = self.style.rng, [0]
        for j in range(self.first):
            texts = [p.text for row in self.rows for p in row if p.col == j and p.cell.colspan == 1]
            width = max((self.measure(t) for t in texts), default=2)
            if j == self.first - 1 and self.narrow:
                width = min(width, rng.randint(12, 22) if self.measure is display_width else rng.randint(6, 11))
            offsets.append(offsets[-1] + width + _GAP + rng.randint(0, 2))
        if self.first and not self.narrow:
            # Labels spanning label columns (一、本年新收…) fit before the values, unwrapped.
            spanning = [p for row in self.rows for p in row if p.cell.kind == "label" and p.cell.colspan > 1]
            need = max((offsets[p.col] + self.measure(p.text) + _GAP for p in spanning), default=0)
            offsets[-1] = max(offsets[-1], need)
        return offsets

    def _span(self, col: int, colspan: int) -> tuple[int, int]:
        """A cell's horizontal extent in the current page's columns."""
        end = col + colspan
        x0 = self.offsets[col] if col < self.first else self.start + (col - self.first) * self.slot
        x1 = self.offsets[end] - _GAP if end <= self.first else self.start + (end - self.first) * self.slot - _GAP
        return x0 + self.shift, x1 + self.shift

    # -- lines ---------------------------------------------------------------------------------

    def lines(self) -> list[str]:
        """The table's text lines."""
        out: list[str] = []
        data = [i for i, row in enumerate(self.rows) if any(p.cell.kind == "value" for p in row)]
        breaking = self._break_at(data)
        for i, row in enumerate(self.rows):
            if i == breaking:
                out += self._page_break(i)
            if any(p.cell.kind == "head" for p in row):
                out += self._header(row)
                self.pages[-1].settled = True
            elif i in data:
                out += self._data(row)
            else:
                out.append(self._compose([(self._span(p.col, 1)[0], p.text) for p in row]))
        self._settle()
        return ["", *out, ""]

    def _break_at(self, data: list[int]) -> int:
        noise, rng = self.style.noise, self.style.rng
        if self.table != "applications" or not noise.furniture or rng.random() >= noise.furniture:
            return -1
        return rng.choice(data[2:-1])

    def _page_break(self, row: int) -> list[str]:
        rng = self.style.rng
        self.broken = True
        lines = furniture(self.style, self.title, rng.randint(2, 9))
        self.shift = max(-self.start + 1, self.shift + rng.randint(*_SHIFT)) if self.first else self.shift
        self.pages.append(_Page())
        if rng.random() < 0.4:  # the header repeated on the new page
            for header in (r for r in self.rows[:row] if any(p.cell.kind == "head" for p in r)):
                lines += self._header(header)
            self.pages[-1].settled = True
        return lines

    def _header(self, row: list[_Placed]) -> list[str]:
        """Header cells centred over their columns, wrapped over lines when wider."""
        stacks: list[tuple[int, int, list[str]]] = []
        for p in row:
            x0, x1 = self._span(p.col, p.cell.colspan)
            stacks.append((x0, x1, _wrap(p.text, max(x1 - x0, 4), self.measure)))
        out = []
        for k in range(max(len(s) for _, _, s in stacks)):
            pieces = []
            for x0, x1, stack in stacks:
                if k < len(stack):
                    width = self.measure(stack[k])
                    pieces.append((x0 + max(0, (x1 - x0 - width) // 2), stack[k]))
            out.append(self._compose(pieces))
        return out

    def _data(self, row: list[_Placed]) -> list[str]:
        """A data row: its label (wrapped or not), group pieces, and the line of its values."""
        style, rng = self.style, self.style.rng
        labels = [p for p in row if p.cell.kind == "label" and p.col < self.first]
        label = max(labels, key=lambda p: p.col, default=None)
        groups = [p for p in row if p.cell.kind != "value" and p is not label]
        values = [p for p in row if p.cell.kind == "value"]
        texts = [""]
        if label is not None:
            text = ocr(rng, label.text) if style.noise.ocr and rng.random() < style.noise.ocr else label.text
            x0, x1 = self._span(label.col, label.cell.colspan)
            texts = _wrap(text, x1 - x0, self.measure) if self.narrow else self._maybe_split(text)
        at = (len(texts) - 1) // 2 if self.narrow else 0
        if self.narrow and len(texts) == 2:
            at = 1 if self.between else rng.choice((0, 1))
            texts = [texts[0], "", texts[1]] if self.between else texts
        # A page that ends inside a tall row: furniture between its label and its values.
        inside = self.narrow and at > 0 and not self.broken and style.noise.furniture
        inside = inside and rng.random() < style.noise.furniture / 8
        out: list[str] = []
        for k, text in enumerate(texts):
            if inside and k == at:
                out += self._page_break(len(self.rows))
            pieces = [(self._span(label.col, 1)[0], text)] if label is not None and text else []
            if k == (at if self.groups_low else 0):
                pieces = [(self._span(p.col, 1)[0], p.text) for p in groups] + pieces
            if k == at:
                pieces += [self._value(p) for p in values if p.text]
            out.append(self._compose(pieces))
        self.pages[-1].keys.append([p.cell.key for p in values])
        if all(p.text for p in values):
            self.pages[-1].settled = True
        return out

    def _maybe_split(self, text: str) -> list[str]:
        """Without a narrow column, now and then a long label's tail on the next line."""
        rng = self.style.rng
        if len(text) < 12 or rng.random() >= 0.2:
            return [text]
        cut = rng.randint(math.ceil(len(text) * 0.6), len(text) - 2)
        return [text[:cut], text[cut:]]

    def _value(self, p: _Placed) -> tuple[int, str]:
        x0, x1 = self._span(p.col, p.cell.colspan)
        width = self.measure(p.text)
        noise, rng = self.style.noise, self.style.rng
        shift = rng.choice((-1, 1)) if noise.jitter and rng.random() < noise.jitter else 0
        if noise.centred:
            return x0 + max(0, (x1 - x0 - width) // 2) + shift, p.text
        return max(x0, x1 - width) + shift, p.text

    def _compose(self, pieces: list[tuple[int, str]]) -> str:
        """Text pieces at their columns, at least two spaces apart."""
        line = ""
        for x, text in sorted(pieces):
            used = self.measure(line)
            line += " " * (max(x - used, _GAP) if line else max(x, 0)) + text
        return line.rstrip()

    def _settle(self) -> None:
        """Rows on a page with nothing to place their values by: undetermined where incomplete."""
        for page in self.pages:
            if page.settled:
                continue
            for keys in page.keys:
                self.style.undetermined.update(keys)
