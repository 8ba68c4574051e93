"""The national form's own checks (spec §4). A null cell is never taken for 0: a rule that needs
it is skipped, and the null is reported once as W_MISSING_CELL."""

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import cast

from worker.core.forms import (
    APPLICANT_COLUMNS,
    APPLICATION_COLUMNS,
    RESULT_ROWS,
    REVIEW_GROUPS,
    ROWS,
    TABLE_NAMES,
    TABLES,
    Template,
    is_change_key,
    table_keys,
)
from worker.core.result import CellValue, Code, Issue, make_issue

Cells = Mapping[str, CellValue]
_APP = "applications"
_REVIEW = "review_litigation"


def check_cells(template: Template, cells: Cells, tables_found: Iterable[str]) -> list[Issue]:
    """Every rule of spec §4 that looks at the cells alone, in a stable order."""
    found = set(tables_found)
    issues = [_missing_table(template, t) for t in TABLES if t not in found]
    issues += _missing_cells(template, cells, found)
    issues += _negatives(cells)
    issues += _identity(cells)
    issues += _row_totals(template, cells)
    issues += _results_totals(template, cells)
    issues += _review_totals(cells)
    return issues


def _sum(values: list[CellValue]) -> int | float | None:
    if None in values:
        return None
    return _total(values)


# `sum`, typed for lists that hold no None (`_sum` asks first): cast once, not at every call.
_total = cast("Callable[[list[CellValue]], int | float]", sum)


def _sum_of(cells: Cells, keys: tuple[str, ...]) -> int | float | None:
    """The sum of the cells of `keys`, None if any is null."""
    return _sum(list(map(cells.get, keys)))


def _missing_table(template: Template, table: str) -> Issue:
    return make_issue(
        Code.E_MISSING_TABLE, list(table_keys(template, table)), f"table {TABLE_NAMES[table]} was not found"
    )


def _missing_cells(template: Template, cells: Cells, found: set[str]) -> list[Issue]:
    if None not in cells.values():
        return []  # every cell read: most reports
    issues = []
    for row in ROWS[template]:
        if row.table not in found:
            continue
        values = list(map(cells.get, row.keys))
        if None in values:  # most rows are whole: their keys are listed only when some are missing
            missing = [k for k, v in zip(row.keys, values, strict=True) if v is None]
            where = f"table {TABLE_NAMES[row.table]}, row {row.labels[0]}"
            issues.append(
                make_issue(Code.W_MISSING_CELL, missing, f"{where}: {len(missing)} cell(s) blank or unreadable")
            )
    return issues


def _negatives(cells: Cells) -> list[Issue]:
    # Told at C speed for most reports, which print no negative number: the least nonzero cell.
    if min(filter(None, cells.values()), default=0) >= 0:
        return []
    return [
        make_issue(Code.E_NEGATIVE, [key], f"{key} is negative ({value})")
        for key, value in cells.items()
        if value is not None and value < 0 and not is_change_key(key)
    ]


def _identity(cells: Cells) -> list[Issue]:
    issues = []
    for column, keys in _IDENTITY_KEYS:
        received, carried, results, forward = map(cells.get, keys)
        left, right = _sum([received, carried]), _sum([results, forward])
        if left is not None and right is not None and left != right:
            issues.append(
                make_issue(
                    Code.E_IDENTITY,
                    list(keys),
                    f"{column}: new {received} + carried over {carried} = {left}, "
                    f"but results {results} + carried forward {forward} = {right}",
                )
            )
    return issues


def _row_totals(template: Template, cells: Cells) -> list[Issue]:
    issues = []
    for name, parts, total_key in _row_total_keys(template):
        total = cells.get(total_key)
        expected = _sum_of(cells, parts) if total is not None else None
        if expected is not None and total is not None and expected != total:
            issues.append(
                make_issue(Code.E_ROW_TOTAL, [*parts, total_key], f"{name}: total {total} ≠ sum of columns {expected}")
            )
    return issues


def _results_totals(template: Template, cells: Cells) -> list[Issue]:
    issues = []
    for column, parts, total_key in _results_total_keys(template):
        total = cells.get(total_key)
        expected = _sum_of(cells, parts) if total is not None else None
        if expected is not None and total is not None and expected != total:
            issues.append(
                make_issue(
                    Code.E_RESULTS_TOTAL,
                    [*parts, total_key],
                    f"{column}: results total {total} ≠ sum of results {expected}",
                )
            )
    return issues


def _review_totals(cells: Cells) -> list[Issue]:
    issues = []
    for group, parts, total_key in _REVIEW_TOTAL_KEYS:
        total = cells.get(total_key)
        expected = _sum_of(cells, parts) if total is not None else None
        if expected is not None and total is not None and expected != total:
            issues.append(
                make_issue(Code.E_REVIEW_TOTAL, [*parts, total_key], f"{group}: total {total} ≠ sum {expected}")
            )
    return issues


# The keys of each rule, built once: the checks run for every report.
_IDENTITY_KEYS = tuple(
    (
        column,
        tuple(f"{_APP}.{row}.{column}" for row in ("new_received", "carried_over", "results_total", "carried_forward")),
    )
    for column in APPLICATION_COLUMNS
)
_REVIEW_TOTAL_KEYS = tuple(
    (
        group,
        tuple(f"{_REVIEW}.{group}.{c}" for c in ("upheld", "corrected", "other", "pending")),
        f"{_REVIEW}.{group}.total",
    )
    for group in REVIEW_GROUPS
)


@lru_cache(maxsize=2)
def _row_total_keys(template: Template) -> tuple[tuple[str, tuple[str, ...], str], ...]:
    return tuple(
        (row.name, tuple(f"{_APP}.{row.name}.{c}" for c in APPLICANT_COLUMNS), f"{_APP}.{row.name}.total")
        for row in ROWS[template]
        if row.table == _APP
    )


@lru_cache(maxsize=2)
def _results_total_keys(template: Template) -> tuple[tuple[str, tuple[str, ...], str], ...]:
    return tuple(
        (column, tuple(f"{_APP}.{name}.{column}" for name in RESULT_ROWS[template]), f"{_APP}.results_total.{column}")
        for column in APPLICATION_COLUMNS
    )


def check_template_year(template: Template, year: int | None) -> list[Issue]:
    """W_TEMPLATE_YEAR: reports for 2021 onward use the 2021 form, earlier ones the 2019 form."""
    if year is None or (year >= 2021) == (template == "2021"):
        return []
    expected = "2021" if year >= 2021 else "2019"
    return [make_issue(Code.W_TEMPLATE_YEAR, [], f"a {year} report in the {template} template (expected {expected})")]


def check_cross_year(cells: Cells, previous: Cells, previous_year: int) -> list[Issue]:
    """W_CROSS_YEAR: this year's carried-over column must equal last year's carried-forward."""
    issues = []
    for column in APPLICATION_COLUMNS:
        now, before = cells.get(f"{_APP}.carried_over.{column}"), previous.get(f"{_APP}.carried_forward.{column}")
        if now is not None and before is not None and now != before:
            issues.append(
                make_issue(
                    Code.W_CROSS_YEAR,
                    [f"{_APP}.carried_over.{column}"],
                    f"{column}: carried over {now}, but the {previous_year} report carried forward {before}",
                )
            )
    return issues
