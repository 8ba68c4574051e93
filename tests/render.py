"""Synthetic annual reports for tests: random cells that satisfy the checks, printed in many shapes.

The shapes imitate the real files of `fixtures/corpus` (see the spec §1). Whatever is printed is
unambiguous to a careful reader: where the real world is ambiguous (an empty cell that is either a
blank value or a span's padding) the renderer avoids the ambiguity instead of guessing for the parser.
"""

from __future__ import annotations

import html
import json
import math
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Literal

import opencc

from worker.core import forms
from worker.core.forms import Template

CellValue = int | float | None
Cells = dict[str, CellValue]
Shape = Literal["tab", "pipe", "cell_per_line", "pdf", "layout", "html", "markdown"]
SHAPES: tuple[Shape, ...] = ("tab", "pipe", "cell_per_line", "pdf", "layout", "html", "markdown")
Encoding = Literal["utf-8", "utf-8-sig", "gb18030", "utf-16"]
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "utf-8-sig", "gb18030", "utf-16")
Script = Literal["simplified", "traditional"]
SCRIPTS: tuple[Script, ...] = ("simplified", "traditional")
Blanks = Literal["none", "active", "columns", "both"]
BLANKS: tuple[Blanks, ...] = ("none", "active", "columns", "both")
INJECTABLE = ("E_IDENTITY", "E_ROW_TOTAL", "E_RESULTS_TOTAL", "E_REVIEW_TOTAL", "E_NEGATIVE")
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
NULL_MARKS = ("—", "—", "/", "/", "－", "-")
FIELDS = Path(__file__).parent / "fixtures" / "spec" / "fields.json"

_APPS = forms.TABLE_APPLICATIONS
_REVIEW = forms.TABLE_REVIEW
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_FW_PUNCT = str.maketrans({"(": "（", ")": "）", ",": "，", ":": "："})


# ---------------------------------------------------------------- random cells


def _count(rng: random.Random, busy: float) -> int:
    """A count as reports have them: mostly 0, often small, now and then in the thousands."""
    if rng.random() >= busy:
        return 0
    draw = rng.random()
    if draw < 0.7:
        return rng.randint(1, 9)
    if draw < 0.92:
        return rng.randint(10, 99)
    if draw < 0.98:
        return rng.randint(100, 999)
    return rng.randint(1000, 9999)


def _amount(rng: random.Random) -> float:
    """万元 with up to four decimals, made from whole ten-thousandths so `float(printed)` is exact."""
    if rng.random() < 0.4:
        return 0.0
    decimals: int = rng.choice((0, 0, 1, 2, 4))
    scale: int = 10 ** (4 - decimals)
    ten_thousandths = rng.randint(1, 30000) * 10_000 + rng.randint(0, 10_000 // scale - 1) * scale
    return ten_thousandths / 10_000


def _active_cells(rng: random.Random, template: Template) -> Cells:
    """Table 二: counts, signed changes and amounts; no identity binds them."""
    amounts = set(forms.amount_keys(template))
    cells: Cells = {}
    for key in forms.table_keys(template, forms.TABLE_ACTIVE):
        if key in amounts:
            cells[key] = _amount(rng)
        elif forms.is_change_key(key):
            cells[key] = _count(rng, 0.3) * rng.choice((1, 1, -1))
        else:
            cells[key] = _count(rng, 0.5)
    return cells


def _app_key(row: str, column: str) -> str:
    return f"{_APPS}.{row}.{column}"


def _app_rows(template: Template) -> tuple[str, ...]:
    return tuple(r.name for r in forms.ROWS[template] if r.table == _APPS)


def _applicant_column(rng: random.Random, template: Template, busy: float) -> dict[str, int]:
    """One applicant column of table 三 that satisfies its identity and its results total."""
    results = forms.RESULT_ROWS[template]
    active = rng.random() < busy
    column = {row: _count(rng, 0.3) if active else 0 for row in results}
    column["results_total"] = sum(column[row] for row in results)
    column["carried_forward"] = _count(rng, 0.3) if active else 0
    outstanding = column["results_total"] + column["carried_forward"]
    column["carried_over"] = rng.randint(0, outstanding) if active and rng.random() < 0.3 else 0
    column["new_received"] = outstanding - column["carried_over"]
    return column


def _application_cells(rng: random.Random, template: Template, blank: Sequence[str]) -> Cells:
    """Table 三: per column new + carried over = results + carried forward, totals by row."""
    busy = {"natural_person": 0.85, "commercial": 0.35}
    columns = {
        c: _applicant_column(rng, template, 0.0 if c in blank else busy.get(c, 0.15)) for c in forms.APPLICANT_COLUMNS
    }
    cells: Cells = {}
    for row in _app_rows(template):
        for column, values in columns.items():
            # A blank column (as in real-013) is all zeros before it is blanked, so totals still add up.
            cells[_app_key(row, column)] = None if column in blank else values[row]
        cells[_app_key(row, "total")] = sum(values[row] for values in columns.values())
    return cells


def _review_cells(rng: random.Random) -> Cells:
    """Table 四: per group total = upheld + corrected + other + pending."""
    cells: Cells = {}
    for group in forms.REVIEW_GROUPS:
        busy = rng.random() < 0.3
        parts = [rng.randint(1, 4) if busy and rng.random() < 0.5 else 0 for _ in range(4)]
        for column, value in zip(forms.REVIEW_COLUMNS, [*parts, sum(parts)], strict=True):
            cells[f"{_REVIEW}.{group}.{column}"] = value
    return cells


def random_cells(rng: random.Random, template: Template, *, blanks: Blanks = "none") -> Cells:
    """Random values for every key of a template satisfying every identity of spec §4."""
    # blanks: "active" blanks some table-二 cells, "columns" whole legal-person applicant columns of
    # table 三 (as real-013 prints them), "both" does both. Checks skip blanks, so identities still hold.
    blank_columns: tuple[str, ...] = ()
    if blanks in ("columns", "both"):
        blank_columns = tuple(c for c in forms.APPLICANT_COLUMNS[1:] if rng.random() < 0.6) or ("research",)
    cells = {**_active_cells(rng, template), **_application_cells(rng, template, blank_columns), **_review_cells(rng)}
    if blanks in ("active", "both"):
        active = forms.table_keys(template, forms.TABLE_ACTIVE)
        for key in rng.sample(active, rng.randint(1, max(1, len(active) // 3))):
            cells[key] = None
    return {key: cells[key] for key in forms.keys(template)}


# ---------------------------------------------------------------- error injection


def _live_columns(cells: Cells) -> list[str]:
    """Applicant columns that are not blank (checks are skipped on blank ones)."""
    return [c for c in forms.APPLICANT_COLUMNS if cells[_app_key("new_received", c)] is not None]


def _bump(cells: Cells, key: str, delta: int) -> None:
    value = cells[key]
    assert isinstance(value, int), f"{key} is {value!r}, not a count"
    cells[key] = value + delta


def _break_identity(cells: Cells, rng: random.Random) -> None:
    # Moving one identity term in a column and in the total column keeps the row total right.
    row = rng.choice(("new_received", "carried_over", "carried_forward"))
    delta = rng.randint(1, 5)
    _bump(cells, _app_key(row, rng.choice(_live_columns(cells))), delta)
    _bump(cells, _app_key(row, "total"), delta)


def _break_row_total(cells: Cells, rng: random.Random) -> None:
    if len(_live_columns(cells)) < len(forms.APPLICANT_COLUMNS):
        raise ValueError("E_ROW_TOTAL cannot fire: the check is skipped on rows with blank cells")
    # Both sides of one column's identity move together, so only the two rows' totals break.
    column = rng.choice([*forms.APPLICANT_COLUMNS, "total"])
    delta = rng.randint(1, 5)
    _bump(cells, _app_key("carried_over", column), delta)
    _bump(cells, _app_key("carried_forward", column), delta)


def _break_results_total(cells: Cells, template: Template, rng: random.Random) -> None:
    # A result row moves in one column and in its row total; results_total stays behind.
    row = rng.choice(forms.RESULT_ROWS[template])
    delta = rng.randint(1, 5)
    _bump(cells, _app_key(row, rng.choice(_live_columns(cells))), delta)
    _bump(cells, _app_key(row, "total"), delta)


def _break_review_total(cells: Cells, rng: random.Random) -> None:
    group = rng.choice(forms.REVIEW_GROUPS)
    _bump(cells, f"{_REVIEW}.{group}.{rng.choice(forms.REVIEW_COLUMNS)}", rng.randint(1, 5))


def _make_negative(cells: Cells, template: Template, rng: random.Random) -> None:
    where = rng.choice(("active", "applications", "review"))
    if where == "active":
        keys = [k for k in forms.table_keys(template, forms.TABLE_ACTIVE) if cells[k] is not None]
        keys = [k for k in keys if not forms.is_change_key(k) and k not in forms.amount_keys(template)]
        cells[rng.choice(keys)] = -rng.randint(1, 9)
    elif where == "applications":
        # Move d from one result row to another in a column and in the total column: all sums hold.
        source, target = rng.sample(forms.RESULT_ROWS[template], 2)
        column = rng.choice(_live_columns(cells))
        delta = int(cells[_app_key(source, column)] or 0) + rng.randint(1, 5)
        for col in (column, "total"):
            _bump(cells, _app_key(source, col), -delta)
            _bump(cells, _app_key(target, col), delta)
    else:
        group = f"{_REVIEW}.{rng.choice(forms.REVIEW_GROUPS)}"
        delta = int(cells[f"{group}.upheld"] or 0) + rng.randint(1, 5)
        _bump(cells, f"{group}.upheld", -delta)
        _bump(cells, f"{group}.corrected", delta)


def inject(cells: Cells, template: Template, code: str, rng: random.Random) -> Cells:
    """A copy of valid cells changed so that exactly one check (`code`) fails; ValueError if it cannot."""
    broken = dict(cells)
    if code == "E_IDENTITY":
        _break_identity(broken, rng)
    elif code == "E_ROW_TOTAL":
        _break_row_total(broken, rng)
    elif code == "E_RESULTS_TOTAL":
        _break_results_total(broken, template, rng)
    elif code == "E_REVIEW_TOTAL":
        _break_review_total(broken, rng)
    elif code == "E_NEGATIVE":
        _make_negative(broken, template, rng)
    else:
        raise ValueError(f"no injector for {code}")
    return broken


# ---------------------------------------------------------------- printing values


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


def _style(shape: Shape, rng: random.Random) -> _Style:
    return _Style(
        rng=rng,
        dash_null=shape in ("cell_per_line", "pdf", "layout"),
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


Grid = list[list[_Cell]]
_PAD = _Cell("", "pad")


@cache
def _labels(template: Template) -> dict[str, tuple[str, str]]:
    """Each key's printed (row, column) labels from fields.json, e.g. ("(三)不予公开 1.属于国家秘密", "自然人")."""
    data = json.loads(FIELDS.read_text(encoding="utf-8"))
    labels: dict[str, tuple[str, str]] = {}
    for field in data["templates"][template]:
        row, column = field["label"].split(" / ")
        labels[field["key"]] = (row, column)
    return labels


def _value(style: _Style, cells: Cells, key: str, template: Template, colspan: int = 1) -> _Cell:
    amount = key in forms.amount_keys(template)
    return _Cell(_fmt(style, key, cells[key], amount), "value", colspan, null=cells[key] is None)


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


# ---------------------------------------------------------------- the document


@dataclass(frozen=True, slots=True)
class _Block:
    """A piece of the report in reading order."""

    kind: Literal["title", "heading", "para", "table"]
    text: str = ""
    grid: tuple[tuple[_Cell, ...], ...] = ()
    table: str = ""


HEADINGS = (
    "一、总体情况",
    "二、主动公开政府信息情况",
    "三、收到和处理政府信息公开申请情况",
    "四、政府信息公开行政复议、行政诉讼情况",
    "五、存在的主要问题及改进情况",
    "六、其他需要报告的事项",
)


def title_of(org: str, year: int) -> str:
    """The title line of a report."""
    return f"{org}{year}年政府信息公开工作年度报告"


def _period(year: int) -> str:
    return f"所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。"


def _total(cells: Cells, key: str) -> int:
    value = cells[key]
    assert value is not None, f"{key} is blank: the narrative needs it"
    return int(value)


def _overview(cells: Cells, org: str, year: int, rng: random.Random) -> list[str]:
    """Section 一; it states the received and review counts exactly as table 三 and 四 have them."""
    received = _total(cells, _app_key("new_received", "total"))
    handled = [_total(cells, _app_key(r, "total")) for r in ("carried_over", "results_total", "carried_forward")]
    review = _total(cells, f"{_REVIEW}.review.total")
    litigation = sum(_total(cells, f"{_REVIEW}.{g}.total") for g in forms.REVIEW_GROUPS[1:])
    if received or rng.random() < 0.5:
        applications = (
            f"本年度共收到政府信息公开申请{received}件，上年结转{handled[0]}件，"
            f"办结{handled[1]}件，结转下年度继续办理{handled[2]}件。"
        )
    else:
        applications = "本年度未收到政府信息公开申请。"
    return [
        f"{year}年，{org}坚持以习近平新时代中国特色社会主义思想为指导，"
        "认真贯彻落实《中华人民共和国政府信息公开条例》，扎实推进政务公开各项工作。",
        f"（一）主动公开。全年通过政府门户网站主动公开政府信息{rng.randint(20, 3000)}条，"
        f"政策解读{rng.randint(1, 40)}篇。",
        f"（二）依申请公开。{applications}",
        "（三）政府信息管理。严格落实公开属性源头认定和保密审查机制，做到应公开尽公开。",
        "（四）平台建设。持续优化政府网站信息公开专栏，及时更新政府信息公开指南和目录。",
        f"（五）监督保障。全年因政府信息公开工作被申请行政复议{review}件，被提起行政诉讼{litigation}件。",
    ]


def _document(cells: Cells, template: Template, org: str, year: int, style: _Style) -> list[_Block]:
    """The report: title, prose 一, tables 二 三 四, prose 五 六."""

    def table(name: str, grid: Grid) -> _Block:
        return _Block("table", grid=tuple(tuple(row) for row in grid), table=name)

    rng = style.rng
    return [
        _Block("title", title_of(org, year)),
        _Block("para", f"本报告根据《中华人民共和国政府信息公开条例》要求编制，{_period(year)}"),
        _Block("heading", HEADINGS[0]),
        *(_Block("para", p) for p in _overview(cells, org, year, rng)),
        _Block("heading", HEADINGS[1]),
        table(forms.TABLE_ACTIVE, _active_grid(style, cells, template)),
        _Block("heading", HEADINGS[2]),
        table(_APPS, _applications_grid(style, cells, template)),
        _Block("heading", HEADINGS[3]),
        table(_REVIEW, _review_grid(style, cells, template)),
        _Block("heading", HEADINGS[4]),
        _Block("para", "（一）存在的主要问题。政策解读形式还不够丰富，信息公开的及时性有待进一步提高。"),
        _Block("para", "（二）改进措施。进一步加强业务培训，规范信息发布审核流程，提升政务公开质效。"),
        _Block("heading", HEADINGS[5]),
        _Block("para", rng.choice(("无。", "本年度未收取信息处理费。", "无"))),
    ]


def _grid(block: _Block) -> Grid:
    return [list(row) for row in block.grid]


# ---------------------------------------------------------------- text shapes


def _ragged(rng: random.Random, sep: str) -> str:
    """Extra empty cells some extractors leave at the end of a line."""
    return rng.choice(("", "", sep, sep * 2, sep * 4))


def _prose_lines(blocks: Iterable[_Block], table: Callable[[_Block], list[str]], deco: Callable[[_Block], str]) -> str:
    lines: list[str] = []
    for block in blocks:
        lines.extend(table(block) if block.kind == "table" else [deco(block)])
    return "\n".join(lines) + "\n"


def _tab_lines(style: _Style, block: _Block) -> list[str]:
    """Seed 000: tab-separated, trailing tabs, a wrapped label's tail on the line after its values."""
    rng = style.rng
    lines: list[str] = []
    wrapped = False
    for line in _flatten(style, _grid(block)):
        split = _wrap_label(style, line) if not wrapped and rng.random() < 0.15 else None
        texts = [c.text for c in (split[0] if split else line)]
        if block.table == _APPS and _is_value_line(line) and texts[0] == "三、本年度办理结果" and rng.random() < 0.5:
            texts[0] = "三、 本年 度办 理结 果"
        lines.append("\t".join(texts) + _ragged(rng, "\t"))
        if split:
            wrapped = True
            lines.extend(["", "\t".join(c.text for c in split[1]) + "\t" * 6])
        elif rng.random() < 0.1:
            lines.append("")
    return ["", *lines, ""]


def _render_tab(style: _Style, blocks: list[_Block]) -> str:
    return _prose_lines(blocks, lambda b: _tab_lines(style, b), lambda b: f"{b.text}\n")


def _pipe_lines(style: _Style, block: _Block) -> list[str]:
    """Seed 001: ` | `-separated with ragged empty cells at the ends of lines."""
    lines = []
    for line in _flatten(style, _grid(block)):
        lines.append(" | ".join(c.text for c in line) + _ragged(style.rng, " |"))
    return lines


def _render_pipe(style: _Style, blocks: list[_Block]) -> str:
    return _prose_lines(blocks, lambda b: _pipe_lines(style, b), lambda b: b.text)


def _cell_lines(style: _Style, block: _Block, indent: str, bar: bool) -> list[str]:
    """Seed 002 (tab-indented, blank lines between rows) or seed 004 (` |` after each cell)."""
    lines: list[str] = []
    for line in _flatten(style, _grid(block)):
        # An empty line is no cell: empty cells appear only as indented whitespace, or not at all.
        texts = [c.text for c in line if c.text or (indent and not bar)]
        if bar and texts:
            texts = [f"{t} |" for t in texts[:-1]] + [f"{texts[-1]} |" + style.rng.choice(("", " |", " ||", " |||"))]
        lines.extend(indent + t for t in texts)
        if indent and not bar:
            lines.append("")
    return lines


def _render_cell_per_line(style: _Style, blocks: list[_Block]) -> str:
    bar = style.rng.random() < 0.3
    indent = "" if bar else style.rng.choice(("\t", "\t", ""))
    return _prose_lines(blocks, lambda b: _cell_lines(style, b, indent, bar), lambda b: b.text)


def _md_lines(style: _Style, block: _Block) -> list[str]:
    """A converter's pipe table: one per report table, rows made as wide as the widest."""
    lines = _flatten(style, _grid(block))
    width = max(len(line) for line in lines)
    rows = ["| " + " | ".join([c.text for c in line] + [""] * (width - len(line))) + " |" for line in lines]
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


def _pdf_row(style: _Style, line: list[_Cell]) -> str:
    texts = [c.text for c in line]
    # Seed 003: a row of table 二 comes out as "行政事业性收费 0"; only with a number, not "行政许可 -" or "… 无".
    joinable = len(line) >= 2 and line[0].kind == "label" and line[1].kind == "value"
    joinable = joinable and re.match(r"[+-]?\d", unicodedata.normalize("NFKC", texts[1])) is not None
    if joinable and style.rng.random() < 0.2:
        texts[:2] = [f"{texts[0]} {texts[1]}"]
    return "\t".join(texts) + _ragged(style.rng, "\t")


def _pdf_lines(style: _Style, block: _Block, title: str) -> list[str]:
    """Seed 003: tab-separated, group labels spread over rows, wrapped labels, a page break."""
    lines: list[str] = []
    rows = _flatten(style, _grid(block), spread=True)
    values = [i for i, line in enumerate(rows) if _is_value_line(line)]
    breaking = style.rng.choice(values[1:-1]) if block.table == _APPS else -1
    for i, line in enumerate(rows):
        if i == breaking:
            lines.extend(_page_break(style, title, 1))
        split = _wrap_label(style, line) if style.rng.random() < 0.3 else None
        lines.append(_pdf_row(style, split[0] if split else line))
        if split:
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


# ---------------------------------------------------------------- layout (pdftotext -layout)


def _width(text: str) -> int:
    """Display width: CJK and full-width characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad_to(text: str, width: int) -> str:
    return text + " " * max(2, width - _width(text))


def _label_offsets(rows: list[list[_Cell]]) -> list[int]:
    """Where each label position starts: past the widest text that precedes a later label."""
    offsets = [0]
    for j in range(1, 4):
        before = [_width(r[j - 1].text) for r in rows if len(r) > j and r[j].kind == "label" and r[j].text]
        offsets.append(offsets[-1] + max(before, default=0) + 2)
    return offsets


def _layout_left(line: list[_Cell], offsets: list[int]) -> str:
    left = ""
    for j, cell in enumerate(c for c in line if c.kind != "value"):
        if cell.text:
            left = (_pad_to(left, offsets[min(j, 3)]) if left or j else "") + cell.text
    return left


def _layout_lines(style: _Style, block: _Block) -> list[str]:
    """Space-aligned columns: labels left, values right-aligned, gaps of two spaces or more."""
    rows = _flatten(replace(style, hold=True, pad=True), _grid(block), spread=True)
    expanded: list[list[_Cell]] = []
    for line in rows:
        split = _wrap_label(style, line) if _is_value_line(line) and style.rng.random() < 0.2 else None
        expanded.extend(split if split else [line])
    offsets = _label_offsets(expanded)
    value_width = 2 + max(_width(c.text) for r in expanded for c in r if c.kind == "value")
    lefts = [_layout_left(r, offsets) for r in expanded]
    start = max(_width(left) for left, r in zip(lefts, expanded, strict=True) if _is_value_line(r)) + 2
    lines = []
    for left, line in zip(lefts, expanded, strict=True):
        if any(c.kind == "head" for c in line):
            lines.append("    " + "   ".join(c.text for c in line if c.text))
        elif _is_value_line(line):
            values = "".join(" " * (value_width - _width(c.text)) + c.text for c in line if c.kind == "value")
            lines.append((_pad_to(left, start) if left else " " * start) + values)
        else:
            lines.append(left)
    return ["", *lines, ""]


def _render_layout(style: _Style, blocks: list[_Block]) -> str:
    return _prose_lines(blocks, lambda b: _layout_lines(style, b), lambda b: b.text)


# ---------------------------------------------------------------- HTML


def _html_escape(style: _Style, text: str) -> str:
    text = html.escape(text, quote=False)
    if style.rng.random() < 0.3:
        text = text.replace("“", "&ldquo;").replace("”", "&rdquo;")
    return text


def _html_text(style: _Style, cell: _Cell) -> str:
    """Cell content with the markup Word and CMS editors leave in it."""
    rng = style.rng
    text = _html_escape(style, cell.text)
    if cell.kind == "value":
        if not cell.text:
            return rng.choice(("", "&nbsp;", "<p>&nbsp;</p>", "<o:p> </o:p>"))
        centred = f'<p align="center"><span style="font-size:14px">{text}</span></p>'
        return rng.choice((text, text, f"&nbsp;{text}", f"<p>{text}</p>", centred))
    if not cell.text:
        return rng.choice(("", "&nbsp;"))
    if cell.kind == "head" and len(cell.text) == 4 and rng.random() < 0.3:
        return "<br/>".join(cell.text)  # pingtan's vertical headers: 结<br/>果<br/>维<br/>持
    if len(cell.text) >= 4 and rng.random() < 0.2:
        half = len(cell.text) // 2
        head, tail = _html_escape(style, cell.text[:half]), _html_escape(style, cell.text[half:])
        return rng.choice((f"<p>{head}</p><p>{tail}</p>", f"<span>{head}</span><span>{tail}</span>"))
    return text


def _html_table(style: _Style, block: _Block) -> str:
    rows = []
    for row in block.grid:
        tds = []
        for cell in row:
            colspan = f' colspan="{cell.colspan}"' if cell.colspan > 1 else ""
            rowspan = f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else ""
            tds.append(f"<td{colspan}{rowspan}>{_html_text(style, cell)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    attrs = style.rng.choice(('border="1" cellspacing="0"', 'style="BORDER-COLLAPSE:collapse" border="1"'))
    return f"<table {attrs}><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


_MENU = ("首页", "政务公开", "办事服务", "互动交流", "数据开放")
_NAV = "".join(f'<li><a href="/{i}/">{name}</a></li>' for i, name in enumerate(_MENU))


def _html_meta_table(org: str, year: int, title: str) -> str:
    """The CMS's document-properties table that precedes the report on many portals (real-013)."""
    return (
        '<table class="table_content"><tr><td>名称</td><td colspan="3">' + title + "</td></tr>"
        f"<tr><td>索引号</td><td>014314799/{year + 1}-00002</td><td>分类</td><td>信息公开年报</td></tr>"
        f"<tr><td>发布机构</td><td>{org}</td><td>公开日期</td><td>{year + 1}-01-17</td></tr></table>"
    )


def _render_html(style: _Style, blocks: list[_Block], org: str, year: int) -> str:
    title = blocks[0].text
    body: list[str] = []
    for block in blocks[1:]:
        if block.kind == "table":
            body.append(_html_table(style, block))
        elif block.kind == "heading":
            heading = (f"<p><strong>{block.text}</strong></p>", f"<h3>{block.text}</h3>", f"<p>{block.text}</p>")
            body.append(style.rng.choice(heading))
        else:
            body.append(f"<p>{html.escape(block.text, quote=False)}</p>")
    meta = _html_meta_table(org, year, title) if style.rng.random() < 0.5 else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<title>{title}_政府信息公开年报_{org}</title>
<style>table {{ border-collapse: collapse; }} td {{ padding: 4px; }}</style>
<script type="text/javascript">var websiteId = "e1db2778"; function time() {{ return 1; }}</script>
</head>
<body>
<div class="header"><nav class="menu"><ul>{_NAV}</ul></nav></div>
<div class="crumb">当前位置：<a href="/">首页</a> &gt; 政务公开 &gt; 政府信息公开年报</div>
{meta}
<div class="article">
<h1 class="article_title">{title}</h1>
<div class="article_extend"><span>来源：{org}</span> <span>时间：{year + 1}-01-20 09:30</span></div>
<div class="article_content">
{chr(10).join(body)}
</div>
</div>
<div class="footer">主办单位：{org}　网站标识码：3213220001</div>
</body>
</html>
"""


# ---------------------------------------------------------------- public API


_RENDERERS: dict[Shape, Callable[[_Style, list[_Block]], str]] = {
    "tab": _render_tab,
    "pipe": _render_pipe,
    "cell_per_line": _render_cell_per_line,
    "pdf": _render_pdf,
    "layout": _render_layout,
    "markdown": _render_markdown,
}


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
    style = _style(shape, rng or random.Random(0))
    blocks = _document(cells, template, org, year, style)
    text = _render_html(style, blocks, org, year) if shape == "html" else _RENDERERS[shape](style, blocks)
    return to_traditional(text) if script == "traditional" else text


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
