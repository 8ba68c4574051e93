"""The format comes from the bytes, not the name; every number keeps where it was read."""

import io
import json
import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.corpus import CORPUS
from tests.native.office import render_docx
from tests.native.pdf import render_pdf
from tests.render import Block, random_cells, render
from worker.core import parse_bytes
from worker.core.document import Where, describe, evidence_json
from worker.core.errors import ReportFailure
from worker.core.parse import parse_document
from worker.core.readers.sniff import sniff
from worker.core.result import FailureReason, Format

PDF = CORPUS / "native" / "huaian-2024.pdf"
BLANK_FORM = CORPUS / "native" / "template-2021-blank.docx"
SEED = sorted((CORPUS / "seeds").glob("*.txt"))[0]
GOVREPORT = Path(sys.executable).parent / "govreport"


def test_signatures_decide_the_format() -> None:
    assert sniff(PDF.read_bytes()) == Format.PDF
    assert sniff(BLANK_FORM.read_bytes()) == Format.DOCX
    assert sniff(b"{\\rtf1\\ansi hello}") == Format.RTF
    assert sniff(SEED.read_bytes()) is None  # text: the decoder tells plain text from HTML
    assert sniff("报告里提到 %PDF- 这个字符串".encode()) is None


def test_a_zip_that_is_no_document_and_a_broken_one_are_unreadable() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", b"\xff\xd8\xff")
    for data in (buffer.getvalue(), b"PK\x03\x04" + b"\x00" * 40):
        with pytest.raises(ReportFailure) as raised:
            sniff(data)
        assert raised.value.reason == FailureReason.UNREADABLE


def test_an_ole2_file_holding_no_document_is_unreadable() -> None:
    with pytest.raises(ReportFailure) as raised:
        sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert raised.value.reason == FailureReason.UNREADABLE


def test_the_name_proves_nothing() -> None:
    as_text = parse_bytes(PDF.read_bytes(), "report.txt")
    assert as_text.source.format == Format.PDF and as_text.source.pages == 6
    assert as_text.source.encoding is None
    as_pdf = parse_bytes(SEED.read_bytes(), "report.pdf")
    assert as_pdf.source.format == Format.TEXT and as_pdf.source.pages is None
    assert as_pdf.status == "valid"
    page = render(random_cells(random.Random(3), "2021"), "2021", "html")
    assert parse_bytes(page.encode(), "report.doc").source.format == Format.HTML


def test_a_word_97_document_without_its_converter_is_unsupported_with_what_to_install() -> None:
    result = parse_bytes(_minimal_word_97(), "report.doc", convert=None)
    assert result.status == "failed" and result.failure is not None
    assert result.failure.reason == FailureReason.UNSUPPORTED_FORMAT
    assert "libreoffice-writer-nogui" in result.failure.message
    assert result.source.format == Format.DOC


def _minimal_word_97() -> bytes:
    """A Word 97 document as far as a sniffer can tell: its FIB's magic, nothing encrypted."""
    return ole2({"WordDocument": b"\xec\xa5\xc1\x00" + b"\x00" * 508})


def ole2(streams: dict[str, bytes]) -> bytes:
    """An OLE2 compound file holding these streams (each under 4 KiB is padded to 4 KiB so that it
    lives in regular sectors), written by hand: olefile only reads."""
    sector = 512
    names = list(streams)
    bodies = [streams[n].ljust(4096, b"\x00") for n in names]
    header = bytearray(sector)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHH", header, 24, 0x3E, 3, 0xFFFE, 9)  # minor, major version, byte order, sector shift
    struct.pack_into("<H", header, 32, 6)  # mini sector shift
    struct.pack_into("<IIIIIIII", header, 44, 1, 1, 0, 0x1000, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    struct.pack_into("<I", header, 76, 0)  # the FAT is in sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, 0xFFFFFFFF)
    fat = [0xFFFFFFFD, 0xFFFFFFFE]  # sector 0: the FAT; sector 1: the directory
    starts = []
    for body in bodies:
        count = len(body) // sector
        starts.append(len(fat))
        fat.extend([len(fat) + i + 1 for i in range(count - 1)] + [0xFFFFFFFE])
    fat_sector = bytearray(b"\xff" * sector)
    struct.pack_into(f"<{len(fat)}I", fat_sector, 0, *fat)
    directory = bytearray(sector)

    def entry(index: int, name: str, kind: int, start: int, size: int, child: int, right: int) -> None:
        raw = name.encode("utf-16-le") + b"\x00\x00"
        offset = index * 128
        directory[offset : offset + len(raw)] = raw
        struct.pack_into("<HBB", directory, offset + 64, len(raw), kind, 1)
        struct.pack_into("<III", directory, offset + 68, 0xFFFFFFFF, right, child)
        struct.pack_into("<II", directory, offset + 116, start, size)

    none = 0xFFFFFFFF
    entry(0, "Root Entry", 5, 0xFFFFFFFE, 0, child=1, right=none)
    for i, (name, start, body) in enumerate(zip(names, starts, bodies, strict=True), start=1):
        entry(i, name, 2, start, len(body), child=none, right=i + 1 if i < len(names) else none)
    for index in range(len(names) + 1, 4):
        struct.pack_into("<III", directory, index * 128 + 68, none, none, none)
    return bytes(header + fat_sector + directory + b"".join(bodies))


def test_text_numbers_carry_their_line() -> None:
    text = SEED.read_text(encoding="utf-8")
    parsed = parse_document(text.encode(), "seed.txt")
    lines = text.split("\n")
    assert parsed.evidence, "a valid report has numbers, each with its line"
    for key, where in parsed.evidence.items():
        assert where.line is not None
        value = parsed.result.cells[key]
        assert value is not None
        printed = lines[where.line - 1]
        assert str(int(value)) in printed.replace(",", "") or "无" in printed, (key, value, printed)


def test_html_numbers_carry_their_table_row_and_column() -> None:
    page = """<html><body><p>某某局2022年政府信息公开工作年度报告</p><table>
    <tr><td>信息内容</td><td>本年制发件数</td><td>本年废止件数</td><td>现行有效件数</td></tr>
    <tr><td>规章</td><td>3</td><td></td><td>5</td></tr></table></body></html>"""
    parsed = parse_document(page.encode(), "p.html")
    assert parsed.evidence["active.regulations.issued"] == Where(table=1, row=2, column=2)
    assert parsed.evidence["active.regulations.in_force"] == Where(table=1, row=2, column=4)
    assert "active.regulations.repealed" not in parsed.evidence  # blank: no number was taken


def test_evidence_is_compact_and_readable() -> None:
    stored = evidence_json({"a": Where(page=4, box=(61.234, 310.0, 96.04, 322.15)), "b": Where(line=7)})
    assert stored == {"a": {"page": 4, "box": [61.2, 310.0, 96.0, 322.1]}, "b": {"line": 7}}
    assert describe(stored["a"]) == "page 4, box (61.2, 310.0)-(96.0, 322.1) pt from the top left"
    assert describe({"sheet": "表三", "table": 2, "row": 5, "column": 3}) == "sheet 表三, table 2, row 5, column 3"


def test_parse_prints_evidence_for_people_and_for_scripts() -> None:
    done = subprocess.run(
        [str(GOVREPORT), "parse", "--evidence", str(SEED)], capture_output=True, text=True, check=True, timeout=120
    )
    document = json.loads(done.stdout)
    assert document["status"] == "valid"
    assert set(document["evidence"]) == {k for k, v in document["cells"].items() if v is not None}
    table = subprocess.run(
        [str(GOVREPORT), "parse", "--table", "--evidence", str(SEED)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "evidence:" in table.stdout
    assert "applications.new_received.total" in table.stdout and "line " in table.stdout


def test_a_password_protected_word_document_is_encrypted() -> None:
    fib = bytearray(b"\xec\xa5\xc1\x00" + b"\x00" * 508)
    fib[0x0B] |= 0x01  # FIB flags: fEncrypted
    result = parse_bytes(ole2({"WordDocument": bytes(fib)}), "locked.doc")
    assert result.failure is not None and result.failure.reason == FailureReason.ENCRYPTED


def test_a_password_protected_docx_or_xlsx_is_encrypted() -> None:
    # Office encrypts a docx or xlsx by wrapping the whole package in an OLE2 file ([MS-OFFCRYPTO]).
    data = ole2({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\x00" * 64})
    for name in ("locked.docx", "locked.xlsx"):
        result = parse_bytes(data, name)
        assert result.failure is not None and result.failure.reason == FailureReason.ENCRYPTED


def test_a_document_that_is_no_report_is_not_a_report_whatever_its_format() -> None:
    budget = [
        Block("title", "某某市2024年财政预算执行情况"),
        Block("para", "2024年全市一般公共预算收入完成情况良好，同比增长百分之三点二。"),
        Block("para", "支出方面，教育、卫生健康、社会保障等重点领域支出得到有效保障。"),
    ]
    rng = random.Random(1)
    for data, fmt in ((render_pdf(budget, ruled=False, rng=rng), Format.PDF), (render_docx(budget, rng), Format.DOCX)):
        result = parse_bytes(data, "budget.bin")
        assert result.source.format == fmt
        assert result.failure is not None and result.failure.reason == FailureReason.NOT_A_REPORT
