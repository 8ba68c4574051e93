"""Exports for analysts: one row per report, one column per canonical key, plus meta and status."""

import csv
import json
from collections.abc import Iterable
from enum import StrEnum
from typing import TextIO

from worker.core.forms import keys
from worker.core.result import ParseResult


class ExportFormat(StrEnum):
    """The formats of `govreport export`."""

    csv = "csv"
    jsonl = "jsonl"


META_COLUMNS = (
    "id",
    "sha256",
    "filename",
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


def row(report_id: int, result: ParseResult) -> dict[str, object]:
    """The export row of one report; a cell its template does not have is empty."""
    errors = sum(1 for i in result.issues if i.severity == "error")
    values: dict[str, object] = {
        "id": report_id,
        "sha256": result.source.sha256,
        "filename": result.source.filename,
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


def write_csv(rows: Iterable[tuple[int, ParseResult]], out: TextIO) -> int:
    """CSV with a header; blank for null. Returns the number of rows."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for report_id, result in rows:
        writer.writerow({k: "" if v is None else v for k, v in row(report_id, result).items()})
        count += 1
    return count


def write_jsonl(rows: Iterable[tuple[int, ParseResult]], out: TextIO) -> int:
    """One JSON object per line, Chinese as is, null for null. Returns the number of rows."""
    count = 0
    for report_id, result in rows:
        out.write(json.dumps(row(report_id, result), ensure_ascii=False) + "\n")
        count += 1
    return count
