"""Word (.docx) → lines of raw cells, from the package's XML: paragraphs and tables in document order.

A table reads like an HTML table (`worker.core.html._grid`): one line per row, one raw cell per
cell, a `gridSpan` cell once, a position a `vMerge` continues from above (or a `gridBefore` leaves
empty) as "". A table whose cells hold tables is layout: its content is read as paragraphs and
inner tables. A form that a page break split into two Word tables (nothing but empty paragraphs
between, the same width, or a second part that starts inside a merged cell) reads as one table.
Text boxes, headers, footers, notes, deleted and hidden text are not the report's body.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from worker.core.document import Extracted, Limits, Where
from worker.core.errors import ReportFailure
from worker.core.readers.zipped import Package
from worker.core.result import FailureReason

Element = Any  # lxml ships no type information

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_W_STRICT = "{http://purl.oclc.org/ooxml/wordprocessingml/main}"
_W_LENGTH = len(_W)
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_MAIN_DOCUMENT = ("/officeDocument", "/officeDocument/2006/relationships/officeDocument")
# Wrappers whose content is in the flow where they stand (content controls, custom XML, revisions).
_WRAPPERS = frozenset(("customXml", "smartTag", "ins", "moveTo", "dir", "bdo", "hyperlink", "fldSimple"))
_VANISH = f"{_W}rPr/{_W}vanish"
_MAX_SPAN = 64
_MAX_DEPTH = 32
_WS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
_BREAK = "\n"


def read_docx(data: bytes, limits: Limits) -> Extracted:
    """A Word document's paragraphs (one cell per line) and tables (one line per row), in order."""
    package = Package(data, limits, "Word document")
    body = _body(_transitional(package.xml(_main_part(package))))
    out = _Out(limits)
    _blocks(body, out, 0)
    return Extracted(out.rows, out.where)


def join_pieces(pieces: Iterable[str]) -> str:
    """The pieces of one cell (paragraphs, lines) as one raw cell, glued as `html._cell_text` does:
    no space between CJK pieces (`商业` + `企业`), one between ASCII words or digits."""
    text = ""
    for piece in pieces:
        piece = _WS.sub(" ", piece).strip()
        if not piece:
            continue
        glue = " " if text and text[-1].isascii() and text[-1].isalnum() and piece[0].isascii() else ""
        text += glue + piece
    return text


def _main_part(package: Package) -> str:
    """The main document part named by the package relationships (`word/document.xml` by default)."""
    if package.has("_rels/.rels"):
        for rel in package.xml("_rels/.rels").iter(f"{{{_RELS}}}Relationship"):
            target = rel.get("Target", "").lstrip("/")
            if rel.get("Type", "").endswith(_MAIN_DOCUMENT) and package.has(target):
                return str(target)
    return "word/document.xml"


def _transitional(root: Element) -> Element:
    """A Strict OOXML document with its names in the Transitional namespace, which the rest reads."""
    if isinstance(root.tag, str) and root.tag.startswith(_W_STRICT):
        for element in root.iter():
            if isinstance(element.tag, str) and element.tag.startswith(_W_STRICT):
                element.tag = _W + element.tag[len(_W_STRICT) :]
            for name in [n for n in element.attrib if n.startswith(_W_STRICT)]:
                element.set(_W + name[len(_W_STRICT) :], element.attrib.pop(name))
    return root


def _body(root: Element) -> Element:
    body = root.find(f"{_W}body")
    if body is None:
        raise ReportFailure(FailureReason.UNREADABLE, "the Word document has no body")
    return body


def _name(element: Element) -> str | None:
    """The WordprocessingML local name of an element; None for other namespaces, comments, entities."""
    tag = element.tag
    return tag[_W_LENGTH:] if isinstance(tag, str) and tag.startswith(_W) else None


def _child(element: Element, name: str) -> Element | None:
    return element.find(_W + name)


def _flow(element: Element) -> Iterator[Element]:
    """The children of an element, looking through content controls and other wrappers."""
    for child in element:
        name = _name(child)
        if name == "sdt":
            content = _child(child, "sdtContent")
            if content is not None:
                yield from _flow(content)
        elif name in _WRAPPERS:
            yield from _flow(child)
        elif name is not None:
            yield child


# ---------------------------------------------------------------------------------------- output


@dataclass(slots=True)
class _Last:
    """The table just read, which a split continuation may join."""

    number: int
    width: int
    rows: int


class _Out:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.rows: list[list[str]] = []
        self.where: list[list[Where | None]] = []
        self.cells = 0
        self.paragraphs = 0
        self.tables = 0
        # The last table, while only empty paragraphs follow it.
        self.last: _Last | None = None

    def line(self, cells: list[str], where: list[Where | None]) -> None:
        self.cells += len(cells)
        if self.cells > self.limits.max_cells:
            raise ReportFailure(
                FailureReason.TOO_LARGE, f"the Word document has more than {self.limits.max_cells} cells"
            )
        self.rows.append(cells)
        self.where.append(where)

    def paragraph(self, text: str) -> None:
        self.paragraphs += 1
        here = Where(line=self.paragraphs)
        for part in text.split(_BREAK):
            part = _WS.sub(" ", part).strip()
            if part:
                self.last = None
                self.line([part], [here])

    def table(self, grid: "_Grid") -> None:
        self.limits.check_time(f"table {self.tables + 1}")
        last = self.last
        if last is not None and (grid.width == last.width or grid.continues):
            number, first = last.number, last.rows + 1
        else:
            self.tables += 1
            number, first = self.tables, 1
        for r, (line, columns) in enumerate(zip(grid.lines, grid.columns, strict=True), start=first):
            self.line(line, [Where(table=number, row=r, column=c + 1) for c in columns])
        self.last = _Last(number, grid.width, first - 1 + len(grid.lines))


# ---------------------------------------------------------------------------------------- blocks


def _blocks(container: Element, out: _Out, depth: int) -> None:
    for child in _flow(container):
        name = _name(child)
        if name == "p":
            out.paragraph(_paragraph_text(child))
        elif name == "tbl":
            if depth < _MAX_DEPTH and _is_layout(child):
                # A table of tables lays out the page; its cells are read as blocks, like HTML's.
                for row in _rows(child):
                    for cell in _cells(row):
                        _blocks(cell, out, depth + 1)
            else:
                out.table(_grid(child))


def _is_layout(table: Element) -> bool:
    return next(table.iterdescendants(f"{_W}tbl"), None) is not None


def _paragraph_text(paragraph: Element) -> str:
    """The text a paragraph prints; line breaks as `_BREAK`, tabs as spaces."""
    parts: list[str] = []
    _runs(paragraph, parts)
    return "".join(parts)


def _runs(element: Element, parts: list[str]) -> None:
    for child in element:
        name = _name(child)
        if name == "t":
            parts.append(child.text or "")
        elif name in ("tab", "ptab"):
            parts.append(" ")
        elif name in ("br", "cr"):
            parts.append(_BREAK)
        elif name == "noBreakHyphen":
            parts.append("-")
        elif name == "r":
            if not _hidden(child):
                _runs(child, parts)
        elif name == "sdt":
            content = _child(child, "sdtContent")
            if content is not None:
                _runs(content, parts)
        elif name in _WRAPPERS:
            _runs(child, parts)
        # Everything else prints nothing of the body: properties, deleted or moved-away text
        # (w:del, w:moveFrom), field codes, drawings and text boxes, other namespaces.


def _hidden(run: Element) -> bool:
    vanish = run.find(_VANISH)
    return vanish is not None and _on(vanish)


def _on(toggle: Element) -> bool:
    value = _attr(toggle, "val")
    return value is None or value.lower() not in ("0", "false", "off")


def _attr(element: Element, name: str) -> str | None:
    value = element.get(_W + name)
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------- tables


@dataclass(slots=True)
class _Grid:
    """A table as lines of raw cells, each cell's grid column (0-based), and the grid's width."""

    lines: list[list[str]]
    columns: list[list[int]]
    width: int
    # The first row starts inside a cell merged from above: a split table's second part.
    continues: bool


def _rows(table: Element) -> Iterator[Element]:
    return (row for row in _flow(table) if _name(row) == "tr")


def _cells(row: Element) -> Iterator[Element]:
    return (cell for cell in _flow(row) if _name(cell) == "tc")


def _properties(element: Element, name: str) -> dict[str, Element]:
    """The children of a properties element (`w:tcPr`, `w:trPr`) by local name."""
    found = element.find(_W + name)
    return {} if found is None else {local: child for child in found if (local := _name(child)) is not None}


def _number(properties: dict[str, Element], name: str) -> int:
    """A small non-negative integer property (`w:gridSpan w:val="3"`), clamped; 0 when absent."""
    prop = properties.get(name)
    value = _attr(prop, "val") if prop is not None else None
    if value is None or not value.strip().isdigit():
        return 0
    return min(int(value.strip()), _MAX_SPAN)


def _merge(properties: dict[str, Element], name: str) -> str | None:
    """`restart`/`continue` for a vMerge or hMerge property, None when the cell has none."""
    prop = properties.get(name)
    if prop is None:
        return None
    return "restart" if _attr(prop, "val") == "restart" else "continue"


def _grid(table: Element) -> _Grid:
    lines: list[list[str]] = []
    columns: list[list[int]] = []
    width = 0
    continues = False
    for r, row in enumerate(_rows(table)):
        row_properties = _properties(row, "trPr")
        col = _number(row_properties, "gridBefore")
        # Grid positions a row leaves before its first cell read as empty cells, as covered ones do.
        line, starts = [""] * col, list(range(col))
        for cell in _cells(row):
            properties = _properties(cell, "tcPr")
            span = max(1, _number(properties, "gridSpan"))
            if _merge(properties, "hMerge") == "continue" and line:
                col += span  # the legacy horizontal merge: part of the cell before it
                continue
            text = join_pieces(_cell_pieces(cell))
            if _merge(properties, "vMerge") == "continue":
                continues = continues or r == 0
                line += [text, *[""] * (span - 1)]
                starts += range(col, col + span)
            else:
                line.append(text)
                starts.append(col)
            col += span
        lines.append(line)
        columns.append(starts)
        width = max(width, col + _number(row_properties, "gridAfter"))
    return _Grid(lines, columns, width, continues)


def _cell_pieces(cell: Element) -> Iterator[str]:
    """The paragraphs and lines of one table cell."""
    for child in _flow(cell):
        if _name(child) == "p":
            yield from _paragraph_text(child).split(_BREAK)
