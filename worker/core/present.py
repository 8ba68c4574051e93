"""A parse result as text for a person: the three tables, problem cells marked, then the issues."""

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from worker.core.document import describe
from worker.core.forms import REVIEW_COLUMNS, REVIEW_GROUPS, ROWS, TABLE_NAMES, TABLE_REVIEW, TABLES, Row
from worker.core.result import CellValue, ParseResult

_BLANK = "—"
_ERROR_MARK = "!"
_WARNING_MARK = "?"
_LABEL_WIDTH = 34


def render_tables(result: ParseResult) -> str:
    """The result as a person reads it: header, tables (`!` error, `?` warning), issues."""
    out = [_header(result)]
    if result.template is not None:
        marks = _marks(result)
        for table in TABLES:
            out.append(_table(result, table, marks))
    if result.issues:
        out.append("issues:")
        out.extend(f"  {i.severity.value:7} {i.code.value:22} {i.message}" for i in result.issues)
    return "\n".join(out) + "\n"


def _header(result: ParseResult) -> str:
    meta, source = result.meta, result.source
    lines = [
        f"== {source.filename}  [{result.status.value}]",
        f"   sha256 {source.sha256}  {source.bytes} bytes  {source.format or '-'}{_pages(source.pages)}"
        f"  {source.encoding or '-'}  {source.script or '-'}",
        f"   title {meta.title or '-'}  organization {meta.organization or '-'}  year {meta.year or '-'}"
        f"  template {result.template or '-'}",
    ]
    if result.failure:
        lines.append(f"   failure {result.failure.reason.value}: {result.failure.message}")
    return "\n".join(lines)


def _pages(pages: int | None) -> str:
    return "" if pages is None else f" ({pages} page{'s' if pages != 1 else ''})"


def render_evidence(
    result: ParseResult, evidence: Mapping[str, Mapping[str, Any]], keys: Sequence[str] | None = None
) -> str:
    """Where each number was read (or only those of `keys`): `key = value   page 4, box (…)`."""
    chosen = list(keys) if keys else [k for k, v in result.cells.items() if v is not None]
    width = max((len(k) for k in chosen), default=0)
    lines = ["evidence:"]
    for key in chosen:
        if key not in result.cells:
            lines.append(f"  {key:{width}}  not a cell of this report's template")
            continue
        value = result.cells[key]
        where = describe(evidence[key]) if key in evidence else "blank or unread: no number was taken"
        lines.append(f"  {key:{width}} = {_BLANK if value is None else value}   {where}")
    return "\n".join(lines) + "\n"


def _marks(result: ParseResult) -> dict[str, str]:
    marks: dict[str, str] = {}
    for issue in result.issues:
        mark = _ERROR_MARK if issue.severity == "error" else _WARNING_MARK
        for key in issue.cells:
            if marks.get(key) != _ERROR_MARK:
                marks[key] = mark
    return marks


def _table(result: ParseResult, table: str, marks: dict[str, str]) -> str:
    assert result.template is not None  # noqa: S101 - callers check
    rows = [r for r in ROWS[result.template] if r.table == table]
    lines = [f"-- table {TABLE_NAMES[table]} ({table})"]
    if table == TABLE_REVIEW:
        lines.append(_pad("", _LABEL_WIDTH) + "".join(_pad(c, 10) for c in REVIEW_COLUMNS))
        for group in REVIEW_GROUPS:
            keys = [f"{TABLE_REVIEW}.{group}.{c}" for c in REVIEW_COLUMNS]
            lines.append(_pad(group, _LABEL_WIDTH) + "".join(_cell(result.cells, k, marks) for k in keys))
        return "\n".join(lines)
    widest = max(rows, key=lambda r: r.width)
    lines.append(_pad("", _LABEL_WIDTH) + "".join(_pad(c, 10) for c in widest.columns))
    lines.extend(_row(result.cells, row, marks) for row in rows)
    return "\n".join(lines)


def _row(cells: dict[str, CellValue], row: Row, marks: dict[str, str]) -> str:
    label = _clip(row.labels[0], _LABEL_WIDTH - 1)
    return _pad(label, _LABEL_WIDTH) + "".join(_cell(cells, key, marks) for key in row.keys)


def _cell(cells: dict[str, CellValue], key: str, marks: dict[str, str]) -> str:
    value = cells.get(key)
    text = _BLANK if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return _pad(text + marks.get(key, ""), 10)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(1, width - _width(text))


def _clip(text: str, width: int) -> str:
    while _width(text) > width:
        text = text[:-2] + "…"
    return text
