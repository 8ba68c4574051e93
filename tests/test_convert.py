"""LibreOffice conversions of doc, wps, rtf and odt to docx: real round trips, timeouts, failures."""

import io
import os
import stat
import struct
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docx
import olefile
import pytest

from tests.native.libreoffice import convert, require_soffice
from worker.adapters import convert as convert_module
from worker.adapters.convert import INSTALL_HINT, Converter, available, find_soffice
from worker.core.errors import ReportFailure
from worker.core.result import FailureReason, Format

TITLE = "某某县某某局2022年政府信息公开工作年度报告"
TABLE = [
    ["项目", "本年新收", "办结"],
    ["自然人", "1,234", "56"],
    ["法人或其他组织", "无", "7"],
]


def _docx() -> bytes:
    document = docx.Document()
    document.add_paragraph(TITLE)
    table = document.add_table(rows=len(TABLE), cols=len(TABLE[0]))
    for r, row in enumerate(TABLE):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    document.add_paragraph("二、主动公开政府信息情况")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _read(data: bytes) -> tuple[list[str], list[list[list[str]]]]:
    """The paragraphs and the tables' cell texts of a docx."""
    document = docx.Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs if p.text.strip()]
    tables = [[[cell.text for cell in row.cells] for row in table.rows] for table in document.tables]
    return paragraphs, tables


@pytest.fixture(scope="module")
def printed() -> dict[Format, bytes]:
    """The test docx printed as doc, rtf and odt by LibreOffice (one call per format)."""
    require_soffice()
    source = _docx()
    return {
        fmt: convert({"report.docx": source}, fmt.value)["report.docx"] for fmt in (Format.DOC, Format.RTF, Format.ODT)
    }


def _our_processes(marker: str) -> list[str]:
    """Live (not zombie) processes whose command line mentions `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(f"{entry.name} {state} {cmdline}")
    return found


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A parent for the converter's private folders, checked empty afterwards."""
    folder = tmp_path / "work"
    folder.mkdir()
    yield folder
    assert list(folder.iterdir()) == [], "the private folder was left behind"


# ---------------------------------------------------------------- real conversions


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [Format.DOC, Format.RTF, Format.ODT, Format.WPS])
def test_round_trip_keeps_text_and_table(printed: dict[Format, bytes], fmt: Format, workdir: Path) -> None:
    # Kingsoft WPS writes Word's binary format: the doc bytes are a wps.
    data = printed[Format.DOC if fmt == Format.WPS else fmt]
    result = Converter(workdir=workdir).to_docx(data, fmt)
    assert result.startswith(b"PK")
    paragraphs, tables = _read(result)
    assert TITLE in paragraphs
    assert "二、主动公开政府信息情况" in paragraphs
    assert tables == [TABLE]


@pytest.mark.slow
def test_parallel_conversions_both_succeed(printed: dict[Format, bytes], workdir: Path) -> None:
    # With a shared profile the second soffice would hand its job to the first, or fail on the lock.
    converter = Converter(workdir=workdir)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {fmt: pool.submit(converter.to_docx, printed[fmt], fmt) for fmt in (Format.DOC, Format.ODT)}
        results = {fmt: future.result(timeout=120) for fmt, future in futures.items()}
    for fmt in (Format.DOC, Format.ODT):
        assert _read(results[fmt])[1] == [TABLE]


@pytest.mark.slow
def test_a_timeout_is_unreadable_and_leaves_no_soffice_behind(printed: dict[Format, bytes], workdir: Path) -> None:
    # No conversion ends this soon: LibreOffice alone takes longer to start (1 s was once enough
    # for a warm start on this machine, and the test then saw no timeout).
    with pytest.raises(ReportFailure) as caught:
        Converter(timeout=0.2, workdir=workdir).to_docx(printed[Format.DOC], Format.DOC)
    assert caught.value.reason == FailureReason.UNREADABLE
    assert "longer than 0.2 s" in caught.value.message
    assert _our_processes(str(workdir)) == []


@pytest.mark.slow
def test_garbage_named_doc_is_unreadable_with_what_libreoffice_said(workdir: Path) -> None:
    require_soffice()
    garbage = bytes(range(256)) * 20
    with pytest.raises(ReportFailure) as caught:
        Converter(workdir=workdir).to_docx(garbage, Format.DOC)
    assert caught.value.reason == FailureReason.UNREADABLE
    assert caught.value.message.startswith("LibreOffice could not convert the doc document: ")
    assert "could not be loaded" in caught.value.message
    assert str(workdir) not in caught.value.message


@pytest.mark.slow
def test_a_password_protected_doc_is_encrypted(printed: dict[Format, bytes], tmp_path: Path, workdir: Path) -> None:
    # Word marks an encrypted document in its header (fEncrypted); LibreOffice then asks for a password.
    path = tmp_path / "locked.doc"
    path.write_bytes(printed[Format.DOC])
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        header = bytearray(ole.openstream("WordDocument").read())
        (flags,) = struct.unpack_from("<H", header, 10)
        struct.pack_into("<H", header, 10, flags | 0x0100)
        ole.write_stream("WordDocument", bytes(header))
    with pytest.raises(ReportFailure) as caught:
        Converter(workdir=workdir).to_docx(path.read_bytes(), Format.DOC)
    assert caught.value.reason == FailureReason.ENCRYPTED


@pytest.mark.slow
def test_a_password_protected_odt_is_encrypted(printed: dict[Format, bytes], workdir: Path) -> None:
    # ODF lists each encrypted member's cipher in the manifest; the member itself is ciphertext.
    encryption = (
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="AAAAAAAAAAAAAAAAAAAAAAAAAAA=">'
        '<manifest:algorithm manifest:algorithm-name="http://www.w3.org/2001/04/xmlenc#aes256-cbc" '
        'manifest:initialisation-vector="AAAAAAAAAAAAAAAAAAAAAA=="/>'
        '<manifest:key-derivation manifest:key-derivation-name="PBKDF2" manifest:key-size="32" '
        'manifest:iteration-count="100000" manifest:salt="AAAAAAAAAAAAAAAAAAAAAA=="/>'
        "</manifest:encryption-data>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(printed[Format.ODT])) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "META-INF/manifest.xml":
                entry = '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"'
                assert entry.encode() in data
                data = data.replace(
                    f"{entry}/>".encode(),
                    f'{entry} manifest:size="{len(data)}">{encryption}</manifest:file-entry>'.encode(),
                )
            elif info.filename == "content.xml":
                data = os.urandom(len(data))
            target.writestr(info, data)
    with pytest.raises(ReportFailure) as caught:
        Converter(workdir=workdir).to_docx(buffer.getvalue(), Format.ODT)
    assert caught.value.reason == FailureReason.ENCRYPTED


# ---------------------------------------------------------------- without LibreOffice


def test_missing_soffice_is_unsupported_with_the_install_hint() -> None:
    converter = Converter(executable="/nonexistent/soffice")
    assert not converter.available()
    with pytest.raises(ReportFailure) as caught:
        converter.to_docx(b"{\\rtf1 x}", Format.RTF)
    assert caught.value.reason == FailureReason.UNSUPPORTED_FORMAT
    assert INSTALL_HINT in caught.value.message
    assert "apt-get install libreoffice-writer-nogui" in caught.value.message


def test_soffice_neither_on_path_nor_in_debians_place_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(convert_module, "FALLBACK_SOFFICE", tmp_path / "nowhere" / "soffice")
    assert find_soffice() is None
    assert not available()
    with pytest.raises(ReportFailure) as caught:
        Converter().to_docx(b"PK", Format.ODT)
    assert caught.value.reason == FailureReason.UNSUPPORTED_FORMAT


def test_only_the_word_processor_formats_are_converted() -> None:
    with pytest.raises(ValueError, match="pdf"):
        Converter().to_docx(b"%PDF-1.7", Format.PDF)


def _fake_soffice(tmp_path: Path, body: str) -> str:
    """A stand-in soffice that records its arguments, environment and working folder, then runs `body`."""
    script = tmp_path / "soffice"
    script.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\nenv > {tmp_path}/env\npwd > {tmp_path}/cwd\n{body}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_soffice_gets_a_private_profile_a_minimal_environment_and_a_copy_of_the_bytes(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVREPORT_DATABASE_URL", "postgresql://user:secret@db/govreport")
    # The last argument is the input, the one before it the output folder: "convert" by copying.
    body = 'prev=""; last=""; for a; do prev=$last; last=$a; done; cp "$last" "$prev/in.docx"'
    result = Converter(executable=_fake_soffice(tmp_path, body), workdir=workdir).to_docx(b"{\\rtf1 x}", Format.RTF)
    assert result == b"{\\rtf1 x}"
    args = (tmp_path / "args").read_text().splitlines()
    private = Path((tmp_path / "cwd").read_text().strip())
    assert private.parent == workdir
    assert args[0] == f"-env:UserInstallation={(private / 'profile').as_uri()}"
    assert "--headless" in args
    assert "--infilter=Rich Text Format" in args
    assert args[-1] == str(private / "in.rtf")
    environment = dict(line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line)
    assert environment["HOME"] == str(private)
    assert environment["TMPDIR"] == str(private / "tmp")
    assert not any("secret" in value for value in environment.values())
    assert not any(name.startswith("GOVREPORT_") for name in environment)


def test_a_crash_without_output_is_unreadable_with_its_words_and_status(tmp_path: Path, workdir: Path) -> None:
    body = 'echo "Warning: failed to launch javaldx - java may not function correctly" >&2; echo "it broke" >&2; exit 3'
    with pytest.raises(ReportFailure) as caught:
        Converter(executable=_fake_soffice(tmp_path, body), workdir=workdir).to_docx(b"\xd0\xcf\x11\xe0", Format.DOC)
    assert caught.value.reason == FailureReason.UNREADABLE
    assert caught.value.message == "LibreOffice could not convert the doc document: it broke (exit status 3)"


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path, workdir: Path) -> None:
    # Like soffice → oosplash → soffice.bin, the stand-in leaves children that must die with it.
    body = f"sleep 300 & echo $! >> {tmp_path}/pids; sleep 301 & echo $! >> {tmp_path}/pids; wait"
    with pytest.raises(ReportFailure) as caught:
        Converter(executable=_fake_soffice(tmp_path, body), timeout=0.5, workdir=workdir).to_docx(b"x", Format.DOC)
    assert caught.value.reason == FailureReason.UNREADABLE
    assert caught.value.message == "LibreOffice took longer than 0.5 s to convert the doc document"
    children = (tmp_path / "pids").read_text().split()
    assert len(children) == 2
    assert [pid for pid in children if _alive(pid)] == []
    assert _our_processes(str(tmp_path / "soffice")) == []


def _alive(pid: str) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
