"""Synthetic annual reports for tests: random cells that satisfy the checks, printed in many shapes.

The shapes imitate the real files of `fixtures/corpus` (see the spec §1). Whatever is printed is
unambiguous to a careful reader: where the real world is ambiguous (an empty cell that is either a
blank value or a span's padding) the renderer avoids the ambiguity instead of guessing for the parser.
With `noise` (`tests/render_noise.py`) it prints what extractors and OCR do to real tables, and says
which cells a careful reader could not settle (`Rendered.undetermined`).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

import opencc

from tests.render_cells import BLANKS, INJECTABLE, Blanks, Cells, CellValue, inject, random_cells
from tests.render_document import _Block, _document, _grid, _prose_lines, _ragged, title_of
from tests.render_grid import (
    NULL_MARKS,
    SHAPES,
    Noise,
    Shape,
    _Cell,
    _flatten,
    _is_value_line,
    _Style,
    _style,
    _wrap_label,
)
from tests.render_html import render_html
from tests.render_layout import render_layout
from tests.render_noise import damage, draw_noise, furniture
from worker.core import forms
from worker.core.forms import Template

Encoding = Literal["utf-8", "utf-8-sig", "gb18030", "utf-16"]
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "utf-8-sig", "gb18030", "utf-16")
Script = Literal["simplified", "traditional"]
SCRIPTS: tuple[Script, ...] = ("simplified", "traditional")
# Organs whose names survive Simplified → Traditional → Simplified unchanged (a test checks it).
ORGS = (
    "某某县某某局",
    "川汇区信访局",
    "柳北区科学技术局",
    "沭阳县发展和改革局",
    "平潭综合实验区管委会",
    "向阳区人民政府",
    "某某市生态环境局",
    "某某县卫生健康委员会",
    "某某区住房和城乡建设局",
)
# Report years each template is right for (spec §2: 2021 onward should use the 2021 format).
YEARS: dict[Template, tuple[int, ...]] = {"2019": (2019, 2020), "2021": (2021, 2022, 2023, 2024)}

_APPS = forms.TABLE_APPLICATIONS

__all__ = [
    "BLANKS",
    "ENCODINGS",
    "INJECTABLE",
    "NULL_MARKS",
    "ORGS",
    "SCRIPTS",
    "SHAPES",
    "YEARS",
    "Blanks",
    "Block",
    "CellValue",
    "Cells",
    "Encoding",
    "GridCell",
    "Noise",
    "Rendered",
    "Script",
    "Shape",
    "draw_noise",
    "encode",
    "filename_for",
    "inject",
    "native_blocks",
    "random_cells",
    "render",
    "render_report",
    "title_of",
    "to_traditional",
]


# ---------------------------------------------------------------- text shapes


def _tab_lines(style: _Style, block: _Block, title: str) -> list[str]:
    """Seed 000: tab-separated, trailing tabs, a wrapped label's tail on the line after its values."""
    rng = style.rng
    lines: list[str] = []
    wrapped = False
    for clean in _flatten(style, _grid(block)):
        line, dropped = damage(style, clean)
        split = _wrap_label(style, line) if not wrapped and rng.random() < 0.15 else None
        texts = [c.text for c in (split[0] if split else line)]
        if block.table == _APPS and _is_value_line(line) and texts[0] == "三、本年度办理结果" and rng.random() < 0.5:
            texts[0] = "三、 本年 度办 理结 果"
        lines.append("\t".join(texts) + ("" if dropped else _ragged(rng, "\t")))
        if split:
            wrapped = True
            lines.extend(_inside_row(style, title, [""]))
            lines.append("\t".join(c.text for c in split[1]) + "\t" * 6)
        elif rng.random() < 0.1:
            lines.append("")
    return ["", *lines, ""]


def _inside_row(style: _Style, title: str, lines: list[str]) -> list[str]:
    """`lines`, or page furniture where they stand: a page ends inside a row."""
    if style.noise.furniture and style.rng.random() < style.noise.furniture:
        return furniture(style, title, style.rng.randint(1, 9))
    return lines


def _render_tab(style: _Style, blocks: list[_Block]) -> str:
    return _prose_lines(blocks, lambda b: _tab_lines(style, b, blocks[0].text), lambda b: f"{b.text}\n")


def _pipe_lines(style: _Style, block: _Block) -> list[str]:
    """Seed 001: ` | `-separated with ragged empty cells at the ends of lines."""
    lines = []
    for clean in _flatten(style, _grid(block)):
        line, dropped = damage(style, clean)
        lines.append(" | ".join(c.text for c in line) + ("" if dropped else _ragged(style.rng, " |")))
    return lines


def _render_pipe(style: _Style, blocks: list[_Block]) -> str:
    return _prose_lines(blocks, lambda b: _pipe_lines(style, b), lambda b: b.text)


def _cell_lines(style: _Style, block: _Block, indent: str, bar: bool, title: str) -> list[str]:
    """Seed 002 (tab-indented, blank lines between rows) or seed 004 (` |` after each cell)."""
    lines: list[str] = []
    for clean in _flatten(style, _grid(block)):
        line, _ = damage(style, clean)
        if not style.dash_null and any(c.null for c in line if c.kind == "value"):
            # A blank printed as nothing is no line at all: the row has fewer values than columns.
            style.undetermined.update(c.key for c in line if c.kind == "value")
        # An empty line is no cell: empty cells appear only as indented whitespace, or not at all.
        kept = [c for c in line if c.text or (indent and not bar)]
        texts = [c.text for c in kept]
        if bar and texts:
            texts = [f"{t} |" for t in texts[:-1]] + [f"{texts[-1]} |" + style.rng.choice(("", " |", " ||", " |||"))]
        first = next((i for i, c in enumerate(kept) if c.kind == "value"), 0)
        if first:
            texts[first:first] = _inside_row(style, title, [])
        lines.extend(indent + t for t in texts)
        if indent and not bar:
            lines.append("")
    return lines


def _render_cell_per_line(style: _Style, blocks: list[_Block]) -> str:
    bar = style.rng.random() < 0.3
    indent = "" if bar else style.rng.choice(("\t", "\t", ""))
    title = blocks[0].text
    return _prose_lines(blocks, lambda b: _cell_lines(style, b, indent, bar, title), lambda b: b.text)


def _md_lines(style: _Style, block: _Block) -> list[str]:
    """A converter's pipe table: one per report table, rows made as wide as the widest (but a row
    that lost its blank cells stays short: padding it would make the loss look like blanks)."""
    damaged = [damage(style, line) for line in _flatten(style, _grid(block))]
    width = max(len(line) for line, _ in damaged)
    rows = [
        "| " + " | ".join([c.text for c in line] + [""] * (0 if dropped else width - len(line))) + " |"
        for line, dropped in damaged
    ]
    return ["", rows[0], "|" + "---|" * width, *rows[1:], ""]


def _render_markdown(style: _Style, blocks: list[_Block]) -> str:
    def deco(block: _Block) -> str:
        if block.kind == "title":
            return f"# {block.text}\n"
        if block.kind == "heading":
            return f"\n## {block.text}\n"
        head, sep, tail = block.text.partition("。")
        # Emphasis on a paragraph's lead sentence, as converters keep Word's bold runs.
        return f"**{head}{sep}**{tail}\n" if tail and style.rng.random() < 0.5 else block.text + "\n"

    return _prose_lines(blocks, lambda b: _md_lines(style, b), deco)


# ---------------------------------------------------------------- PDF text


def _pdf_prose(style: _Style, text: str) -> list[str]:
    """Prose as PDF text: spaces around numbers, hard-wrapped, never inside a number."""
    if style.rng.random() < 0.5:
        text = re.sub(r"(?<=[^\d\s])(\d+)(?=[^\d\s])", r" \1 ", text)
    lines, rest = [], text
    while len(rest) > 36:
        cut = 32
        while cut < len(rest) - 1 and (rest[cut - 1].isdigit() or rest[cut].isdigit()):
            cut += 1
        lines.append(rest[:cut])
        rest = rest[cut:]
    return [*lines, rest]


def _page_break(style: _Style, title: str, page: int) -> list[str]:
    """A page footer and the next page's running header, as pdftotext emits them."""
    pages = style.rng.randint(page + 1, 30)
    if style.rng.random() < 0.5:
        return [f"{page}/{pages}", f"\f{title}"]
    return ["", f"- {page} -", "", f"\f{page + 1}/{pages}\t\t{title}\t\t\t\t"]


def _pdf_row(style: _Style, line: list[_Cell], dropped: bool = False) -> str:
    texts = [c.text for c in line]
    # Seed 003: a row of table 二 comes out as "行政事业性收费 0"; only with a number, not "行政许可 -" or "… 无".
    joinable = len(line) >= 2 and line[0].kind == "label" and line[1].kind == "value"
    joinable = joinable and re.match(r"[+-]?\d", unicodedata.normalize("NFKC", texts[1])) is not None
    if joinable and style.rng.random() < 0.2:
        texts[:2] = [f"{texts[0]} {texts[1]}"]
    return "\t".join(texts) + ("" if dropped else _ragged(style.rng, "\t"))


def _pdf_lines(style: _Style, block: _Block, title: str) -> list[str]:
    """Seed 003: tab-separated, group labels spread over rows, wrapped labels, a page break."""
    lines: list[str] = []
    rows = _flatten(style, _grid(block), spread=True)
    values = [i for i, line in enumerate(rows) if _is_value_line(line)]
    breaking = style.rng.choice(values[1:-1]) if block.table == _APPS else -1
    for i, clean in enumerate(rows):
        if i == breaking:
            lines.extend(_page_break(style, title, 1))
        line, dropped = damage(style, clean)
        split = _wrap_label(style, line) if style.rng.random() < 0.3 else None
        lines.append(_pdf_row(style, split[0] if split else line, dropped))
        if split:
            lines.extend(_inside_row(style, title, []))
            lines.append("\t".join(c.text for c in split[1]) + _ragged(style.rng, "\t"))
    return ["", *lines, ""]


def _render_pdf(style: _Style, blocks: list[_Block]) -> str:
    title = blocks[0].text
    lines: list[str] = []
    for block in blocks:
        if block.kind == "table":
            lines.extend(_pdf_lines(style, block, title))
        elif block.kind == "para":
            lines.extend(_pdf_prose(style, block.text))
        else:
            lines.extend([block.text, ""])
    return "\n".join(lines) + "\n\f"


# ---------------------------------------------------------------- public API


_RENDERERS: dict[Shape, Callable[[_Style, list[_Block]], str]] = {
    "tab": _render_tab,
    "pipe": _render_pipe,
    "cell_per_line": _render_cell_per_line,
    "pdf": _render_pdf,
    "layout": render_layout,
    "markdown": _render_markdown,
}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered report, and the keys whose printed cell a careful reader cannot settle (a blank
    dropped from a short row, a value fused into its label): there null is as right as the number."""

    text: str
    undetermined: frozenset[str]


def render_report(
    cells: Cells,
    template: Template,
    shape: Shape,
    *,
    org: str = "某某县某某局",
    year: int = 2022,
    script: Script = "simplified",
    rng: random.Random | None = None,
    noise: Noise | None = None,
) -> Rendered:
    """`render` with damage (`noise`, see `draw_noise`) and what the damage left undetermined."""
    style = _style(shape, rng or random.Random(0), noise)
    blocks = _document(cells, template, org, year, style)
    text = render_html(style, blocks, org, year) if shape == "html" else _RENDERERS[shape](style, blocks)
    return Rendered(to_traditional(text) if script == "traditional" else text, frozenset(style.undetermined))


def render(
    cells: Cells,
    template: Template,
    shape: Shape,
    *,
    org: str = "某某县某某局",
    year: int = 2022,
    script: Script = "simplified",
    rng: random.Random | None = None,
) -> str:
    """A whole report printing `cells` in `shape`; `rng` picks the shape's variations (seed 0 if None)."""
    return render_report(cells, template, shape, org=org, year=year, script=script, rng=rng).text


@cache
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def to_traditional(text: str) -> str:
    """Simplified → Traditional with OpenCC, as a Traditional-script portal would print it."""
    return str(_s2t().convert(text))


def encode(text: str, encoding: Encoding, *, crlf: bool = False) -> bytes:
    """The file's bytes: utf-8, utf-8 with BOM, GB18030 or UTF-16 with BOM; CRLF line ends if asked."""
    if crlf:
        text = text.replace("\n", "\r\n")
    # An HTML page declares the charset its bytes are in.
    declared = {"utf-8-sig": "utf-8"}.get(encoding, encoding)
    text = text.replace("charset=utf-8", f"charset={declared}", 1)
    return text.encode(encoding)


def filename_for(shape: Shape) -> str:
    """A file name whose extension is the hint a crawler would leave."""
    return {"html": "report.html", "markdown": "report.md"}.get(shape, "report.txt")


# ---------------------------------------------------------------- for the native renderers

Block = _Block
GridCell = _Cell


def native_blocks(
    cells: Cells,
    template: Template,
    *,
    shape: Shape = "html",
    org: str = "某某县某某局",
    year: int = 2022,
    rng: random.Random | None = None,
) -> list[Block]:
    """The report as blocks (title, headings, paragraphs, table grids with HTML span semantics),
    for renderers of real documents (`tests/native/`): `shape` picks the printing choices (with
    "html", a blank prints as an empty cell; with "pdf", often as a dash)."""
    style = _style(shape, rng or random.Random(0))
    return _document(cells, template, org, year, style)
