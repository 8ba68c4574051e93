"""Spreadsheets: every visible sheet a grid that reads like an HTML table, within the limits.

Reports laid out on sheets (openpyxl's xlsx, a hand-written ods, and LibreOffice's xls and ods)
must parse back to exactly their cells; values print as a person sees them; merged ranges expand
as HTML spans do; a sheet whose extent would make calamine allocate gigabytes is refused before
calamine sees it, and calamine's panics and errors become failed results.
"""

import datetime
import io
import random
import struct
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import olefile
import openpyxl
import pytest
import python_calamine
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.native.libreoffice import convert, require_soffice
from tests.native.office import mangle, render_ods, render_xlsx
from tests.render import BLANKS, INJECTABLE, ORGS, YEARS, Blanks, Block, Shape, inject, native_blocks, random_cells
from tests.schema_check import assert_valid_result
from tests.test_roundtrip import Case, assert_injected, assert_valid
from worker.core import parse_bytes
from worker.core.document import Extracted, Limits, Where
from worker.core.errors import ReportFailure
from worker.core.forms import TEMPLATES, Template
from worker.core.parse import parse_document
from worker.core.readers import sheets
from worker.core.readers.sheets import cell_text, read_sheets
from worker.core.result import FailureReason, Format

ROOT = Path(__file__).parent.parent
seeds = st.integers(min_value=0, max_value=2**32 - 1)
RENDERERS = {"xlsx": render_xlsx, "ods": render_ods}


def workbook(*sheets_: tuple[str, dict[str, object], list[str]]) -> bytes:
    """An xlsx of sheets given as (name, {cell: value}, [merged ranges])."""
    book = openpyxl.Workbook()
    for index, (name, values, merges) in enumerate(sheets_):
        sheet = book.active if index == 0 else book.create_sheet()
        assert sheet is not None
        sheet.title = name
        for ref, value in values.items():
            sheet[ref] = value
        for merged in merges:
            sheet.merge_cells(merged)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def failure(data: bytes, limits: Limits | None = None) -> ReportFailure:
    with pytest.raises(ReportFailure) as raised:
        read_sheets(data, limits or Limits())
    return raised.value


# ---------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (3.0, "3"),
        (96171.6, "96171.6"),
        (0.1 + 0.2, "0.3"),
        (12.3456, "12.3456"),
        (0.0001, "0.0001"),
        (-0.0, "0"),
        (-2.0, "-2"),
        (1e20, "100000000000000000000"),
        (float("nan"), ""),
        (7, "7"),
        (True, "TRUE"),
        (False, "FALSE"),
        (None, ""),
        (datetime.date(2021, 1, 3), "2021-01-03"),
        (datetime.datetime(2021, 1, 3), "2021-01-03"),
        (datetime.datetime(2021, 1, 3, 12, 30), "2021-01-03 12:30:00"),
        (datetime.time(8, 15), "08:15:00"),
        ("商业\n企业", "商业企业"),
        (" a\tb \r\n c ", "a b c"),
    ],
)
def test_values_print_as_a_person_sees_them(value: sheets.Value, printed: str) -> None:
    assert cell_text(value) == printed


def test_merged_ranges_expand_as_html_spans_do() -> None:
    values = {"B2": "表头", "E2": "x", "B4": "组", "C4": 1, "D4": 2.5, "E4": "3", "C5": 4, "D5": 5, "E5": 6}
    extracted = read_sheets(workbook(("表一", values, ["B2:D3", "B4:B5"])), Limits())
    # Row 3 lies wholly under the merged header: a line of empty cells, left out.
    assert extracted.rows == [["表头", "x"], ["组", "1", "2.5", "3"], ["", "4", "5", "6"]]
    assert extracted.where[0] == [
        Where(sheet="表一", table=1, row=2, column=2),
        Where(sheet="表一", table=1, row=2, column=5),
    ]
    assert extracted.where[2][1] == Where(sheet="表一", table=1, row=5, column=3)


def test_sheets_in_order_hidden_ones_and_charts_left_out() -> None:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "一"
    first["A1"] = "第一"
    hidden = book.create_sheet("隐藏")
    hidden["A1"] = "看不见"
    hidden.sheet_state = "hidden"
    book.create_chartsheet("图")
    third = book.create_sheet("三")
    third["C3"] = "第三"
    out = io.BytesIO()
    book.save(out)
    extracted = read_sheets(out.getvalue(), Limits())
    assert extracted.rows == [["第一"], ["第三"]]
    assert extracted.where[1] == [Where(sheet="三", table=4, row=3, column=3)]


def test_empty_rows_are_left_out_and_an_empty_workbook_reads_as_nothing() -> None:
    assert read_sheets(workbook(("a", {"A1": "x", "A5": "y"}, [])), Limits()).rows == [["x"], ["y"]]
    assert read_sheets(workbook(("a", {}, [])), Limits()).rows == []


def test_an_ods_with_repeats_and_spans_reads_like_an_xlsx() -> None:
    row = (
        '<table:table-row><table:table-cell table:number-columns-repeated="2"/>'
        '<table:table-cell table:number-columns-spanned="2" table:number-rows-spanned="2" office:value-type="string">'
        "<text:p>合并</text:p></table:table-cell><table:covered-table-cell/>"
        '<table:table-cell office:value-type="float" office:value="7"><text:p>7</text:p></table:table-cell>'
        "</table:table-row>"
        '<table:table-row><table:table-cell table:number-columns-repeated="2"/>'
        '<table:covered-table-cell table:number-columns-repeated="2"/>'
        '<table:table-cell office:value-type="float" office:value="96171.6"><text:p>96171.6</text:p></table:table-cell>'
        "</table:table-row>"
        '<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/>'
        "</table:table-row>"
    )
    extracted = read_sheets(_ods(row), Limits())
    assert extracted.rows == [["合并", "7"], ["", "", "96171.6"]]
    assert extracted.where[1][2] == Where(sheet="S", table=1, row=2, column=5)


def _ods(rows: str) -> bytes:
    namespaces = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {namespaces}><office:body>'
        f'<office:spreadsheet><table:table table:name="S">{rows}</table:table></office:spreadsheet>'
        "</office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        mime = "application/vnd.oasis.opendocument.spreadsheet"
        archive.writestr(zipfile.ZipInfo("mimetype"), mime, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", _MANIFEST)
        archive.writestr("content.xml", content)
    return out.getvalue()


_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
)


# ---------------------------------------------------------------------------------------- round trips


@dataclass(frozen=True)
class Report:
    """A report's truth and the blocks it is printed from, with the generator that prints it."""

    case: Case
    blocks: list[Block]
    rng: random.Random

    def render(self, kind: str) -> bytes:
        return RENDERERS[kind](self.blocks, self.rng)


def _report(seed: int, template: Template, blanks: Blanks = "none", shape: Shape = "html") -> Report:
    rng = random.Random(seed)
    cells = random_cells(rng, template, blanks=blanks)
    org, year = rng.choice(ORGS), rng.choice(YEARS[template])
    blocks = native_blocks(cells, template, shape=shape, org=org, year=year, rng=rng)
    return Report(Case(cells, template, "html", org, year, ""), blocks, rng)


def _evidence_holds(data: bytes, filename: str) -> None:
    """Each number's evidence names a cell of the sheet that prints that number."""
    extracted = read_sheets(data, Limits())
    parsed = parse_document(data, filename)
    printed = {
        w: cell
        for row, where in zip(extracted.rows, extracted.where, strict=True)
        for cell, w in zip(row, where, strict=True)
    }
    for key, value in parsed.result.cells.items():
        if value is not None:
            where = parsed.evidence[key]
            assert where is not None and where.sheet is not None and where in printed, (key, where)
            digits = printed[where].replace(",", "").translate(str.maketrans("０１２３４５６７８９", "0123456789"))
            assert str(abs(value)).removesuffix(".0") in digits or printed[where] == "无", (key, printed[where])


@settings(max_examples=30, deadline=None)
@given(
    seed=seeds,
    template=st.sampled_from(TEMPLATES),
    blanks=st.sampled_from(BLANKS),
    shape=st.sampled_from(("html", "pdf")),
    kind=st.sampled_from(("xlsx", "ods")),
)
def test_a_spreadsheet_report_parses_back_to_its_cells(
    seed: int, template: Template, blanks: Blanks, shape: Shape, kind: str
) -> None:
    report = _report(seed, template, blanks, shape)
    data = report.render(kind)
    result = parse_bytes(data, f"report.{kind}")
    assert_valid_result(result)
    assert result.source.format == Format(kind)
    assert_valid(result, report.case)
    for row in read_sheets(data, Limits()).rows:
        assert all("\t" not in cell and "\n" not in cell for cell in row)
    _evidence_holds(data, f"report.{kind}")


@settings(max_examples=20, deadline=None)
@given(seed=seeds, template=st.sampled_from(TEMPLATES), code=st.sampled_from(INJECTABLE))
def test_a_wrong_number_in_a_spreadsheet_is_never_valid(seed: int, template: Template, code: str) -> None:
    rng = random.Random(seed)
    valid = random_cells(rng, template)
    cells = inject(valid, template, code, rng)
    org, year = rng.choice(ORGS), rng.choice(YEARS[template])
    data = render_xlsx(native_blocks(cells, template, org=org, year=year, rng=rng), rng)
    assert_injected(parse_bytes(data, "report.xlsx"), Case(cells, template, "html", org, year, ""), valid, code)


@pytest.fixture(scope="module")
def libreoffice_sheets() -> dict[str, tuple[Case, dict[str, bytes]]]:
    """Four reports as xlsx, converted by LibreOffice to xls and to ods (two soffice calls)."""
    require_soffice(calc=True)
    cases: dict[str, Case] = {}
    books: dict[str, bytes] = {}
    for seed in range(4):
        template: Template = TEMPLATES[seed % 2]
        report = _report(seed, template, BLANKS[seed])
        name = f"report{seed}.xlsx"
        cases[name] = report.case
        books[name] = report.render("xlsx")
    converted = {target: convert(books, target) for target in ("xls", "ods")}
    return {name: (case, {t: converted[t][name] for t in converted}) for name, case in cases.items()}


@pytest.mark.slow
@pytest.mark.parametrize("target", ["xls", "ods"])
def test_libreoffice_xls_and_ods_parse_back_to_their_cells(
    libreoffice_sheets: dict[str, tuple[Case, dict[str, bytes]]], target: str
) -> None:
    for name, (case, data) in libreoffice_sheets.items():
        result = parse_bytes(data[target], name.replace(".xlsx", f".{target}"))
        assert result.source.format == Format(target)
        assert_valid(result, case)
        _evidence_holds(data[target], name)


def test_parsing_a_report_takes_milliseconds() -> None:
    data = _report(3, "2021").render("xlsx")
    parse_bytes(data, "warm.xlsx")
    started = time.perf_counter()
    for _ in range(5):
        parse_bytes(data, "report.xlsx")
    assert (time.perf_counter() - started) / 5 < 0.5


# ---------------------------------------------------------------------------------------- hostile files


_FAR_CELL = """
import io, resource, openpyxl
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from worker.core.document import Limits
from worker.core.errors import ReportFailure
from worker.core.readers.sheets import read_sheets
book = openpyxl.Workbook()
book.active["A1"] = 1
book.active.cell(row=1048576, column=16384, value=2)
out = io.BytesIO()
book.save(out)
try:
    read_sheets(out.getvalue(), Limits())
except ReportFailure as failure:
    print(failure.reason.value)
"""


def test_a_far_cell_is_refused_before_calamine_allocates_the_sheet() -> None:
    # calamine would allocate 512 GiB for this 2-cell sheet and abort the process: run it apart.
    done = subprocess.run([sys.executable, "-c", _FAR_CELL], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "too_large"


def test_cells_without_references_are_placed_as_calamine_places_them() -> None:
    data = workbook(("a", {"A1": 1}, []))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    far = b'<row r="1048576">' + b"<c><v>1</v></c>" * 3 + b'</row><row><c r="XFD1"><v>2</v></c></row>'
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b"</sheetData>", far + b"</sheetData>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, part in parts.items():
            archive.writestr(name, part)
    assert sheets._xlsx_area(parts["xl/worksheets/sheet1.xml"]) == 1048576 * 16384
    assert failure(out.getvalue()).reason == FailureReason.TOO_LARGE


def test_an_ods_that_repeats_a_value_a_million_times_is_refused() -> None:
    row = (
        '<table:table-row table:number-rows-repeated="100000">'
        '<table:table-cell table:number-columns-repeated="1000" office:value-type="float" office:value="1"/>'
        "</table:table-row>"
    )
    assert failure(_ods(row)).reason == FailureReason.TOO_LARGE


@pytest.mark.slow
def test_an_xls_whose_cell_record_lies_far_away_is_refused(
    libreoffice_sheets: dict[str, tuple[Case, dict[str, bytes]]], tmp_path: Path
) -> None:
    path = tmp_path / "far.xls"
    path.write_bytes(next(iter(libreoffice_sheets.values()))[1]["xls"])
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = bytearray(ole.openstream("Workbook").read())
        pos = 0
        while pos + 4 <= len(stream):
            kind, size = struct.unpack_from("<HH", stream, pos)
            if kind == 0x00FD:  # LABELSST: row, column, ...
                struct.pack_into("<HH", stream, pos + 4, 65535, 255)
                break
            pos += 4 + size
        ole.write_stream("Workbook", bytes(stream))
    assert failure(path.read_bytes()).reason == FailureReason.TOO_LARGE


@settings(max_examples=40, deadline=None)
@given(seed=seeds, kind=st.sampled_from(("xlsx", "ods")))
def test_a_mangled_workbook_is_read_or_refused_never_a_crash(seed: int, kind: str) -> None:
    rng = random.Random(seed)
    data = mangle(_report(seed % 4, "2021").render(kind), rng)
    try:
        extracted = read_sheets(data, Limits())
    except ReportFailure as refused:
        assert refused.reason in (FailureReason.UNREADABLE, FailureReason.TOO_LARGE)
    else:
        assert len(extracted.rows) == len(extracted.where)


def test_too_many_cells_or_too_long_is_refused() -> None:
    data = workbook(("a", {f"A{i}": i for i in range(1, 50)}, []))
    assert failure(data, Limits(max_cells=20)).reason == FailureReason.TOO_LARGE
    late = failure(data, Limits(seconds=0.0, started=time.monotonic() - 1))
    assert late.reason == FailureReason.UNREADABLE and "longer" in late.message


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
@pytest.mark.parametrize("cut", [0.2, 0.5, 0.9])
def test_a_truncated_workbook_is_unreadable(kind: str, cut: float) -> None:
    data = _report(1, "2021").render(kind)
    result = parse_bytes(data[: int(len(data) * cut)], f"report.{kind}")
    assert_valid_result(result)
    assert result.status == "failed"
    assert result.failure is not None and result.failure.reason == FailureReason.UNREADABLE


def test_a_corrupt_sheet_is_unreadable_with_what_calamine_said() -> None:
    data = workbook(("a", {"A1": 1}, []))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row><c><v>1</v></row>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, part in parts.items():
            archive.writestr(name, part)
    refused = failure(out.getvalue())
    assert refused.reason == FailureReason.UNREADABLE
    assert "workbook" in refused.message


def test_junk_and_binary_workbooks_are_refused() -> None:
    assert failure(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048)).reason == FailureReason.UNREADABLE
    assert failure(b"PK\x03\x04" + bytes(100)).reason == FailureReason.UNREADABLE
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.bin", b"\x00" * 10)
    assert failure(out.getvalue()).reason == FailureReason.UNSUPPORTED_FORMAT


class PanicException(BaseException):
    """What pyo3 raises when Rust code panics: a BaseException, not an Exception."""


def test_a_rust_panic_in_calamine_is_an_unreadable_file(monkeypatch: pytest.MonkeyPatch) -> None:
    class Panicking:
        @classmethod
        def from_filelike(cls, _: object) -> None:
            raise PanicException("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(python_calamine, "CalamineWorkbook", Panicking)
    refused = failure(workbook(("a", {"A1": 1}, [])))
    assert refused.reason == FailureReason.UNREADABLE
    assert "unwrap" in refused.message


def test_other_base_exceptions_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Interrupted:
        @classmethod
        def from_filelike(cls, _: object) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(python_calamine, "CalamineWorkbook", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_sheets(workbook(("a", {"A1": 1}, [])), Limits())


def test_a_password_error_is_an_encrypted_workbook(monkeypatch: pytest.MonkeyPatch) -> None:
    class Locked:
        @classmethod
        def from_filelike(cls, _: object) -> None:
            raise python_calamine.PasswordError("workbook is password protected")

    monkeypatch.setattr(python_calamine, "CalamineWorkbook", Locked)
    assert failure(workbook(("a", {"A1": 1}, []))).reason == FailureReason.ENCRYPTED


def test_extracted_is_the_reader_contract() -> None:
    extracted = read_sheets(workbook(("a", {"A1": "x"}, [])), Limits())
    assert isinstance(extracted, Extracted)
    assert extracted.pages is None
