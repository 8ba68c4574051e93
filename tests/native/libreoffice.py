"""Print test documents in other formats with LibreOffice: docx to doc, odt, rtf or pdf, xlsx to xls or ods.

One soffice call converts every file of a batch (LibreOffice starts once, which costs about 2 s;
each small file then takes a fraction of that), in a private profile so that parallel test runs
never share a lock. Kingsoft WPS writes `.wps` in Word's binary format: the doc bytes serve as wps.

    require_soffice()                      # skip here, fail under CI, when LibreOffice is missing
    docs = convert({"a.docx": a, "b.docx": b}, "doc")   # {"a.docx": doc bytes, "b.docx": doc bytes}
"""

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import pytest

from worker.adapters.convert import find_soffice

# Export filters by target, so the result never depends on LibreOffice's guess.
FILTERS = {
    "doc": "doc:MS Word 97",
    "odt": "odt:writer8",
    "rtf": "rtf:Rich Text Format",
    "docx": "docx:MS Word 2007 XML",
    "pdf": "pdf",  # writer_pdf_Export or calc_pdf_Export, after the document's kind
    "xls": "xls:MS Excel 97",
    "ods": "ods:calc8",
    "xlsx": "xlsx:Calc MS Excel 2007 XML",
}
SPREADSHEET_TARGETS = frozenset({"xls", "ods", "xlsx"})


def soffice_available() -> bool:
    """Whether LibreOffice (Writer) is installed."""
    return find_soffice() is not None


def calc_available() -> bool:
    """Whether LibreOffice Calc is installed too (for xls/ods from xlsx)."""
    soffice = find_soffice()
    return soffice is not None and (soffice.resolve().parent / "libsclo.so").exists()


def require_soffice(*, calc: bool = False) -> None:
    """Skip when LibreOffice (and Calc, if asked) is missing here; under CI that is a failure."""
    if soffice_available() and (not calc or calc_available()):
        return
    message = "LibreOffice Calc is not installed" if calc and soffice_available() else "LibreOffice is not installed"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI must install it (bash ops/bootstrap.sh)")
    pytest.skip(f"{message}: bash ops/bootstrap.sh installs it")


def convert(documents: Mapping[str, bytes], target: str, *, timeout: float = 300.0) -> dict[str, bytes]:
    """Each document (name with its extension → bytes) converted to `target`, by one soffice call, keyed as given."""
    if target not in FILTERS:
        raise ValueError(f"unknown target {target!r}: one of {sorted(FILTERS)}")
    stems = [PurePosixPath(name).stem for name in documents]
    if len(set(stems)) != len(stems) or any(PurePosixPath(name).name != name for name in documents):
        raise ValueError("names must be plain file names with distinct stems")
    if not documents:
        return {}
    soffice = find_soffice()
    if soffice is None:
        raise RuntimeError("LibreOffice is not installed: bash ops/bootstrap.sh")
    with tempfile.TemporaryDirectory(prefix="govreport-test-soffice-", ignore_cleanup_errors=True) as name:
        folder = Path(name)
        (folder / "in").mkdir()
        (folder / "tmp").mkdir()
        for filename, data in documents.items():
            (folder / "in" / filename).write_bytes(data)
        command = [
            str(soffice),
            f"-env:UserInstallation={(folder / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            FILTERS[target],
            "--outdir",
            str(folder / "out"),
            *(str(folder / "in" / filename) for filename in documents),
        ]
        environment = {"HOME": name, "TMPDIR": str(folder / "tmp"), "PATH": "/usr/local/bin:/usr/bin:/bin"}
        printed = _run(command, environment, timeout)
        converted: dict[str, bytes] = {}
        for filename, stem in zip(documents, stems, strict=True):
            output = folder / "out" / f"{stem}.{target}"
            if not output.is_file() or output.stat().st_size == 0:
                raise RuntimeError(f"LibreOffice did not convert {filename} to {target}: {printed}")
            converted[filename] = output.read_bytes()
        return converted


def _run(command: list[str], environment: dict[str, str], timeout: float) -> str:
    """Run soffice in its own process group, killed whole on a timeout; what it printed."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return out.decode("utf-8", "replace").strip()
