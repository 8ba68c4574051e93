"""Exports for analysts: one row per report, one column per canonical key, plus meta, status and
which version of its file the report is (path, the content it supersedes, whether it is current)."""

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from worker.adapters.queries import ReportRow
from worker.choices import ExportFormat
from worker.core.forms import keys

__all__ = ["COLUMNS", "ExportFormat", "row", "write_csv", "write_jsonl"]

META_COLUMNS = (
    "id",
    "sha256",
    "filename",
    "path",
    "supersedes",
    "current",
    "status",
    "failure_reason",
    "template",
    "organization",
    "year",
    "title",
    "errors",
    "warnings",
)
# Both templates' keys, 2019 first, then the keys only 2021 has: one column each.
KEY_COLUMNS = tuple(dict.fromkeys((*keys("2019"), *keys("2021"))))
COLUMNS = (*META_COLUMNS, *KEY_COLUMNS)


def row(report: ReportRow) -> dict[str, object]:
    """The export row of one report; a cell its template does not have is empty."""
    result = report.result
    errors = sum(1 for i in result.issues if i.severity == "error")
    values: dict[str, object] = {
        "id": report.id,
        "sha256": result.source.sha256,
        "filename": result.source.filename,
        "path": report.path,
        "supersedes": report.supersedes,
        "current": report.current,
        "status": result.status.value,
        "failure_reason": result.failure.reason.value if result.failure else None,
        "template": result.template,
        "organization": result.meta.organization,
        "year": result.meta.year,
        "title": result.meta.title,
        "errors": errors,
        "warnings": len(result.issues) - errors,
    }
    values.update({key: result.cells.get(key) for key in KEY_COLUMNS})
    return values


def write_csv(rows: Iterable[ReportRow], out: TextIO) -> int:
    """CSV with a header; blank for null, `true`/`false` for `current`. Returns the number of rows."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for report in rows:
        writer.writerow({k: _csv(v) for k, v in row(report).items()})
        count += 1
    return count


def _csv(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):  # as in the JSON lines, not Python's True/False
        return "true" if value else "false"
    return value


def write_jsonl(rows: Iterable[ReportRow], out: TextIO) -> int:
    """One JSON object per line, Chinese as is, null for null. Returns the number of rows."""
    count = 0
    for report in rows:
        out.write(json.dumps(row(report), ensure_ascii=False) + "\n")
        count += 1
    return count
