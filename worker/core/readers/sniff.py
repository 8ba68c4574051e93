"""What a file is, from its bytes: the name a crawler or a user gave it proves nothing.

PDF, the zip packages (docx, xlsx, odt, ods), the OLE2 compound files (doc, wps, xls, and an
encrypted Office package) and RTF are told by their signatures and, for containers, by what
they contain. Anything else is text for the decoder, which tells HTML from plain text.
"""

import io
import zipfile

import olefile

from worker.core.errors import ReportFailure
from worker.core.readers.zipped import ZIP_ERRORS
from worker.core.result import FailureReason, Format

_PDF = b"%PDF-"
# A PDF may carry junk before its header; readers accept it within the first kilobyte.
_PDF_WINDOW = 1024
# ...and a real one has objects soon after: a text that merely quotes `%PDF-` has none.
_PDF_PROBE = 1 << 16
_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_RTF = b"{\\rtf"
_ODF_TYPES = {
    "application/vnd.oasis.opendocument.text": Format.ODT,
    "application/vnd.oasis.opendocument.spreadsheet": Format.ODS,
}
# Kingsoft WPS Writer stores its text in a Word-compatible stream but marks the file as its own.
_WPS_MARKS = ("wpscustomdata", "kso", "wps")
_FIB_FLAGS = 0x0A
_FIB_ENCRYPTED = 0x0100


def sniff(data: bytes) -> Format | None:
    """The binary format of a document, or None for text (plain or HTML, the decoder decides).

    Raises ReportFailure: `encrypted` for a password-protected Office file, `unreadable` for a
    container that is broken or holds no document we know.
    """
    head = data[:_PDF_WINDOW]
    if _PDF in head and b"obj" in data[:_PDF_PROBE]:
        return Format.PDF
    if head.startswith(_ZIP):
        return _zip_format(data)
    if head.startswith(_OLE2):
        return _ole_format(data)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_RTF):
        return Format.RTF
    return None


def _zip_format(data: bytes) -> Format:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            mimetype = _small_member(archive, "mimetype") if "mimetype" in names else ""
    except (*ZIP_ERRORS, RuntimeError) as error:
        raise ReportFailure(FailureReason.UNREADABLE, f"a broken zip package: {error}") from error
    if "word/document.xml" in names:
        return Format.DOCX
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return Format.XLSX
    if mimetype in _ODF_TYPES:
        return _ODF_TYPES[mimetype]
    raise ReportFailure(FailureReason.UNREADABLE, "a zip archive that is not a Word, Excel or OpenDocument file")


def _small_member(archive: zipfile.ZipFile, name: str) -> str:
    info = archive.getinfo(name)
    if info.file_size > 200:
        return ""
    return archive.read(info).decode("ascii", "replace").strip()


def _ole_format(data: bytes) -> Format:
    try:
        with olefile.OleFileIO(data) as ole:
            streams = {"/".join(entry).lower() for entry in ole.listdir(streams=True, storages=False)}
            if "encryptedpackage" in streams or "encryptioninfo" in streams:
                raise ReportFailure(FailureReason.ENCRYPTED, "a password-protected Office document")
            if "worddocument" in streams:
                if _word_encrypted(ole.openstream("WordDocument").read(_FIB_FLAGS + 2)):
                    raise ReportFailure(FailureReason.ENCRYPTED, "a password-protected Word document")
                return Format.WPS if any(m in s for s in streams for m in _WPS_MARKS) else Format.DOC
            if "workbook" in streams or "book" in streams:
                return Format.XLS
    except ReportFailure:
        raise
    except Exception as error:  # olefile raises many kinds on a damaged file
        raise ReportFailure(FailureReason.UNREADABLE, f"a broken OLE2 compound file: {error}") from error
    raise ReportFailure(FailureReason.UNREADABLE, "an OLE2 compound file that is not a Word, WPS or Excel document")


def _word_encrypted(fib: bytes) -> bool:
    # The File Information Block's flags word: fEncrypted is bit 8 ([MS-DOC] 2.5.2).
    if len(fib) < _FIB_FLAGS + 2:
        return False
    return bool(int.from_bytes(fib[_FIB_FLAGS : _FIB_FLAGS + 2], "little") & _FIB_ENCRYPTED)
