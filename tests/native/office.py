"""Word and spreadsheet files printed from known cells, for round-trip tests of the native readers.

`render_docx` writes a report's blocks (`tests.render.native_blocks`) as Word writes them: real
merged cells (`cell.merge`, so `gridSpan`/`vMerge`), runs split mid-word, labels wrapped into two
paragraphs or a line break, and now and then a long table split into two Word tables by an empty
paragraph (as a page break leaves it, sometimes with the second part starting inside a merged cell,
as PDF-to-Word converters write it). `fill_template_docx` fills the real national 2021 form.
`render_xlsx` and `render_ods` lay the same blocks out on sheets: every table on one sheet, or one
sheet per table; numbers as numbers, blanks as empty cells, merged ranges for spans.
"""

import io
import random
import re
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import docx
import openpyxl
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.table import _Cell

from tests.render import Block, Cells, GridCell
from worker.core import forms

TEMPLATE_2021 = Path(__file__).parent.parent / "fixtures" / "corpus" / "native" / "template-2021-blank.docx"
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class Placed:
    """A grid cell at its position: first row and column (0-based) and its spans."""

    row: int
    col: int
    rowspan: int
    colspan: int
    cell: GridCell


def place(grid: tuple[tuple[GridCell, ...], ...]) -> tuple[list[Placed], int]:
    """The cells of a grid with HTML span semantics at their grid positions, and the grid's width."""
    covered: set[tuple[int, int]] = set()
    placed: list[Placed] = []
    width = 0
    for r, row in enumerate(grid):
        c = 0
        for cell in row:
            while (r, c) in covered:
                c += 1
            rowspan = min(cell.rowspan, len(grid) - r)
            placed.append(Placed(r, c, rowspan, cell.colspan, cell))
            covered.update((r + dr, c + dc) for dr in range(1, rowspan) for dc in range(cell.colspan))
            c += cell.colspan
        while (r, c) in covered:
            c += 1
        width = max(width, c)
    return placed, width


# ---------------------------------------------------------------------------------------- Word


def render_docx(blocks: list[Block], rng: random.Random) -> bytes:
    """A Word document of the report's blocks, merged cells and all."""
    document = docx.Document()
    for block in blocks:
        if block.kind == "title":
            paragraph = document.add_paragraph()
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            _runs(paragraph, block.text, rng, bold=True)
        elif block.kind == "heading":
            if rng.random() < 0.5:
                document.add_heading(block.text, level=2)
            else:
                _runs(document.add_paragraph(), block.text, rng, bold=True)
        elif block.kind == "para":
            _runs(document.add_paragraph(), block.text, rng)
        else:
            _table_blocks(document, block, rng)
        if rng.random() < 0.15:
            document.add_paragraph()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _runs(paragraph: Any, text: str, rng: random.Random, *, bold: bool = False) -> None:
    """Text as Word stores it after editing: in several runs, cut anywhere."""
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.choice((0, 0, 1, 2))))) if text else []
    for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
        paragraph.add_run(text[start:end]).bold = bold or None


def _table_blocks(document: Any, block: Block, rng: random.Random) -> None:
    placed, width = place(block.grid)
    rows = len(block.grid)
    split = rng.randint(4, rows - 2) if rows > 8 and rng.random() < 0.5 else None
    if split is None:
        _word_table(document, placed, (0, rows), width, rng, converter=False)
        return
    converter = rng.random() < 0.5
    _word_table(document, placed, (0, split), width, rng, converter=False)
    for _ in range(rng.choice((1, 1, 2))):
        document.add_paragraph()
    _word_table(document, placed, (split, rows), width, rng, converter=converter)


def _word_table(
    document: Any, placed: list[Placed], rows: tuple[int, int], width: int, rng: random.Random, *, converter: bool
) -> None:
    """The rows [first, end) of a placed grid as one Word table. A cell that starts above `first`
    continues here: as a fresh empty merge (Word), or as a `vMerge` continuation (`converter`)."""
    first, end = rows
    table = document.add_table(rows=end - first, cols=width)
    table.style = "Table Grid"
    cells = {(r, c): cell for r, row in enumerate(table.rows) for c, cell in enumerate(row.cells)}
    for item in placed:
        top, bottom = max(item.row, first), min(item.row + item.rowspan, end) - 1
        if top > bottom:
            continue
        anchor = cells[(top - first, item.col)]
        if bottom > top or item.colspan > 1:
            anchor = anchor.merge(cells[(bottom - first, item.col + item.colspan - 1)])
        if item.row >= first:
            _cell_text(anchor, item.cell, rng)
        elif converter:
            _continue_merge(anchor)


def _continue_merge(cell: _Cell) -> None:
    """Mark a cell as continuing a vertical merge from a row that is not in its table."""
    properties = cell._tc.get_or_add_tcPr()
    merge = properties.find(qn("w:vMerge"))
    if merge is None:
        merge = OxmlElement("w:vMerge")
        properties.append(merge)
    merge.attrib.pop(qn("w:val"), None)


def _cell_text(cell: _Cell, grid_cell: GridCell, rng: random.Random) -> None:
    text = grid_cell.text
    paragraph = cell.paragraphs[0]
    if grid_cell.kind == "value":
        if rng.random() < 0.5:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        if text:
            paragraph.add_run(text)
        return
    half = len(text) // 2
    wrap = len(text) >= 4 and not (text[half - 1].isascii() and text[half].isascii()) and rng.random() < 0.25
    if not wrap:
        _runs(paragraph, text, rng)
    elif rng.random() < 0.5:
        paragraph.add_run(text[:half])
        cell.add_paragraph(text[half:])
    else:
        run = paragraph.add_run(text[:half])
        run.add_break()
        paragraph.add_run(text[half:])


# ---------------------------------------------------------------------------------------- the real 2021 form


def fill_template_docx(cells: Cells, *, org: str = "某某县某某局", year: int = 2022, null: str = "") -> bytes:
    """The national 2021 form (`template-2021-blank.docx`) with its title for `org` and `year` and
    every data cell filled from a 2021 `cells` dict (`null` where a value is None)."""
    document = docx.Document(str(TEMPLATE_2021))
    title = next(p for p in document.paragraphs if "年度报告" in p.text)
    for run in title.runs[1:]:
        run.text = ""
    title.runs[0].text = f"{org}{year}年政府信息公开工作年度报告"
    active, applications, review = document.tables
    for table, name in ((active, forms.TABLE_ACTIVE), (applications, forms.TABLE_APPLICATIONS)):
        labels = {_fold(label): row for row in forms.ROWS["2021"] if row.table == name for label in row.labels}
        for tr in table._tbl.tr_lst:
            tcs = tr.tc_lst
            texts = [_fold(_Cell(tc, table).text) for tc in tcs]
            index = max((i for i, text in enumerate(texts) if text), default=None)
            if index is None or texts[index] not in labels:
                continue
            row = labels[texts[index]]
            values = tcs[index + 1 :]
            assert len(values) == len(row.keys), f"{row.name}: {len(values)} cells for {len(row.keys)} keys"
            for tc, key in zip(values, row.keys, strict=True):
                _fill(_Cell(tc, table), cells[key], null)
    values = review._tbl.tr_lst[-1].tc_lst
    for tc, key in zip(values, forms.table_keys("2021", forms.TABLE_REVIEW), strict=True):
        _fill(_Cell(tc, review), cells[key], null)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace(" ", "").strip()


def _fill(cell: _Cell, value: int | float | None, null: str) -> None:
    text = null if value is None else _printed(value)
    paragraph = cell.paragraphs[0]
    for run in paragraph.runs:
        run.text = ""
    paragraph.add_run(text)


def _printed(value: int | float) -> str:
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


# ---------------------------------------------------------------------------------------- sheets


@dataclass(frozen=True, slots=True)
class SheetCell:
    """What a spreadsheet cell holds at (row, col), 0-based, with its merged range's size."""

    row: int
    col: int
    value: str | int | float | None
    rowspan: int = 1
    colspan: int = 1


Sheet = tuple[str, list[SheetCell]]


def sheet_layout(blocks: list[Block], rng: random.Random) -> list[Sheet]:
    """The blocks laid out on sheets in reading order: all on one sheet, or one sheet per table that
    starts with the table's heading and carries the prose after it (the first sheet, what precedes)."""
    per_table = rng.random() < 0.5
    left = rng.choice((0, 0, 1))
    sheets: list[Sheet] = [("年度报告" if not per_table else "说明", [])]
    row = 0
    for i, block in enumerate(blocks):
        before_table = i + 1 < len(blocks) and blocks[i + 1].kind == "table"
        if per_table and before_table:
            sheets.append((_sheet_name(block.text), []))
            row = 0
        cells = sheets[-1][1]
        if block.kind == "table":
            row = _table_cells(cells, block, row, left, rng) + rng.choice((0, 1))
        else:
            span = rng.choice((1, 1, 4)) if block.kind == "title" else 1
            cells.append(SheetCell(row, left, block.text, colspan=span))
            row += 1 + (per_table and before_table)
    return sheets


def _sheet_name(heading: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "", heading)[:31]


def _table_cells(out: list[SheetCell], block: Block, top: int, left: int, rng: random.Random) -> int:
    """Place a table's grid at (top, left); the row after it."""
    placed, _ = place(block.grid)
    for item in placed:
        value: str | int | float | None = item.cell.text
        if item.cell.kind == "value":
            value = _as_number(item.cell.text, rng)
        out.append(SheetCell(top + item.row, left + item.col, value, item.rowspan, item.colspan))
    return top + len(block.grid)


def _as_number(text: str, rng: random.Random) -> str | int | float | None:
    """A value as a person types it into a sheet: a number when it is one, empty when blank."""
    if not text:
        return None
    plain = text.translate(_FULLWIDTH_DIGITS).replace(",", "")
    if not _PLAIN_NUMBER.fullmatch(plain) or rng.random() < 0.05:
        return text  # 无, 1150万, a dash, or now and then a number typed as text
    number = float(plain)
    return int(number) if "." not in plain else number


def render_xlsx(blocks: list[Block], rng: random.Random) -> bytes:
    """The report as an Excel workbook (openpyxl): merged ranges for spans, numbers as numbers."""
    workbook = openpyxl.Workbook()
    for index, (name, cells) in enumerate(sheet_layout(blocks, rng)):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        assert sheet is not None
        sheet.title = name
        for item in cells:
            cell = sheet.cell(row=item.row + 1, column=item.col + 1)
            cell.value = item.value
            if isinstance(item.value, float) and item.value == int(item.value):
                cell.number_format = "0.00"  # printed 12.00, stored 12
            if item.rowspan > 1 or item.colspan > 1:
                sheet.merge_cells(
                    start_row=item.row + 1,
                    start_column=item.col + 1,
                    end_row=item.row + item.rowspan,
                    end_column=item.col + item.colspan,
                )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


_ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"'
)
_ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"


def render_ods(blocks: list[Block], rng: random.Random) -> bytes:
    """The same layout as an OpenDocument spreadsheet, written directly (no LibreOffice needed)."""
    tables = "".join(_ods_table(name, cells) for name, cells in sheet_layout(blocks, rng))
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODS_NS}>'
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_ODS_MIME}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), _ODS_MIME, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
    return out.getvalue()


def _ods_table(name: str, cells: list[SheetCell]) -> str:
    at = {(c.row, c.col): c for c in cells}
    covered = {
        (c.row + dr, c.col + dc) for c in cells for dr in range(c.rowspan) for dc in range(c.colspan) if dr or dc
    }
    height = max(c.row + c.rowspan for c in cells)
    width = max(c.col + c.colspan for c in cells)
    rows = []
    for r in range(height):
        row = []
        for c in range(width):
            if (r, c) in covered:
                row.append("<table:covered-table-cell/>")
            elif (r, c) in at:
                row.append(_ods_cell(at[(r, c)]))
            else:
                row.append("<table:table-cell/>")
        rows.append("<table:table-row>" + "".join(row) + "</table:table-row>")
    return f"<table:table table:name={quoteattr(name)}>{''.join(rows)}</table:table>"


def _ods_cell(cell: SheetCell) -> str:
    spans = ""
    if cell.rowspan > 1 or cell.colspan > 1:
        spans = f' table:number-rows-spanned="{cell.rowspan}" table:number-columns-spanned="{cell.colspan}"'
    if cell.value is None or cell.value == "":
        return f"<table:table-cell{spans}/>"
    if isinstance(cell.value, int | float):
        return (
            f'<table:table-cell{spans} office:value-type="float" office:value="{cell.value!r}">'
            f"<text:p>{cell.value}</text:p></table:table-cell>"
        )
    return (
        f'<table:table-cell{spans} office:value-type="string"><text:p>{escape(cell.value)}</text:p></table:table-cell>'
    )


# ---------------------------------------------------------------------------------------- hostile packages

# zlib.crc32(bytes(2**30)): the CRC of 1 GiB of zeros, so that building the bomb costs no second.
_ZEROS_CRC = {2**30: 1533330096}
_MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Member:
    """A zip member as stored: its raw deflate stream, its CRC and its size."""

    deflated: bytes
    crc: int
    size: int


def deflated(data: bytes) -> Member:
    """A member holding `data`."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member(compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data))


def deflated_zeros(size: int) -> Member:
    """`size` zero bytes (a multiple of 1 MiB) deflated in about a millisecond per GiB: after a full
    flush the compressor forgets its history, so every further MiB compresses to the same block."""
    assert size % _MIB == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(_MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(_MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == block
    stream = block * (size // _MIB) + compressor.flush()
    crc = _ZEROS_CRC[size] if size in _ZEROS_CRC else zlib.crc32(bytes(size))
    return Member(stream, crc, size)


def build_zip(members: dict[str, Member], *, declared: dict[str, int] | None = None) -> bytes:
    """A zip of deflated members written by hand; `declared` makes a member claim another size."""
    local, central = io.BytesIO(), io.BytesIO()
    for name, member in members.items():
        raw = name.encode()
        size = (declared or {}).get(name, member.size)
        offset = local.tell()
        local.write(
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 33, member.crc, len(member.deflated), size, len(raw), 0
            )
        )
        local.write(raw + member.deflated)
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                *(0x02014B50, 20, 20, 0, 8, 0, 33, member.crc, len(member.deflated), size, len(raw)),
                *(0, 0, 0, 0, 0, offset),
            )
            + raw
        )
    directory = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), local.tell(), 0)
    return local.getvalue() + directory + end


def minimal_docx(document_xml: bytes | Member) -> dict[str, Member]:
    """The members of a smallest Word package around a given `word/document.xml`."""
    types = (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
        b'"/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
        b'document.main+xml"/></Types>'
    )
    rels = (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    document = document_xml if isinstance(document_xml, Member) else deflated(document_xml)
    return {"[Content_Types].xml": deflated(types), "_rels/.rels": deflated(rels), "word/document.xml": document}


def mangle(package: bytes, rng: random.Random, parts: tuple[str, ...] = ()) -> bytes:
    """A zip package with a few bytes of one XML part (one of `parts`, else any) changed, deleted or
    copied elsewhere, zipped again with valid CRCs so that the damage reaches the XML readers."""
    with zipfile.ZipFile(io.BytesIO(package)) as source:
        members = {name: source.read(name) for name in source.namelist()}
    target = rng.choice(parts or tuple(name for name in members if name.endswith(".xml")))
    data = bytearray(members[target])
    for _ in range(rng.randint(1, 5)):
        pos, draw = rng.randrange(len(data)), rng.random()
        if draw < 0.4:
            data[pos] = rng.choice(b'0123456789"<>/= abcrtvw:')
        elif draw < 0.7:
            del data[pos : pos + rng.randint(1, 40)]
        else:
            start = rng.randrange(len(data))
            data[pos:pos] = data[start : start + rng.randint(1, 200)]
    members[target] = bytes(data)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, member in members.items():
            archive.writestr(name, member)
    return out.getvalue()
