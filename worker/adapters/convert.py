"""Convert the word-processor formats the core does not read (doc, wps, rtf, odt) to docx with LibreOffice.

Each conversion is one `soffice --headless --convert-to docx` in a private temporary folder that
holds the input (written from bytes: the inbox is never read here), the output, the temporary
files and a fresh LibreOffice profile, so parallel conversions neither block on a shared profile's
lock nor see each other; the folder is removed afterwards. soffice runs in its own process group
with a minimal environment, and the whole group (soffice, oosplash, soffice.bin) is killed on a
timeout. A fresh profile costs LibreOffice its first-start set-up on every call: about 2 s per
conversion on a small document.

The input filter is chosen from the format (Word 97 or Word 6/95 from a doc's header; a wps is
Kingsoft's Word-format file, or else Microsoft Works), never left to LibreOffice's detection:
detection falls back to importing any bytes as plain text, which would turn a corrupt file into a
document of junk instead of a failure.

Raises:
    ReportFailure: `unsupported_format` when LibreOffice is not installed (the message says what
        to install), `encrypted` for a password-protected document, `unreadable` when LibreOffice
        cannot convert the document or takes longer than the timeout.
"""

import contextlib
import io
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import olefile

from worker.core.errors import ReportFailure
from worker.core.result import FailureReason, Format

CONVERTIBLE = frozenset({Format.DOC, Format.WPS, Format.RTF, Format.ODT})
INSTALL_HINT = "install LibreOffice: apt-get install libreoffice-writer-nogui"
# Debian's place when soffice is not on PATH (a service with a bare PATH).
FALLBACK_SOFFICE = Path("/usr/lib/libreoffice/program/soffice")
DEFAULT_TIMEOUT = 120.0
# soffice is a shell script that needs the usual tools, and nothing else from our environment.
_PATH = "/usr/local/bin:/usr/bin:/bin"
_WORD_6_AND_95_FIBS = range(0x0065, 0x006A)  # nFib of Word 6 and 95; Word 97 and later write 0x00C1 or more
_F_ENCRYPTED = 0x0100  # FIB flags bit: the document is encrypted or obfuscated with a password
_NOISE = ("Warning: failed to launch javaldx",)  # printed by every run without Java
_MAX_MESSAGE = 500


def find_soffice(executable: str | None = None) -> Path | None:
    """The soffice to run: `executable` (a path or a name on PATH), else soffice on PATH or Debian's place."""
    if executable is not None:
        found = shutil.which(executable)
        return Path(found) if found else None
    found = shutil.which("soffice")
    if found:
        return Path(found)
    return FALLBACK_SOFFICE if os.access(FALLBACK_SOFFICE, os.X_OK) else None


def available(executable: str | None = None) -> bool:
    """Whether doc, wps, rtf and odt can be converted here (LibreOffice is installed)."""
    return find_soffice(executable) is not None


@dataclass(frozen=True, slots=True)
class Converter:
    """Converts doc, wps, rtf and odt bytes to docx bytes with LibreOffice headless, one process per call."""

    executable: str | None = None  # None: soffice on PATH, else Debian's place
    timeout: float = DEFAULT_TIMEOUT
    workdir: Path | None = None  # parent of the private temporary folders; None: the system's

    def available(self) -> bool:
        """Whether this converter's soffice exists."""
        return available(self.executable)

    def to_docx(self, data: bytes, fmt: Format) -> bytes:
        """The document as docx bytes; raises ReportFailure when it cannot be converted."""
        if fmt not in CONVERTIBLE:
            raise ValueError(f"{fmt.value} is not converted by LibreOffice")
        soffice = find_soffice(self.executable)
        if soffice is None:
            raise ReportFailure(
                FailureReason.UNSUPPORTED_FORMAT,
                f"reading {fmt.value} needs LibreOffice, not found here: {INSTALL_HINT}",
            )
        with tempfile.TemporaryDirectory(
            prefix="govreport-soffice-", dir=self.workdir, ignore_cleanup_errors=True
        ) as name:
            folder = Path(name)
            source = folder / f"in.{fmt.value}"
            source.write_bytes(data)
            (folder / "out").mkdir()
            (folder / "tmp").mkdir()
            command = [
                str(soffice),
                f"-env:UserInstallation={(folder / 'profile').as_uri()}",
                "--headless",
                "--norestore",
                "--nolockcheck",
                f"--infilter={_input_filter(data, fmt)}",
                "--convert-to",
                "docx:MS Word 2007 XML",
                "--outdir",
                str(folder / "out"),
                str(source),
            ]
            environment = {"HOME": name, "TMPDIR": str(folder / "tmp"), "PATH": _PATH, "LANG": "C.UTF-8"}
            said = self._run(command, environment, folder, fmt)
            output = folder / "out" / "in.docx"
            if output.is_file() and output.stat().st_size > 0:
                return output.read_bytes()
        if _encrypted(data, fmt):
            raise ReportFailure(FailureReason.ENCRYPTED, f"the {fmt.value} document is protected by a password")
        raise ReportFailure(
            FailureReason.UNREADABLE, f"LibreOffice could not convert the {fmt.value} document: {said or 'no output'}"
        )

    def _run(self, command: list[str], environment: dict[str, str], folder: Path, fmt: Format) -> str:
        """Run soffice to its end or the timeout; what it printed, without the noise."""
        try:
            process = subprocess.Popen(  # noqa: S603 - a list of our own arguments, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=environment,
                cwd=folder,
                start_new_session=True,  # its own process group, so a timeout can end soffice.bin too
            )
        except OSError as error:
            raise ReportFailure(
                FailureReason.UNSUPPORTED_FORMAT,
                f"reading {fmt.value} needs LibreOffice, cannot run it: {error}; {INSTALL_HINT}",
            ) from error
        try:
            out, err = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise ReportFailure(
                FailureReason.UNREADABLE,
                f"LibreOffice took longer than {self.timeout:g} s to convert the {fmt.value} document",
            ) from None
        finally:
            if process.poll() is None:  # interrupted: never leave soffice behind
                _kill_group(process)
        said = _said(out + b"\n" + err, folder)
        return f"{said} (exit status {process.returncode})" if process.returncode else said


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # The group's leader is not reaped yet, so its id cannot have been reused for another group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    # The pipes close when every process of the group has died: then the folder is free to remove.
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=10)


def _said(printed: bytes, folder: Path) -> str:
    """What soffice printed, for a person: noise and our temporary folder dropped, one line, trimmed."""
    lines = [line.strip() for line in printed.decode("utf-8", "replace").splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(_NOISE))
    text = text.replace(folder.as_uri() + "/", "").replace(f"{folder}/", "")
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


@dataclass(frozen=True, slots=True)
class _Ole:
    """What the directory and the Word header of an OLE2 file (doc, wps) say."""

    n_fib: int | None  # None: no Word document inside (Microsoft Works, or something else)
    flags: int
    encrypted_package: bool  # a password-protected docx is an OLE2 file holding the encrypted package


def _inspect_ole(data: bytes) -> _Ole | None:
    """The facts of an OLE2 file, or None when the bytes are not a readable one."""
    try:
        if not olefile.isOleFile(data):
            return None
        with olefile.OleFileIO(data) as ole:
            package = bool(ole.exists("EncryptionInfo"))
            if not ole.exists("WordDocument"):
                return _Ole(None, 0, package)
            header = ole.openstream("WordDocument").read(12)
    except Exception:  # noqa: BLE001 - olefile raises anything on a corrupt file; LibreOffice then decides
        return None
    if len(header) < 12:
        return _Ole(None, 0, package)
    _ident, n_fib, _product, _language, _next, flags = struct.unpack("<6H", header)
    return _Ole(n_fib, flags, package)


def _input_filter(data: bytes, fmt: Format) -> str:
    """LibreOffice's import filter for the format."""
    if fmt == Format.RTF:
        return "Rich Text Format"
    if fmt == Format.ODT:
        return "writer8"
    ole = _inspect_ole(data)
    if ole is None or ole.n_fib is None:
        # WPS without a Word stream is Microsoft Works; a doc without one fails the Word filter, as it should.
        return "MS_Works" if fmt == Format.WPS else "MS Word 97"
    return "MS Word 95" if ole.n_fib in _WORD_6_AND_95_FIBS else "MS Word 97"


def _encrypted(data: bytes, fmt: Format) -> bool:
    """Whether the document says it is protected by a password (LibreOffice headless only says it failed)."""
    if fmt == Format.ODT:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                manifest = archive.getinfo("META-INF/manifest.xml")
                return manifest.file_size < 1 << 20 and b"encryption-data" in archive.read(manifest)
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, NotImplementedError):
            return False
    if fmt in (Format.DOC, Format.WPS):
        ole = _inspect_ole(data)
        return ole is not None and (ole.encrypted_package or bool(ole.flags & _F_ENCRYPTED))
    return False
