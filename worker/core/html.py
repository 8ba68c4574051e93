"""HTML → lines of raw cells: every leaf `<table>` becomes a grid (rowspan/colspan expanded), the
rest of the page becomes lines of prose, in document order.

Word-pasted and CMS markup is the norm (unclosed `<p>`/`<td>`, `<o:p>`, layout tables wrapping the
report), so this builds its own forgiving tree on the standard library's tokenizer.
"""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_SKIP = frozenset(("script", "style", "noscript", "template", "svg", "object", "iframe", "select"))
_BLOCK = frozenset(
    "address article aside blockquote center dd div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead title "
    "tr ul caption".split()
)
_CELL = frozenset(("td", "th"))
_ROW_GROUP = frozenset(("thead", "tbody", "tfoot"))
# Spans are clamped: a broken page must not make a million-row grid.
_MAX_ROWSPAN = 200
_MAX_COLSPAN = 64
_WS = re.compile(r"[ \t\r\n\f\u00a0\u3000]+")
_HTML_SNIFF = re.compile(r"<\s*(?:html|body|table|div|p|br|head|meta|!doctype)\b", re.IGNORECASE)


@dataclass(slots=True)
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: "list[_Node | str]" = field(default_factory=list)
    parent: "_Node | None" = None


class _TreeBuilder(HTMLParser):
    """A forgiving tree: implicit closes for cells, rows and paragraphs; stray end tags ignored."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root")
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        self._implicit_close(tag)
        node = _Node(tag, {k.lower(): v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in _VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag.lower() not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        node: _Node | None = self.current
        while node is not None and node is not self.root:
            if node.tag == tag:
                self.current = node.parent or self.root
                return
            if node.tag == "table" and tag != "table":
                return  # an end tag never closes past the table it is in
            node = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)

    def _implicit_close(self, tag: str) -> None:
        if tag in _CELL or tag == "tr" or tag in _ROW_GROUP:
            stop = {"td": ("tr", "table"), "th": ("tr", "table"), "tr": ("table",)}.get(tag, ("table",))
            closing = _CELL | {"p"} if tag in _CELL else _CELL | {"tr", "p"} | _ROW_GROUP
            if tag in _ROW_GROUP:
                closing = _CELL | {"tr", "p"} | _ROW_GROUP
            self._close_up_to(closing, stop)
        elif tag == "p" or tag in ("div", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"):
            self._close_up_to({"p"}, ("td", "th", "table", "div", "li"))

    def _close_up_to(self, closing: set[str] | frozenset[str], stop: tuple[str, ...]) -> None:
        node: _Node | None = self.current
        target: _Node | None = None
        while node is not None and node is not self.root and node.tag not in stop:
            if node.tag in closing:
                target = node
            node = node.parent
        if target is not None:
            self.current = target.parent or self.root


def looks_like_html(text: str) -> bool:
    """Whether a document is a web page rather than plain text."""
    return _HTML_SNIFF.search(text[:8192]) is not None


def html_to_rows(text: str) -> list[list[str]]:
    """Lines of raw cells: one line per table row (spans expanded), one line per block of prose."""
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    out = _Out()
    _walk(builder.root, out)
    out.flush()
    return out.rows


class _Out:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.buffer: list[str] = []

    def text(self, data: str) -> None:
        self.buffer.append(data)

    def flush(self) -> None:
        line = _WS.sub(" ", "".join(self.buffer)).strip()
        self.buffer.clear()
        if line:
            self.rows.append([line])


def _walk(node: _Node, out: _Out) -> None:
    for child in node.children:
        if isinstance(child, str):
            out.text(child)
        elif child.tag in _SKIP or child.tag == "head":
            if child.tag == "head":
                _walk_head(child, out)
        elif child.tag == "table" and not _has_table(child):
            out.flush()
            out.rows.extend(_grid(child))
        elif child.tag == "br" or child.tag in _BLOCK:
            out.flush()
            _walk(child, out)
            out.flush()
        else:
            _walk(child, out)


def _walk_head(head: _Node, out: _Out) -> None:
    # The <title> often carries the report's title when the page body does not.
    for child in head.children:
        if isinstance(child, _Node) and child.tag == "title":
            out.flush()
            out.text(_cell_text(child))
            out.flush()


def _has_table(node: _Node) -> bool:
    return any(isinstance(c, _Node) and (c.tag == "table" or _has_table(c)) for c in node.children)


def _rows_of(table: _Node) -> list[_Node]:
    rows: list[_Node] = []
    for child in table.children:
        if isinstance(child, _Node):
            if child.tag == "tr":
                rows.append(child)
            elif child.tag in _ROW_GROUP:
                rows.extend(_rows_of(child))
    return rows


def _span(node: _Node, name: str, limit: int) -> int:
    digits = re.match(r"\s*(\d+)", node.attrs.get(name, "1"))
    return max(1, min(int(digits.group(1)) if digits else 1, limit))


def _grid(table: _Node) -> list[list[str]]:
    """Expand spans: a colspan is one cell; a rowspan leaves an empty cell in the rows it covers,
    so that the values of those rows keep their columns."""
    rows = _rows_of(table)
    covered: dict[tuple[int, int], bool] = {}
    lines: list[list[str]] = []
    for r, row in enumerate(rows):
        line: list[str] = []
        col = 0
        for cell in (c for c in row.children if isinstance(c, _Node) and c.tag in _CELL):
            while covered.pop((r, col), False):
                line.append("")
                col += 1
            rowspan = min(_span(cell, "rowspan", _MAX_ROWSPAN), len(rows) - r)
            colspan = _span(cell, "colspan", _MAX_COLSPAN)
            line.append(_cell_text(cell))
            for dr in range(1, rowspan):
                for dc in range(colspan):
                    covered[(r + dr, col + dc)] = True
            col += colspan
        while covered.pop((r, col), False):
            line.append("")
            col += 1
        lines.append(line)
    return lines


def _cell_text(cell: _Node) -> str:
    pieces: list[str] = []
    _collect(cell, pieces)
    text = ""
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        # Pieces of one cell split by <br>/<p> are one label (`商业<br>企业`); keep a space only
        # between two pieces that would otherwise glue digits or Latin words together.
        glue = " " if text and text[-1].isascii() and text[-1].isalnum() and piece[0].isascii() else ""
        text += glue + piece
    return _WS.sub(" ", text).replace("\t", " ")


def _collect(node: _Node, pieces: list[str]) -> None:
    for child in node.children:
        if isinstance(child, str):
            if pieces:
                pieces[-1] += child
            else:
                pieces.append(child)
        elif child.tag not in _SKIP:
            if child.tag == "br" or child.tag in _BLOCK:
                pieces.append("")
                _collect(child, pieces)
                pieces.append("")
            else:
                _collect(child, pieces)
