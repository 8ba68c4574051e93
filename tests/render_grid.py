"""The printed report before it becomes text: per-report printing choices, values as printed, the
tables as grids (HTML span semantics) and their lines as a text extractor emits them, and the blocks
of the document. The shapes (`tests/render.py`, `tests/render_layout.py`) turn these into text.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Literal

from tests.render_cells import Cells, CellValue
from worker.core import forms
from worker.core.forms import Template

Shape = Literal["tab", "pipe", "cell_per_line", "pdf", "layout", "html", "markdown"]
SHAPES: tuple[Shape, ...] = ("tab", "pipe", "cell_per_line", "pdf", "layout", "html", "markdown")
NULL_MARKS = ("—", "—", "/", "/", "－", "-")
FIELDS = Path(__file__).parent / "fixtures" / "spec" / "fields.json"

_APPS = forms.TABLE_APPLICATIONS
_REVIEW = forms.TABLE_REVIEW
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_FW_PUNCT = str.maketrans({"(": "（", ")": "）", ",": "，", ":": "："})


def _app_key(row: str, column: str) -> str:
    return f"{_APPS}.{row}.{column}"


def _app_rows(template: Template) -> tuple[str, ...]:
    return tuple(r.name for r in forms.ROWS[template] if r.table == _APPS)


# ---------------------------------------------------------------- printing values


@dataclass(frozen=True, slots=True)
class Noise:
    """What extractors and OCR do to a printed table (rates per row or label; all off by default).

    A careful reader still settles every cell except where `tests/render_noise.py` says otherwise:
    a dropped blank leaves its row's columns unknown, a value fused into its label is doubtful.
    """

    fused: float = 0.0  # a row's label and first value in one cell (`行政许可 15`), after a clean copy or not
    duplicated: float = 0.0  # the label printed twice, the copy in a cell of its own
    short: float = 0.0  # a row's blank cells dropped with their separators: fewer cells than columns
    ocr: float = 0.0  # a row label with OCR look-alikes (T for 行, 己 for 已)
    furniture: float = 0.0  # a page footer and header between a row's label and its values
    wrapped: float = 0.0  # `-layout`: a long label wrapped over 2–3 lines, its values centred on them
    blank_nothing: bool = False  # a blank printed as nothing (no dash), in shapes that print marks
    by_chars: bool = False  # `-layout`: columns counted in characters (pdftotext), not display columns
    centred: bool = False  # `-layout`: values centred in their column rather than right-aligned
    jitter: float = 0.0  # `-layout`: per value, a column off its place (pdftotext rounds each glyph)

    @property
    def active(self) -> bool:
        """Whether any damage is asked for."""
        return self != Noise()


@dataclass
class _Style:
    """The per-report printing choices; `rng` drives the per-cell ones."""

    rng: random.Random
    dash_null: bool  # a blank prints as — or / (in shapes where an empty line or gap is no cell)
    fullwidth: bool  # some digits full-width (１２)
    thousands: bool  # 1,234
    wan: bool  # amounts as 1150万
    wu: bool  # some zero counts of table 二 as 无
    fw_punct: bool  # （一） rather than (一)
    spaced: bool  # "(三) 不予公开": a space after a group number
    pad: bool  # a spanning header or label is followed by empty cells
    hold: bool  # a cell covered by a rowspan is an empty cell (else it is left out)
    truncate: bool  # cut column headers (本年新 | 本年新, as in seed 001)
    irregular: bool  # table 三 on pingtan's 11-column grid (HTML only)
    noise: Noise = field(default_factory=Noise)
    # Keys a careful reader cannot settle in what was printed: null or the right number is allowed.
    undetermined: set[str] = field(default_factory=set)


def _style(shape: Shape, rng: random.Random, noise: Noise | None = None) -> _Style:
    noise = noise or Noise()
    return _Style(
        rng=rng,
        dash_null=shape in ("cell_per_line", "pdf", "layout") and not noise.blank_nothing,
        fullwidth=shape in ("tab", "pipe", "cell_per_line", "pdf", "layout") and rng.random() < 0.3,
        thousands=rng.random() < 0.4,
        wan=rng.random() < 0.3,
        wu=shape != "html" and rng.random() < 0.2,
        fw_punct=rng.random() < 0.5,
        spaced=shape in ("tab", "pdf") and rng.random() < 0.5,
        pad=rng.random() < 0.6,
        hold=rng.random() < 0.6,
        truncate=shape == "pipe" and rng.random() < 0.3,
        irregular=shape == "html" and rng.random() < 0.5,
        noise=noise,
    )


def _fmt_amount(style: _Style, value: float) -> str:
    units = round(value * 10**4)
    whole, fraction = divmod(units, 10**4)
    text = f"{whole}.{fraction:04d}".rstrip("0") if fraction else str(whole)
    if not fraction and whole and style.rng.random() < 0.2:
        text += ".00"
    if style.wan and units:
        text += style.rng.choice(("万", "万元"))
    return text


def _fmt(style: _Style, key: str, value: CellValue, amount: bool) -> str:
    """One value as printed; the parser must read it back as `value`."""
    rng = style.rng
    if value is None:
        return rng.choice(NULL_MARKS) if style.dash_null else ""
    if amount:
        return _fmt_amount(style, float(value))
    count = int(value)
    if count < 0:
        return str(count)
    if count > 0 and forms.is_change_key(key):
        return f"+{count}" if rng.random() < 0.6 else str(count)
    if count == 0 and style.wu and key.startswith(forms.TABLE_ACTIVE) and rng.random() < 0.25:
        return "无"
    if count >= 1000 and style.thousands:
        return f"{count:,}"
    if style.fullwidth and rng.random() < 0.3:
        return str(count).translate(_FULLWIDTH)
    return str(count)


def _punct(style: _Style, label: str) -> str:
    """A label with the report's brackets and, in some shapes, a space after `(三)`."""
    if style.spaced:
        label = re.sub(r"^(\([一二三四五六七]\))", r"\1 ", label)
    return label.translate(_FW_PUNCT) if style.fw_punct else label


# ---------------------------------------------------------------- tables as grids


@dataclass(frozen=True, slots=True)
class _Cell:
    """One cell of a table grid (HTML semantics: a cell covered by a rowspan is absent)."""

    text: str
    kind: Literal["head", "label", "value", "pad"] = "label"
    colspan: int = 1
    rowspan: int = 1
    null: bool = False
    key: str = ""  # a value's canonical key


Grid = list[list[_Cell]]
_PAD = _Cell("", "pad")


@cache
def _labels(template: Template) -> dict[str, tuple[str, str]]:
    """Each key's printed (row, column) labels from fields.json, e.g. ("(三)不予公开 1.属于国家秘密", "自然人")."""
    data = json.loads(FIELDS.read_text(encoding="utf-8"))
    labels: dict[str, tuple[str, str]] = {}
    for item in data["templates"][template]:
        row, column = item["label"].split(" / ")
        labels[item["key"]] = (row, column)
    return labels


def _value(style: _Style, cells: Cells, key: str, template: Template, colspan: int = 1) -> _Cell:
    amount = key in forms.amount_keys(template)
    return _Cell(_fmt(style, key, cells[key], amount), "value", colspan, null=cells[key] is None, key=key)


def _active_header(style: _Style, row: forms.Row, template: Template, unit: bool) -> list[_Cell]:
    """The 信息内容 line of one 第二十条 group; the last header spans what the row leaves over."""
    heads = [_labels(template)[key][1] for key in row.keys]
    if row.amount_column:
        bare = heads[-1].replace("(单位:万元)", "")
        units = ("（单位：万元）", "(单位:万元)", "（单位：万元，保留4位小数）")
        heads[-1] = bare + (style.rng.choice(units[:2] if template == "2019" else units) if unit else "")
    if style.truncate and len(heads) == 3:
        heads = [h[:3] if h.startswith("本年新") else h for h in heads]
    cells = [_Cell("信息内容", "head"), *(_Cell(h, "head") for h in heads)]
    return [*cells[:-1], replace(cells[-1], colspan=5 - len(cells))]


def _active_grid(style: _Style, cells: Cells, template: Template) -> Grid:
    """Table 二: per 第二十条 group a heading line, a header line and its rows, four columns wide."""
    grid: Grid = []
    article = ""
    for row in (r for r in forms.ROWS[template] if r.table == forms.TABLE_ACTIVE):
        values = [_value(style, cells, key, template) for key in row.keys]
        values[-1] = replace(values[-1], colspan=4 - len(values))
        row_article = _labels(template)[row.keys[0]][0].split(" ")[0]
        if row_article != article:
            article = row_article
            unit = not any(v.text.endswith(("万", "万元")) for v in values) or style.rng.random() < 0.5
            grid.append([_Cell(_punct(style, article), "head", colspan=4)])
            grid.append(_active_header(style, row, template, unit))
        grid.append([_Cell(style.rng.choice(row.labels)), *values])
    return grid


_NOTE = "(本列数据的勾稽关系为:第一项加第二项之和,等于第三项加第四项之和)"


def _applications_header(style: _Style, template: Template, irregular: bool) -> Grid:
    """The three header lines of table 三 (pingtan's irregular grid shifts 自然人 by one column)."""
    heads = [_labels(template)[_app_key("new_received", c)][1] for c in forms.APPLICATION_COLUMNS]
    legal = [_Cell(h, "head") for h in heads[1:6]]
    if irregular:
        return [
            [_Cell(_punct(style, _NOTE), "head", 3, 3), _Cell("申请人情况", "head", 8)],
            [_Cell(heads[0], "head", 2), _Cell("法人或其他组织", "head", 5), _Cell(heads[6], "head", rowspan=2)],
            [_Cell("", "head"), replace(legal[0], colspan=2), *legal[1:]],
        ]
    return [
        [_Cell(_punct(style, _NOTE), "head", 3, 3), _Cell("申请人情况", "head", 7)],
        [_Cell(heads[0], "head", rowspan=2), _Cell("法人或其他组织", "head", 5), _Cell(heads[6], "head", rowspan=2)],
        legal,
    ]


def _row_labels(style: _Style, template: Template) -> list[tuple[str, str, str]]:
    """(big group, sub group, label) of each row of table 三, as printed."""
    big = _labels(template)[_app_key("granted", "total")][0].split(" ")[0]
    rows = []
    for row in (r for r in forms.ROWS[template] if r.table == _APPS):
        printed = _labels(template)[_app_key(row.name, "total")][0]
        sub = printed[: -len(row.labels[0])].strip()
        in_big = row.name in forms.RESULT_ROWS[template] or row.name == "results_total"
        label = _punct(style, style.rng.choice(row.labels))
        rows.append((big if in_big else "", _punct(style, sub) if sub.startswith("(") else "", label))
    return rows


def _applications_grid(style: _Style, cells: Cells, template: Template) -> Grid:
    """Table 三 with its group labels spanning their rows, as a Word table has them."""
    irregular = style.irregular
    grid = _applications_header(style, template, irregular)
    labels = _row_labels(style, template)
    for i, (row, (big, sub, label)) in enumerate(zip(_app_rows(template), labels, strict=True)):
        line: list[_Cell] = []
        if big and labels[i - 1][0] != big:
            line.append(_Cell(big, rowspan=sum(1 for b, _, _ in labels if b == big)))
        if sub and labels[i - 1][1] != sub:
            line.append(_Cell(sub, rowspan=sum(1 for _, s, _ in labels if s == sub)))
        line.append(_Cell(label, colspan=1 if sub else 3 - bool(big)))
        values = [_value(style, cells, _app_key(row, c), template) for c in forms.APPLICATION_COLUMNS]
        if irregular:
            values[1] = replace(values[1], colspan=2)
        grid.append(line + values)
    return grid


def _review_grid(style: _Style, cells: Cells, template: Template) -> Grid:
    """Table 四: three header lines and one line of fifteen values."""
    heads = [_labels(template)[f"{_REVIEW}.review.{c}"][1] for c in forms.REVIEW_COLUMNS]
    groups = [_labels(template)[f"{_REVIEW}.{g}.total"][0].split(" ")[-1] for g in forms.REVIEW_GROUPS[1:]]
    keys = forms.table_keys(template, _REVIEW)
    return [
        [_Cell("行政复议", "head", 5), _Cell("行政诉讼", "head", 10)],
        [*(_Cell(h, "head", rowspan=2) for h in heads), *(_Cell(g, "head", 5) for g in groups)],
        [_Cell(h, "head") for h in heads * 2],
        [_value(style, cells, key, template) for key in keys],
    ]


# ---------------------------------------------------------------- grids as text rows


def _pieces(style: _Style, cell: _Cell, spread: bool) -> list[str]:
    """The text of a rowspan label per covered row: whole in the first, or spread over the middle."""
    texts = [cell.text] + [""] * (cell.rowspan - 1)
    if not spread or cell.rowspan < 2 or cell.kind != "label" or len(cell.text) < 4:
        return texts
    count = min(cell.rowspan, style.rng.choice((2, 2, 3)))
    size = math.ceil(len(cell.text) / count)
    parts = [cell.text[i : i + size] for i in range(0, len(cell.text), size)]
    start = (cell.rowspan - len(parts)) // 2 if cell.rowspan < 10 else 0
    texts = [""] * cell.rowspan
    texts[start : start + len(parts)] = parts
    return texts


def _drain(covered: dict[tuple[int, int], _Cell], r: int, col: int, line: list[_Cell], hold: bool) -> int:
    """Emit the cells a rowspan from above covers at this position; return the next column."""
    while (r, col) in covered:
        cell = covered.pop((r, col))
        if cell.text or hold:
            line.append(cell)
        col += 1
    return col


def _flatten(style: _Style, grid: Grid, *, spread: bool = False) -> list[list[_Cell]]:
    """The grid as a text extractor emits it: one cell per printed cell, spans padded or not."""
    covered: dict[tuple[int, int], _Cell] = {}
    lines: list[list[_Cell]] = []
    for r, row in enumerate(grid):
        # Padding next to a blank value would make the blank's position ambiguous: never both.
        pad = style.pad and (style.dash_null or not any(c.null for c in row))
        line: list[_Cell] = []
        col = 0
        for cell in row:
            col = _drain(covered, r, col, line, style.hold)
            texts = _pieces(style, cell, spread)
            line.append(replace(cell, text=texts[0], colspan=1, rowspan=1))
            for i in range(1, cell.rowspan):
                for j in range(cell.colspan):
                    covered[(r + i, col + j)] = replace(_PAD, text=texts[i] if j == 0 else "")
            if pad and cell.colspan > 1 and cell.kind != "value":
                line.extend([_PAD] * (cell.colspan - 1))
            col += cell.colspan
        _drain(covered, r, col, line, style.hold)
        lines.append(line)
    return lines


def _wrap_label(style: _Style, line: list[_Cell]) -> tuple[list[_Cell], list[_Cell]] | None:
    """A long row label wrapped in its cell: the line keeps the head, a next line the tail."""
    first_value = next((i for i, c in enumerate(line) if c.kind == "value"), 0)
    index = max((i for i, c in enumerate(line[:first_value]) if c.kind == "label"), default=None)
    if index is None or len(line[index].text) < 12:
        return None
    text = line[index].text
    cut = style.rng.randint(math.ceil(len(text) * 0.6), len(text) - 2)
    head = [*line[:index], replace(line[index], text=text[:cut]), *line[index + 1 :]]
    return head, [*([_PAD] * index), _Cell(text[cut:])]


def _is_value_line(line: Sequence[_Cell]) -> bool:
    return any(c.kind == "value" for c in line)
