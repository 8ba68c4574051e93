"""HTML → lines of raw cells: every leaf `<table>` becomes a grid (rowspan/colspan expanded), the
rest of the page becomes lines of prose, in document order.

Word-pasted and CMS markup is the norm (unclosed `<p>`/`<td>`, `<o:p>`, layout tables wrapping the
report): libxml2's HTML parser repairs it, and this walks the repaired tree.
"""

import re
from functools import lru_cache
from typing import Any

import lxml.etree

from worker.core.document import Extracted, Where

_SKIP = frozenset(("script", "style", "noscript", "template", "svg", "object", "iframe", "select", "head"))
_BLOCK = frozenset(
    (
        *("address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset"),
        *("figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr"),
        *("li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead"),
        *("title", "tr", "ul", "caption", "br"),
    )
)
_CELL = frozenset(("td", "th"))
_ROW_GROUP = frozenset(("thead", "tbody", "tfoot"))
# Spans are clamped: a broken page must not make a million-row grid.
_MAX_ROWSPAN = 200
_MAX_COLSPAN = 64
# Wrappers that only nest (CMS pages put a report inside dozens of <div>s, and libxml2 stops
# building the tree 256 levels down): when a page is that deep, a block wrapper becomes a line
# break and an inline one nothing, so the depth that remains is the document's real structure.
_BLOCK_WRAPPER = re.compile(
    r"<\s*/?\s*(?:div|section|article|main|header|footer|nav|aside|center|form|fieldset|figure|blockquote)\b[^>]*>",
    re.IGNORECASE,
)
_INLINE_WRAPPER = re.compile(
    r"<\s*/?\s*(?:span|font|a|b|strong|em|i|u|small|big|label|abbr|ins|o:p)\b[^>]*>", re.IGNORECASE
)
_WS = re.compile(r"[ \t\r\n\f\u00a0\u3000]+")
_SPAN = re.compile(r"\s*(\d{1,6})")
_HTML_SNIFF = re.compile(r"<\s*(?:html|body|table|div|p|br|head|meta|!doctype)\b", re.IGNORECASE)

# lxml ships no type information: its elements are typed as Any here.
Element = Any
# `lxml.html`'s `text_content()`, for the plain elements parsed here.
_TEXT_CONTENT = lxml.etree.XPath("string()", smart_strings=False)


def looks_like_html(text: str) -> bool:
    """Whether a document is a web page rather than plain text."""
    return _HTML_SNIFF.search(text[:8192]) is not None


def html_to_rows(text: str) -> list[list[str]]:
    """Lines of raw cells: one line per table row (spans expanded), one line per block of prose."""
    return html_to_extracted(text).rows


def html_to_extracted(text: str) -> Extracted:
    """`html_to_rows` with each table cell's table, row and column (1-based) as its evidence."""
    # libxml2's HTML parser, as `lxml.html` configures it, without `lxml.html`'s element classes:
    # their Python lookup runs for every element touched, and nothing here needs them.
    parser = lxml.etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        document = _document_fromstring(text.encode("utf-8", "replace"), parser)
        if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
            flat = _INLINE_WRAPPER.sub("", _BLOCK_WRAPPER.sub("<br>", text))
            document = _document_fromstring(flat.encode("utf-8", "replace"), parser)
    except lxml.etree.ParserError:  # nothing but whitespace, or markup without content
        return Extracted([], [])
    out = _Out()
    title = document.find("head/title")
    if title is not None:
        # The <title> often carries the report's title when the page body does not.
        out.text(_TEXT_CONTENT(title))
        out.flush()
    _walk(document, out)
    out.flush()
    return Extracted(out.rows, out.where)


def _document_fromstring(data: bytes, parser: Any) -> Element:
    """`lxml.html.document_fromstring`: the root element, or ParserError for an empty document."""
    root = lxml.etree.fromstring(data, parser)
    if root is None:
        raise lxml.etree.ParserError("Document is empty")
    return root


class _Out:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.where: list[list[Where | None]] = []
        self.buffer: list[str] = []
        self.tables = 0

    def text(self, data: str | None) -> None:
        if data:
            self.buffer.append(data)

    def flush(self) -> None:
        line = _WS.sub(" ", "".join(self.buffer)).strip()
        self.buffer.clear()
        if line:
            self.rows.append([line])
            self.where.append([None])

    def table(self, lines: list[list[str]], columns: list[list[int]]) -> None:
        self.tables += 1
        for r, (line, starts) in enumerate(zip(lines, columns, strict=True), start=1):
            self.rows.append(line)
            self.where.append([_cell_where(self.tables, r, c + 1) for c in starts])


@lru_cache(maxsize=65536)
def _cell_where(table: int, row: int, column: int) -> Where:
    # Evidence is frozen and compared by value: the grids of reports repeat the same cells.
    return Where(table=table, row=row, column=column)


def _walk(root: Element, out: _Out) -> None:
    """Document order without recursion: content nested any depth is read, never dropped."""
    out.text(root.text)
    stack: list[tuple[bool, Element]] = [(False, child) for child in reversed(root)]
    while stack:
        closing, element = stack.pop()
        tag = element.tag
        if closing:
            if tag in _BLOCK:
                out.flush()
            out.text(element.tail)
        elif tag in _SKIP:
            out.text(element.tail)
        elif tag == "table" and element.find(".//table") is None:
            out.flush()
            out.table(*_grid(element))
            out.text(element.tail)
        elif len(element):
            if tag in _BLOCK:
                out.flush()
            out.text(element.text)
            stack.append((True, element))
            stack.extend((False, child) for child in reversed(element))
        else:  # a leaf (a `<p>` of prose, a `<br>`): opened and closed at once
            block = tag in _BLOCK
            if block:
                out.flush()
            out.text(element.text)
            if block:
                out.flush()
            out.text(element.tail)


def _rows_of(table: Element) -> list[Element]:
    rows: list[Element] = []
    for child in table:
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in _ROW_GROUP:
            rows.extend(c for c in child if c.tag == "tr")
    return rows


def _span(value: str, limit: int) -> int:
    digits = _SPAN.match(value)
    return max(1, min(int(digits.group(1)) if digits else 1, limit))


def _grid(table: Element) -> tuple[list[list[str]], list[list[int]]]:
    """Expand spans: a colspan is one cell; a rowspan leaves an empty cell in the rows it covers,
    so that the values of those rows keep their columns. Also gives each cell's grid column."""
    rows = _rows_of(table)
    covered: set[tuple[int, int]] = set()
    lines: list[list[str]] = []
    columns: list[list[int]] = []
    for r, row in enumerate(rows):
        line: list[str] = []
        starts: list[int] = []
        col = 0
        for cell in row:
            if cell.tag not in _CELL:
                continue
            while covered and (r, col) in covered:
                line.append("")
                starts.append(col)
                col += 1
            # Most cells span nothing: no attribute, a span of 1 (never more than the rows left).
            rowspan = colspan = 1
            if cell.attrib:  # one call tells most cells, which have no attribute at all
                span = cell.get("rowspan")
                rowspan = 1 if span is None else min(_span(span, _MAX_ROWSPAN), len(rows) - r)
                span = cell.get("colspan")
                colspan = 1 if span is None else _span(span, _MAX_COLSPAN)
            line.append(_cell_text(cell))
            starts.append(col)
            if rowspan > 1:
                covered.update((r + dr, col + dc) for dr in range(1, rowspan) for dc in range(colspan))
            col += colspan
        while covered and (r, col) in covered:
            line.append("")
            starts.append(col)
            col += 1
        lines.append(line)
        columns.append(starts)
    return lines, columns


def _cell_text(cell: Element) -> str:
    if not len(cell):  # text alone, the common cell: no pieces to glue
        text = (cell.text or "").strip()
        # Letters and digits alone (`0`, `规章`) hold no white space to fold: most cells.
        return text if text.isalnum() else _WS.sub(" ", text)
    pieces = [""]
    _collect(cell, pieces)
    text = ""
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        # Pieces of one cell split by <br>/<p> are one label (`商业<br>企业`); keep a space only
        # between two pieces that would otherwise glue digits or Latin words together.
        glue = " " if text and text[-1].isascii() and text[-1].isalnum() and piece[0].isascii() else ""
        text += glue + piece
    # Letters and digits alone hold no white space to fold (`0` in its `<p><span>`).
    return text if text.isalnum() else _WS.sub(" ", text)


def _collect(element: Element, pieces: list[str]) -> None:
    if element.text:
        pieces[-1] += element.text
    for child in element:
        tag = child.tag
        if tag in _SKIP:
            pass
        elif tag in _BLOCK:
            pieces.append("")
            _collect(child, pieces)
            pieces.append("")
        else:
            _collect(child, pieces)
        if child.tail:
            pieces[-1] += child.tail
