"""What every document reader gives the parser: lines of raw cells, and where each cell was read.

Text, HTML, PDF, Word and spreadsheets all end here, so that labels, template, meta and checks
are one implementation for every format. A table row is one line with one raw cell per grid
cell (an empty string for a cell with nothing printed in it, or a position covered by a span
from the row above, as `html._grid` does); prose is one line with one cell.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from worker.core.errors import ReportFailure
from worker.core.result import FailureReason

# A box on a PDF page: x0, top, x1, bottom in points, measured from the page's top-left corner.
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Where:
    """Where one cell was read, for a person checking a number against the original.

    Only the fields that make sense for the format are set: `line` for text; `page` and `box`
    for PDF (and `table`/`row`/`column` when the page's ruling gave a grid); `table`, `row`,
    `column` for HTML, Word and spreadsheet tables (`sheet` names the spreadsheet's sheet).
    Numbers are 1-based, as people count.
    """

    line: int | None = None
    page: int | None = None
    box: Box | None = None
    table: int | None = None
    sheet: str | None = None
    row: int | None = None
    column: int | None = None


_WHERE_FIELDS = tuple(f.name for f in fields(Where))


@dataclass(frozen=True, slots=True)
class Extracted:
    """A document as lines of raw cells in reading order; `where` runs parallel to `rows`."""

    rows: list[list[str]]
    where: list[list[Where | None]]
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What one document may cost before it is refused: hostile files stay harmless."""

    max_pages: int = 1000
    # Uncompressed size of one zip member, and of all members read, in a docx/xlsx/ods.
    max_member_bytes: int = 64 * 1024 * 1024
    max_unzipped_bytes: int = 256 * 1024 * 1024
    max_cells: int = 2_000_000
    # Seconds of wall-clock time for one document, checked between pages, tables and sheets.
    seconds: float = 60.0
    started: float = field(default_factory=time.monotonic)

    def check_time(self, what: str) -> None:
        """Raise a failure once the document has taken longer than its allowance."""
        if time.monotonic() - self.started > self.seconds:
            raise ReportFailure(
                FailureReason.UNREADABLE, f"reading the document took longer than {self.seconds:g} s ({what})"
            )


def evidence_json(evidence: Mapping[str, Where]) -> dict[str, dict[str, Any]]:
    """Evidence as stored and printed: per cell key, only the fields that were set (boxes to 0.1 pt)."""
    out: dict[str, dict[str, Any]] = {}
    for key, where in evidence.items():
        item: dict[str, Any] = {}
        for name in _WHERE_FIELDS:
            value = getattr(where, name)
            if value is not None:
                item[name] = [round(v, 1) for v in value] if name == "box" else value
        out[key] = item
    return out


def describe(item: Mapping[str, Any]) -> str:
    """One piece of stored evidence for a person: `page 4, box (61.2, 310.5)-(96.0, 322.1)`, `line 57`."""
    parts: list[str] = []
    if "sheet" in item:
        parts.append(f"sheet {item['sheet']}")
    for name in ("page", "table", "row", "column", "line"):
        if name in item:
            parts.append(f"{name} {item[name]}")
    if "box" in item:
        x0, top, x1, bottom = item["box"]
        parts.append(f"box ({x0}, {top})-({x1}, {bottom}) pt from the top left")
    return ", ".join(parts) or "-"
