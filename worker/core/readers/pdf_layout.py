"""A PDF's pages as one stream of lines of raw cells: ruled tables, prose and unruled tables in
reading order, page numbers where they are printed (the core drops them as furniture).
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from worker.core.document import Box, Extracted, Where
from worker.core.readers.pdf_grid import Grid, find_grids
from worker.core.readers.pdf_lines import Glyph, Rule, TextLine, is_furniture, text_lines
from worker.core.readers.pdf_unruled import Emitted, read_lines

# A page number stands this far (× its height) from everything else on its page.
_FURNITURE_GAP = 1.0
# A table continues on the next page when its edges are within this many points of the last one's.
_SAME_EDGE = 6.0
# What starts a row of the form (一、 (三) 1. 2、) and what fills a value cell (a number or a dash).
_NUMBERED = re.compile(r"\s*(?:[(（]?[一二三四五六七八九十]+[)）、.．]|[(（]?\d+[)）.．、])")
_VALUE = re.compile(r"\s*[-+]?[\d,，.．０-９]+\s*(?:万元|万|元)?\s*|\s*[-—–/／无]+\s*")


@dataclass(frozen=True, slots=True)
class Page:
    """What PDFium gave for one page: its glyphs and ruling lines, in points from the top-left."""

    number: int
    glyphs: list[Glyph]
    rules: list[Rule]


@dataclass(frozen=True, slots=True)
class _Table:
    page: int
    grid: Grid


def lay_out(pages: Sequence[Page], check_time: Callable[[str], None]) -> Extracted:
    """All pages as lines of raw cells in reading order, with where each cell was read;
    `check_time` is called between pages (it raises once the document has taken too long)."""
    items: list[tuple[tuple[int, float, float, int], Emitted | _Table]] = []
    run: list[TextLine] = []
    order = 0
    for page in pages:
        check_time(f"laying out page {page.number}")
        grids, rest = find_grids(page.rules, page.glyphs, page.number)
        lines = text_lines(rest, page.number)
        furniture = _furniture(lines, [g.box for g in grids])
        blocks: list[tuple[float, TextLine | Grid]] = [(line.top, line) for line in lines]
        blocks += [(grid.box[1], grid) for grid in grids]
        for _, block in sorted(blocks, key=lambda b: b[0]):
            order += 1
            if isinstance(block, Grid):
                items += [(_key(e), e) for e in read_lines(run)]
                run = []
                items.append(((page.number, block.box[1], block.box[0], order), _Table(page.number, block)))
            elif id(block) in furniture:
                items.append(((page.number, block.top, block.box[0], order), _page_number(block)))
            else:
                run.append(block)
    items += [(_key(e), e) for e in read_lines(run)]
    items.sort(key=lambda item: item[0])
    return _extracted([item for _, item in items], len(pages))


def _key(emitted: Emitted) -> tuple[int, float, float, int]:
    return (emitted.page, emitted.top, emitted.x0, 0)


def _page_number(line: TextLine) -> Emitted:
    # A bare number is written as the core knows page numbers (`- 4 -`): alone on its line it
    # would read as a value.
    text = line.text.strip()
    text = f"- {text} -" if text.isdigit() else text
    return Emitted(line.page, line.top, line.box[0], [text], [Where(page=line.page, box=line.box)])


def _furniture(lines: list[TextLine], grids: list[Box]) -> set[int]:
    """Page numbers: the first or last line of a page, apart from the rest, that reads like one."""
    found: set[int] = set()
    boxes = [line.box for line in lines] + grids
    for line in (lines[0], lines[-1]) if lines else ():
        if not is_furniture(line.text):
            continue
        gap = _FURNITURE_GAP * (line.bottom - line.top)
        others = [b for b in boxes if b is not line.box]
        if all(b[3] <= line.top - gap or b[1] >= line.bottom + gap for b in others):
            found.add(id(line))
    return found


def _extracted(items: list[Emitted | _Table], pages: int) -> Extracted:
    rows: list[list[str]] = []
    where: list[list[Where | None]] = []
    tables = 0
    offset = 0
    last: _Table | None = None
    for item in items:
        if isinstance(item, _Table):
            grid_rows, grid_where = item.grid.rows, item.grid.where
            if last is not None and _continues(last, item):
                offset += len(last.grid.rows)
                if rows and grid_rows and _finishes_row(rows[-1], grid_rows[0]):
                    # A row broken by the page: its label's end is printed on top of this page.
                    rows[-1] = [a + b for a, b in zip(rows[-1], grid_rows[0], strict=True)]
                    grid_rows, grid_where = grid_rows[1:], grid_where[1:]
                    offset += 1
            else:
                tables += 1
                offset = 0
            rows += grid_rows
            where += [[_renumbered(w, tables, offset) for w in line] for line in grid_where]
            last = item
            continue
        if not _is_page_number(item):
            last = None
        rows.append(item.cells)
        where.append(item.where)
    return Extracted(rows, where, pages)


def _renumbered(where: Where | None, table: int, offset: int) -> Where | None:
    if where is None:
        return None
    return Where(page=where.page, box=where.box, table=table, row=(where.row or 0) + offset, column=where.column)


def _is_page_number(item: Emitted) -> bool:
    return len(item.cells) == 1 and is_furniture(item.cells[0])


def _finishes_row(before: list[str], top: list[str]) -> bool:
    """Whether the first row of a page is the rest of the row that ended the page before: the same
    cells, text only where the previous row has text, nothing in its value cells, no numbering."""
    if len(before) != len(top) or not any(top):
        return False
    for above, cell in zip(before, top, strict=True):
        if cell and (_VALUE.fullmatch(cell) or _NUMBERED.match(cell) or _VALUE.fullmatch(above)):
            return False
    return True


def _continues(last: _Table, table: _Table) -> bool:
    """A table at the top of a page goes on with the one that ended the page before."""
    a, b = last.grid.box, table.grid.box
    return table.page == last.page + 1 and abs(a[0] - b[0]) <= _SAME_EDGE and abs(a[2] - b[2]) <= _SAME_EDGE
