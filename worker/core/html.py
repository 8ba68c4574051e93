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
# One class then a star, not `[…]+`: a pattern that opens with a class lets the regex engine skip
# ahead to the next white space in C instead of trying a match at every character of the text.
_WS = re.compile(r"[ \t\r\n\f\u00a0\u3000][ \t\r\n\f\u00a0\u3000]*")
_SPAN = re.compile(r"\s*(\d{1,6})")
# Where a block splits a cell's text: libxml2 text never holds a NUL character.
_BREAK = "\0"
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
        if not self.buffer:  # most blocks open or close right after another
            return
        line = _WS.sub(" ", "".join(self.buffer)).strip()
        self.buffer.clear()
        if line:
            self.rows.append([line])
            self.where.append([None])

    def table(self, lines: list[list[str]], columns: list[tuple[int, ...]]) -> None:
        self.tables += 1
        for r, (line, starts) in enumerate(zip(lines, columns, strict=True), start=1):
            self.rows.append(line)
            self.where.append(list(_row_where(self.tables, r, starts)))


@lru_cache(maxsize=8192)
def _row_where(table: int, row: int, starts: tuple[int, ...]) -> tuple[Where, ...]:
    # Evidence is frozen and compared by value: the grids of reports repeat the same rows.
    return tuple(_cell_where(table, row, column + 1) for column in starts)


@lru_cache(maxsize=65536)
def _cell_where(table: int, row: int, column: int) -> Where:
    return Where(table=table, row=row, column=column)


def _walk(root: Element, out: _Out) -> None:
    """Document order without recursion: content nested any depth is read, never dropped."""
    out.text(root.text)
    # Elements still to open and, above the children of each element opened, its closing: whether
    # it ends a line, and its tail. Children come as one slice: an iterator per element costs more.
    stack: list[Element | tuple[bool, str | None]] = root[::-1]
    while stack:
        element = stack.pop()
        if isinstance(element, tuple):
            block, tail = element
            if block:
                out.flush()
            out.text(tail)
            continue
        tag = element.tag
        if tag in _SKIP:
            out.text(element.tail)
        elif tag == "table" and element.find(".//table") is None:
            out.flush()
            out.table(*_grid(element))
            out.text(element.tail)
        else:
            block = tag in _BLOCK
            if block:
                out.flush()
            out.text(element.text)
            if len(element):
                stack.append((block, element.tail))
                stack.extend(element[::-1])
            else:  # a leaf (a `<p>` of prose, a `<br>`): opened and closed at once
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


def _grid(table: Element) -> tuple[list[list[str]], list[tuple[int, ...]]]:
    """Expand spans: a colspan is one cell; a rowspan leaves an empty cell in the rows it covers,
    so that the values of those rows keep their columns. Also gives each cell's grid column."""
    rows = _rows_of(table)
    # Grid columns covered by a rowspan from above, by row: most rows have none.
    covered: dict[int, set[int]] = {}
    lines: list[list[str]] = []
    columns: list[tuple[int, ...]] = []
    for r, row in enumerate(rows):
        line: list[str] = []
        starts: list[int] = []
        taken = covered.pop(r, None)
        col = 0
        for cell in row[:]:
            if cell.tag not in _CELL:
                continue
            while taken and col in taken:
                line.append("")
                starts.append(col)
                col += 1
            colspan = 1
            attributes = cell.items()
            if attributes:  # one call tells most cells, which have no attribute at all
                rowspan, colspan = _spans(tuple(attributes))
                if rowspan > 1:  # never more than the rows left
                    for below in range(r + 1, min(r + rowspan, len(rows))):
                        covered.setdefault(below, set()).update(range(col, col + colspan))
            text = _cell_text(cell) if len(cell) else (cell.text or "").strip()
            # Letters and digits alone (`0`, `规章`) hold no white space to fold: most cells.
            line.append(text if text.isalnum() else _WS.sub(" ", text))
            starts.append(col)
            col += colspan
        while taken and col in taken:
            line.append("")
            starts.append(col)
            col += 1
        lines.append(line)
        columns.append(tuple(starts))
    return lines, columns


@lru_cache(maxsize=1024)
def _spans(attributes: tuple[tuple[str, str], ...]) -> tuple[int, int]:
    """A cell's rowspan and colspan from its attributes (`get`'s first of each name): 1 when unset.

    Pages repeat a few spanning cells (`colspan="2"`): their attributes are read once each."""
    rowspan = colspan = None
    for name, value in attributes:
        if name == "rowspan":
            rowspan = value if rowspan is None else rowspan
        elif name == "colspan":
            colspan = value if colspan is None else colspan
    return (
        1 if rowspan is None else _span(rowspan, _MAX_ROWSPAN),
        1 if colspan is None else _span(colspan, _MAX_COLSPAN),
    )


@lru_cache(maxsize=1024)
def _span(value: str, limit: int) -> int:
    # Pages repeat a few spans (`2`, `3`): the pattern runs once for each.
    digits = _SPAN.match(value)
    return max(1, min(int(digits.group(1)) if digits else 1, limit))


def _cell_text(cell: Element) -> str:
    """The text of a cell with markup inside: its pieces between blocks, stripped and glued."""
    # A lone child, nothing around it (`<td><p><span>0</span></p></td>`, most cells with markup):
    # the breaks around a block there split nothing off, so the cell's text is the child's.
    while len(cell) == 1 and not cell.text:
        child = cell[0]
        if child.tail or child.tag in _SKIP:
            break
        cell = child
    text = cell.text
    if not len(cell):  # libxml2 text never holds a break
        return (text or "").strip()
    parts = [text] if text else []
    _collect(cell, parts)
    # Breaks at either end split nothing off (`<td><p>0</p></td>`, the common case): dropped first.
    text = "".join(parts).strip(_BREAK)
    if _BREAK not in text:
        return text.strip()
    pieces = list(filter(None, map(str.strip, text.split(_BREAK))))
    return pieces[0] if len(pieces) == 1 else _glue(pieces)


def _glue(pieces: list[str]) -> str:
    """Pieces of one cell split by <br>/<p> are one label (`商业<br>企业`): glued with a space only
    where they would otherwise glue digits or Latin words together."""
    text = pieces[0] if pieces else ""
    for piece in pieces[1:]:
        last = text[-1]
        text += " " + piece if last.isascii() and last.isalnum() and piece[0].isascii() else piece
    return text


def _collect(element: Element, parts: list[str]) -> None:
    """The text below `element`, a break around each block, nothing of a skipped element but its tail."""
    # A slice of the children costs less than an iterator over them.
    for child in element[:]:
        tag = child.tag
        if tag in _SKIP:
            pass
        elif tag in _BLOCK:
            parts.append(_BREAK)
            text = child.text
            if text:
                parts.append(text)
            if len(child):
                _collect(child, parts)
            parts.append(_BREAK)
        else:
            text = child.text
            if text:
                parts.append(text)
            if len(child):
                _collect(child, parts)
        tail = child.tail
        if tail:
            parts.append(tail)
