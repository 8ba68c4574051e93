"""Real PDFs printed from known cells with reportlab, the way Word prints a report's tables.

Tables have tall rows (labels wrapped over two or three lines in narrow columns, every cell's text
vertically centred), group labels one character per line in a narrow merged cell, merged cells
split by page breaks, page numbers in the footer, headings in fake bold (printed twice). Ruled
tables draw their borders in one of the ways real PDFs do (stroked lines, thin filled rectangles,
stroked cell rectangles, one path for the whole table, or rows and outline only), sometimes over
shaded header cells; unruled tables are the same without borders. The font is reportlab's built-in
STSong-Light (Adobe-GB1, not embedded): PDFium reads its text exactly, no font package needed.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from tests.render import Block, GridCell

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

PAGE_WIDTH, PAGE_HEIGHT = 595.0, 842.0
LEFT, TOP, BOTTOM = 72.0, 72.0, PAGE_HEIGHT - 72.0
WIDTH = PAGE_WIDTH - 2 * LEFT
BODY, TABLE, TITLE = 10.5, 9.0, 16.0
LEADING = 1.3
# Word's default cell margins left and right (0.19 cm); some space above and below.
PAD_X, PAD_Y = 5.4, 4.0
# Relative column widths per table and column count (pingtan's irregular table 三 has 11).
COLUMNS: dict[tuple[str, int], Sequence[float]] = {
    ("active", 4): (130, 107, 107, 107),
    ("applications", 10): (20, 45, 106, *([40] * 7)),
    ("applications", 11): (20, 45, 106, 40, 20, 20, *([40] * 5)),
    ("review_litigation", 15): [30] * 15,
}
# "frame" rules the rows and the table's outline only: the columns must come from the values.
Borders = Literal["lines", "bars", "boxes", "path", "frame"]
BORDERS: tuple[Borders, ...] = ("lines", "bars", "boxes", "path", "frame")

Op = Callable[[canvas.Canvas], None]
Box = tuple[float, float, float, float]


@dataclass
class _Doc:
    """Drawing operations per page (a merged cell split by a page break draws on two pages)."""

    rng: random.Random
    ruled: bool
    borders: Borders
    shaded: bool
    footer: str
    pages: list[list[Op]] = field(default_factory=lambda: [[]])
    y: float = TOP

    @property
    def page(self) -> int:
        return len(self.pages) - 1

    def new_page(self) -> None:
        self.pages.append([])
        self.y = TOP

    def room(self, height: float) -> None:
        if self.y + height > BOTTOM and self.y > TOP:
            self.new_page()

    def text(self, page: int, x: float, top: float, text: str, size: float, bold: bool = False) -> None:
        baseline = PAGE_HEIGHT - (top + size * 0.95)

        def draw(c: canvas.Canvas) -> None:
            c.setFont(FONT, size)
            c.drawString(x, baseline, text)
            if bold:  # fake bold: the same glyphs again, a fraction of a point to the right
                c.drawString(x + 0.3, baseline, text)

        self.pages[page].append(draw)


def width_of(text: str, size: float) -> float:
    """Printed width of a text in the report's font."""
    return float(pdfmetrics.stringWidth(text, FONT, size))


def wrap(text: str, width: float, size: float) -> list[str]:
    """Break a text into lines that fit `width`, never inside a number or a Latin word."""
    lines = [""]
    for piece in re.findall(r"[0-9A-Za-z.,+\-]+|.", text):
        if lines[-1] and width_of(lines[-1] + piece, size) > width:
            lines.append("")
        lines[-1] += piece
    return [line for line in lines if line] or [""]


def render_pdf(blocks: Sequence[Block], *, ruled: bool, rng: random.Random) -> bytes:
    """A report as a PDF: title, prose and the three tables, page numbers in the footer."""
    footer = rng.choice(("- {n} -", "— {n} —", "第 {n} 页", "{n}/{total}", "{n}"))
    doc = _Doc(rng, ruled, rng.choice(BORDERS), rng.random() < 0.4, footer)
    for block in blocks:
        if block.kind == "title":
            _title(doc, block.text)
        elif block.kind == "heading":
            _paragraph(doc, block.text, indent=0.0, bold=rng.random() < 0.5)
        elif block.kind == "para":
            _paragraph(doc, block.text, indent=2 * BODY)
        else:
            _table(doc, block)
    return _finish(doc)


def _finish(doc: _Doc) -> bytes:
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
    total = len(doc.pages)
    for number, ops in enumerate(doc.pages, start=1):
        for op in ops:
            op(c)
        c.setFont(FONT, BODY)
        c.drawCentredString(PAGE_WIDTH / 2, 40, doc.footer.format(n=number, total=total))
        c.showPage()
    c.save()
    return out.getvalue()


def _title(doc: _Doc, text: str) -> None:
    split = re.match(r"(.+?)(\d{4}年.+)", text)
    lines = [split.group(1), split.group(2)] if split and doc.rng.random() < 0.5 else [text]
    for line in lines:
        doc.text(doc.page, LEFT + (WIDTH - width_of(line, TITLE)) / 2, doc.y, line, TITLE)
        doc.y += TITLE * 1.6
    doc.y += BODY


def _paragraph(doc: _Doc, text: str, *, indent: float, bold: bool = False) -> None:
    lines = wrap(text, WIDTH - indent, BODY)
    for i, line in enumerate(lines):
        doc.room(BODY * LEADING)
        doc.text(doc.page, LEFT + (indent if i == 0 else 0.0), doc.y, line, BODY, bold)
        doc.y += BODY * LEADING
    doc.y += BODY * 0.4


# ---------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class _Placed:
    cell: GridCell
    row: int
    column: int


def _place(grid: Sequence[Sequence[GridCell]]) -> tuple[list[_Placed], int]:
    """HTML's table model: each cell at the first column its row leaves free."""
    covered: set[tuple[int, int]] = set()
    placed: list[_Placed] = []
    columns = 0
    for r, row in enumerate(grid):
        c = 0
        for cell in row:
            while (r, c) in covered:
                c += 1
            placed.append(_Placed(cell, r, c))
            covered.update((r + i, c + j) for i in range(cell.rowspan) for j in range(cell.colspan))
            c += cell.colspan
            columns = max(columns, c)
    return placed, columns


def _widths(name: str, columns: int) -> list[float]:
    relative = COLUMNS.get((name, columns), [1.0] * columns)
    return [WIDTH * w / sum(relative) for w in relative]


def _lines_of(item: _Placed, width: float) -> tuple[list[str], float]:
    """A cell's lines and font size: a value on one line (smaller if it must, as Word's "fit
    text" does), a narrow group label one character per line, any other text wrapped."""
    inner = width - 2 * PAD_X
    if item.cell.kind == "value":
        return [item.cell.text], min(TABLE, TABLE * inner / max(width_of(item.cell.text, TABLE), 1.0))
    if item.cell.kind == "label" and item.cell.rowspan > 3 and width < TABLE * 3:
        return list(item.cell.text), TABLE
    return wrap(item.cell.text, inner, TABLE), TABLE


def _table(doc: _Doc, block: Block) -> None:
    placed, columns = _place(block.grid)
    widths = _widths(block.table, columns)
    xs = [LEFT + sum(widths[:i]) for i in range(columns + 1)]
    fitted = [_lines_of(p, xs[p.column + p.cell.colspan] - xs[p.column]) for p in placed]
    lines = [text for text, _ in fitted]
    step = TABLE * LEADING
    heights = [step + 2 * PAD_Y] * len(block.grid)
    for p, text in zip(placed, lines, strict=True):
        if p.cell.rowspan == 1:
            heights[p.row] = max(heights[p.row], len(text) * step + 2 * PAD_Y)
    for p, text in zip(placed, lines, strict=True):
        last = p.row + p.cell.rowspan - 1
        short = len(text) * step + 2 * PAD_Y - sum(heights[p.row : last + 1])
        if short > 0:
            heights[last] += short
    doc.y += doc.rng.choice((4.0, 8.0, 8.0, 120.0, 260.0))  # move the page breaks around
    pages, tops = _paginate(doc, heights)
    strip = [sum(heights[:r]) for r in range(len(heights) + 1)]
    if doc.shaded:
        for p in placed:
            if p.cell.kind == "head":
                for page, box in _parts(p, xs, pages, tops, heights):
                    doc.pages[page].append(_shade(box))
    for p, (text, size) in zip(placed, fitted, strict=True):
        _cell_text(doc, p, text, size, xs, pages, tops, strip)
    if doc.ruled:
        _rule(doc, [part for p in placed for part in _parts(p, xs, pages, tops, heights)])
    doc.y += BODY


def _paginate(doc: _Doc, heights: list[float]) -> tuple[list[int], list[float]]:
    """Rows move whole to the next page when they do not fit; merged cells split."""
    pages: list[int] = []
    tops: list[float] = []
    for height in heights:
        doc.room(height)
        pages.append(doc.page)
        tops.append(doc.y)
        doc.y += height
    return pages, tops


def _parts(
    p: _Placed, xs: list[float], pages: list[int], tops: list[float], heights: list[float]
) -> list[tuple[int, Box]]:
    """The rectangle of a cell on each page it is on."""
    x0, x1 = xs[p.column], xs[p.column + p.cell.colspan]
    parts: dict[int, Box] = {}
    for r in range(p.row, p.row + p.cell.rowspan):
        top, bottom = tops[r], tops[r] + heights[r]
        old = parts.get(pages[r])
        parts[pages[r]] = (x0, old[1] if old else top, x1, bottom)
    return list(parts.items())


def _cell_text(
    doc: _Doc,
    p: _Placed,
    text: list[str],
    size: float,
    xs: list[float],
    pages: list[int],
    tops: list[float],
    strip: list[float],
) -> None:
    """Lines centred in the cell's whole height; each on the page of the row it falls in."""
    step = TABLE * LEADING
    rows = range(p.row, p.row + p.cell.rowspan)
    height = strip[p.row + p.cell.rowspan] - strip[p.row]
    first = strip[p.row] + (height - len(text) * step) / 2
    x0, x1 = xs[p.column] + PAD_X, xs[p.column + p.cell.colspan] - PAD_X
    for k, line in enumerate(text):
        top = first + k * step
        middle = top + step / 2
        row = next((r for r in rows if strip[r] <= middle < strip[r + 1]), rows[-1])
        page_top = tops[row] + (top - strip[row]) + (step - size) / 2
        left = x0 if p.cell.kind == "label" and len(text[0]) > 1 else x0 + (x1 - x0 - width_of(line, size)) / 2
        doc.text(pages[row], left, page_top, line, size)


def _shade(box: Box) -> Op:
    def draw(c: canvas.Canvas) -> None:
        c.setFillGray(0.88)
        c.rect(box[0], PAGE_HEIGHT - box[3], box[2] - box[0], box[3] - box[1], stroke=0, fill=1)
        c.setFillGray(0)

    return draw


def _rule(doc: _Doc, parts: list[tuple[int, Box]]) -> None:
    by_page: dict[int, list[Box]] = {}
    for page, box in parts:
        by_page.setdefault(page, []).append(box)
    for page, boxes in by_page.items():
        doc.pages[page].append(_borders(doc.borders, boxes, doc.rng.choice((0.5, 0.75, 1.0))))


def _borders(style: Borders, boxes: list[Box], width: float) -> Op:
    def draw(c: canvas.Canvas) -> None:
        c.setLineWidth(width)
        path = c.beginPath()
        for x0, top, x1, bottom in boxes:
            y0, y1 = PAGE_HEIGHT - bottom, PAGE_HEIGHT - top
            if style == "boxes":
                c.rect(x0, y0, x1 - x0, y1 - y0, stroke=1, fill=0)
            elif style == "bars":
                half = width / 2
                for rx, ry, rw, rh in (
                    (x0 - half, y0 - half, x1 - x0 + width, width),
                    (x0 - half, y1 - half, x1 - x0 + width, width),
                    (x0 - half, y0, width, y1 - y0),
                    (x1 - half, y0, width, y1 - y0),
                ):
                    c.rect(rx, ry, rw, rh, stroke=0, fill=1)
            elif style == "lines":
                for ax, ay, bx, by in ((x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)):
                    c.line(ax, ay, bx, by)
            elif style == "frame":
                c.line(x0, y0, x1, y0)
                c.line(x0, y1, x1, y1)
            else:
                path.rect(x0, y0, x1 - x0, y1 - y0)
        if style == "path":
            c.drawPath(path, stroke=1, fill=0)
        if style == "frame":
            left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
            top, bottom = PAGE_HEIGHT - min(b[1] for b in boxes), PAGE_HEIGHT - max(b[3] for b in boxes)
            c.line(left, bottom, left, top)
            c.line(right, bottom, right, top)

    return draw
