"""Spreadsheets (.xlsx, .xls, .ods) → lines of raw cells with python-calamine: each visible sheet a
grid, in workbook order, read like an HTML table (a merged range is one cell; the rows it covers
below its first have "" in its columns).

calamine builds a dense grid from the furthest cell it finds, and a Rust allocation failure aborts
the whole process, so the extent of every sheet is measured from the file before calamine sees it:
cell references in the xlsx XML, repeats in the ods XML, cell records in the xls BIFF stream. A
zip package is also inflated once within the limits first (calamine inflates it uncapped).
"""

import datetime
import io
import re
import struct
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import python_calamine as calamine

from worker.core.document import Extracted, Limits, Where
from worker.core.errors import ReportFailure
from worker.core.readers.docx import join_pieces
from worker.core.readers.zipped import Package, encrypted_package, is_ole
from worker.core.result import FailureReason

Element = Any  # lxml ships no type information
# ((first row, first column), (last row, last column)), 0-based and inclusive, as calamine gives them.
Merge = tuple[tuple[int, int], tuple[int, int]]
Value = int | float | str | bool | datetime.date | datetime.time | datetime.timedelta | None

_XLSX_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(row|c)((?:\s[^>]*?)?)(/?)>")
_XLSX_REF = re.compile(rb"""\br\s*=\s*["']\$?([A-Za-z]*)\$?(\d*)["']""")
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ROW_GROUPS = frozenset(f"{{{_TABLE}}}{name}" for name in ("table-header-rows", "table-rows", "table-row-group"))
_CELLS = frozenset((f"{{{_TABLE}}}table-cell", f"{{{_TABLE}}}covered-table-cell"))
# BIFF records that put a value in a cell (calamine skips BLANK and MULBLANK): row, column first.
_BIFF_CELLS = frozenset((0x0006, 0x00D6, 0x00FD, 0x0203, 0x0204, 0x0205, 0x027E))
_BIFF_MULRK, _BIFF_BOF, _BIFF_EOF, _BIFF_FILEPASS = 0x00BD, 0x0809, 0x000A, 0x002F
# Excel prints at most 15 significant digits: 0.1 + 0.2 is printed 0.3.
_DIGITS = 15


def read_sheets(data: bytes, limits: Limits) -> Extracted:
    """Every visible worksheet of a workbook as a grid of raw cells, in workbook order."""
    ods_merges = _check(data, limits)
    try:
        return _read(data, limits, ods_merges)
    except calamine.PasswordError as error:
        raise ReportFailure(FailureReason.ENCRYPTED, f"the workbook is password-protected: {error}") from error
    except calamine.CalamineError as error:
        raise ReportFailure(FailureReason.UNREADABLE, f"not a readable workbook: {error}") from error
    except BaseException as error:
        # A Rust panic in calamine surfaces as pyo3's PanicException, a BaseException.
        if type(error).__name__ != "PanicException":
            raise
        raise ReportFailure(FailureReason.UNREADABLE, f"the spreadsheet reader failed on this file: {error}") from None


# ---------------------------------------------------------------------------------------- reading


def _read(data: bytes, limits: Limits, ods_merges: dict[str, list[Merge]] | None) -> Extracted:
    workbook = calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    rows: list[list[str]] = []
    where: list[list[Where | None]] = []
    budget = limits.max_cells
    for index, meta in enumerate(workbook.sheets_metadata, start=1):
        # What a person reading the workbook sees: worksheets that are not hidden.
        if meta.typ != calamine.SheetTypeEnum.WorkSheet or meta.visible != calamine.SheetVisibleEnum.Visible:
            continue
        limits.check_time(f"sheet {index}")
        sheet = workbook.get_sheet_by_index(index - 1)
        budget -= sheet.height * sheet.width
        if budget < 0:
            raise _too_large(limits)
        start = sheet.start or (0, 0)
        merges = ods_merges.get(meta.name, []) if ods_merges is not None else sheet.merged_cell_ranges or []
        covered = _covered(merges, start, (sheet.height, sheet.width), limits)
        for r, values in enumerate(sheet.to_python(skip_empty_area=True), start=start[0]):
            line, here = _line(values, r, start[1], covered, meta.name, index)
            if any(line):
                rows.append(line)
                where.append(here)
    return Extracted(rows, where)


def _line(
    values: Sequence[Value], r: int, c0: int, covered: dict[tuple[int, int], bool], sheet: str, index: int
) -> tuple[list[str], list[Where | None]]:
    line: list[str] = []
    here: list[Where | None] = []
    for c, value in enumerate(values, start=c0):
        state = covered.get((r, c))
        if state is True:
            continue  # inside a merged range, right of its first cell: the range is one cell
        line.append("" if state is False else cell_text(value))
        here.append(Where(sheet=sheet, table=index, row=r + 1, column=c + 1))
    return line, here


def _covered(
    merges: list[Merge], start: tuple[int, int], size: tuple[int, int], limits: Limits
) -> dict[tuple[int, int], bool]:
    """Positions inside merged ranges other than their first cell: True on the range's first row
    (left out of the line), False below it (an empty cell), within the sheet's used area."""
    covered: dict[tuple[int, int], bool] = {}
    last_row, last_col = start[0] + size[0] - 1, start[1] + size[1] - 1
    for (r0, c0), (r1, c1) in merges:
        for r in range(max(r0, start[0]), min(r1, last_row) + 1):
            for c in range(max(c0, start[1]), min(c1, last_col) + 1):
                if (r, c) != (r0, c0):
                    covered[(r, c)] = r == r0
            if len(covered) > limits.max_cells:
                raise _too_large(limits)
    return covered


def cell_text(value: Value) -> str:
    """A cell's value as printed: whole numbers without `.0`, at most 15 significant digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return join_pieces(str(value).splitlines())


def _number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    number = Decimal(format(value, f".{_DIGITS}g"))
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _too_large(limits: Limits) -> ReportFailure:
    return ReportFailure(FailureReason.TOO_LARGE, f"the workbook has more than {limits.max_cells} cells")


# ---------------------------------------------------------------------------------------- extents


def _check(data: bytes, limits: Limits) -> dict[str, list[Merge]] | None:
    """Refuse what calamine must not be given; for an ods, its merged ranges (calamine has none).
    Every member of a zip package is inflated once here, within the limits."""
    if is_ole(data):
        _check_xls(data, limits)
        return None
    package = Package(data, limits, "workbook")
    if package.has("xl/workbook.bin"):
        raise ReportFailure(FailureReason.UNSUPPORTED_FORMAT, "an Excel binary workbook (.xlsb): save it as .xlsx")
    ods = package.has("content.xml") and not package.has("xl/workbook.xml")
    merges: dict[str, list[Merge]] | None = None
    area = 0
    for name in package.names():
        if ods and name == "content.xml":
            merges, area = _check_ods(package.xml(name))
        elif not ods and name.endswith(".xml"):
            part = package.read(name)
            area += _xlsx_area(part) if b"sheetData" in part else 0
        else:
            package.check(name)
        if area > limits.max_cells:
            raise _too_large(limits)
    return merges


def _xlsx_area(xml: bytes) -> int:
    """The grid calamine would build for one worksheet part: (last row + 1) × (last column + 1) of the
    cells with content, placed as calamine places them (a cell or row without `r` follows the last)."""
    row, col, last_row, last_col = -1, -1, -1, -1
    for match in _XLSX_TAG.finditer(xml):
        tag, attributes, empty = match.groups()
        ref = _XLSX_REF.search(attributes)
        if tag == b"row":
            row = int(ref.group(2)) - 1 if ref and ref.group(2) else row + 1
            col = -1
            continue
        if ref and ref.group(1):
            col = _column(ref.group(1).decode("ascii"))
        else:
            col += 1
        if ref and ref.group(2):
            row = int(ref.group(2)) - 1
        if not empty:
            last_row, last_col = max(last_row, row), max(last_col, col)
    return (last_row + 1) * (last_col + 1)


def _column(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - 64
    return index - 1


def _check_ods(root: Element) -> tuple[dict[str, list[Merge]], int]:
    """The merged ranges of each table of an ods, and the grid calamine would build (repeats counted)."""
    merges: dict[str, list[Merge]] = {}
    area = 0
    for table in root.iter(f"{{{_TABLE}}}table"):
        ranges: list[Merge] = []
        extent = [-1, -1]
        _ods_rows(table, [0], extent, ranges)
        merges[str(table.get(f"{{{_TABLE}}}name", ""))] = ranges
        area += (extent[0] + 1) * (extent[1] + 1)
    return merges, area


def _ods_rows(group: Element, row: list[int], extent: list[int], merges: list[Merge]) -> None:
    for element in group:
        if element.tag in _ROW_GROUPS:
            _ods_rows(element, row, extent, merges)
        elif element.tag == f"{{{_TABLE}}}table-row":
            repeat = _count(element, "number-rows-repeated")
            _ods_cells(element, row[0], repeat, extent, merges)
            row[0] += repeat


def _ods_cells(element: Element, row: int, repeat: int, extent: list[int], merges: list[Merge]) -> None:
    col = 0
    for cell in element:
        if cell.tag not in _CELLS:
            continue
        columns = _count(cell, "number-columns-repeated")
        if cell.get(f"{{{_OFFICE}}}value-type") is not None or "".join(cell.itertext()).strip():
            extent[0] = max(extent[0], row + repeat - 1)
            extent[1] = max(extent[1], col + columns - 1)
        down, across = _count(cell, "number-rows-spanned"), _count(cell, "number-columns-spanned")
        if cell.tag != f"{{{_TABLE}}}covered-table-cell" and (down > 1 or across > 1) and repeat == columns == 1:
            merges.append(((row, col), (row + down - 1, col + across - 1)))
        col += columns


def _count(element: Element, name: str) -> int:
    value = str(element.get(f"{{{_TABLE}}}{name}", "1")).strip()
    return max(1, int(value)) if value.isdigit() else 1


def _check_xls(data: bytes, limits: Limits) -> None:
    """Walk the BIFF records of an xls: password protection, and the extent of every sheet."""
    if encrypted_package(data):
        raise ReportFailure(FailureReason.ENCRYPTED, "the workbook is password-protected (an encrypted Office file)")
    stream = _workbook_stream(data)
    if stream is None:
        raise ReportFailure(FailureReason.UNREADABLE, "not a readable workbook: an OLE2 file without a Workbook stream")
    area, last_row, last_col, pos = 0, -1, -1, 0
    while pos + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if kind == _BIFF_FILEPASS:
            raise ReportFailure(FailureReason.ENCRYPTED, "the workbook is password-protected (BIFF FILEPASS)")
        if kind in (_BIFF_BOF, _BIFF_EOF):
            area += (last_row + 1) * (last_col + 1)
            last_row, last_col = -1, -1
        elif (kind in _BIFF_CELLS or kind == _BIFF_MULRK) and len(body) >= 4:
            row, col = struct.unpack_from("<HH", body)
            if kind == _BIFF_MULRK and len(body) >= 6:
                col = struct.unpack_from("<H", body, len(body) - 2)[0]  # the last column of the run
            last_row, last_col = max(last_row, row), max(last_col, col)
        if area > limits.max_cells:
            raise _too_large(limits)


def _workbook_stream(data: bytes) -> bytes | None:
    import olefile  # imported here: only an xls needs it

    try:
        with olefile.OleFileIO(data) as ole:
            for name in ("Workbook", "Book"):
                if ole.exists(name):
                    return bytes(ole.openstream(name).read())
    except Exception as error:  # olefile raises many types on a corrupt file
        raise ReportFailure(FailureReason.UNREADABLE, f"not a readable workbook: {error}") from error
    return None
