"""Random cells for the test renderer: every identity of spec §4 holds, and errors can be injected.

`tests/render.py` prints these cells in the shapes of the corpus; this module only decides the numbers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from worker.core import forms
from worker.core.forms import Template

CellValue = int | float | None
Cells = dict[str, CellValue]
Blanks = Literal["none", "active", "columns", "both"]
BLANKS: tuple[Blanks, ...] = ("none", "active", "columns", "both")
INJECTABLE = ("E_IDENTITY", "E_ROW_TOTAL", "E_RESULTS_TOTAL", "E_REVIEW_TOTAL", "E_NEGATIVE")

_APPS = forms.TABLE_APPLICATIONS
_REVIEW = forms.TABLE_REVIEW

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
