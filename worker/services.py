"""Orchestration around the pure core: read a file, parse it, log one line about it."""

import hashlib
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import structlog

from worker.adapters.convert import Converter as OfficeConverter
from worker.core import ParseResult
from worker.core.document import Limits
from worker.core.parse import Converter, Parsed, failed, parse_document
from worker.core.result import FailureReason, Source
from worker.errors import FileUnreadable
from worker.logging import configure_logging

log = structlog.get_logger("worker.services")
_CHUNK = 1 << 20
PARSE_SECONDS = 60.0
_CONVERT_SHARE = 0.8


def parse_path(path: Path, *, max_bytes: int) -> Parsed:
    """Parse one file. Raises FileUnreadable only when the path gives no bytes at all."""
    started = time.perf_counter()
    try:
        size = path.stat().st_size
        parsed = Parsed(_too_large(path, size, max_bytes), {}) if size > max_bytes else _parse_file(path, max_bytes)
    except OSError as error:
        raise FileUnreadable(f"{path}: {error.strerror or error}") from error
    log_result(parsed.result, time.perf_counter() - started)
    return parsed


def _parse_file(path: Path, max_bytes: int) -> Parsed:
    data = path.read_bytes()

    def on_error(error: BaseException) -> None:
        log.error(
            "parser.internal_error",
            sha256=hashlib.sha256(data).hexdigest(),
            filename=path.name,
            exc_info=error,
        )

    return parse_document(data, path.name, max_bytes=max_bytes, on_error=on_error, convert=converter(PARSE_SECONDS))


def open_no_follow(path: Path) -> BinaryIO:
    """Open a file for reading, refusing a symlink (one may be swapped in after a check)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks: a file over the size limit is never held in memory."""
    digest = hashlib.sha256()
    with open_no_follow(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _too_large(path: Path, size: int, max_bytes: int) -> ParseResult:
    source = Source(filename=path.name, sha256=sha256_of(path), bytes=size)
    return failed(source, FailureReason.TOO_LARGE, f"{size} bytes is over the limit of {max_bytes}")


@dataclass(frozen=True, slots=True)
class ParseJob:
    """One file to parse in a worker process: its bytes (None when over the limit) and identity."""

    data: bytes | None
    filename: str
    sha256: str
    size: int
    max_bytes: int
    seconds: float = PARSE_SECONDS  # what reading the document may take (checked between pages and tables)


def parse_job(job: ParseJob) -> Parsed:
    """Parse one file (in any process); a parser bug is logged with its traceback."""
    if job.data is None:
        source = Source(filename=job.filename, sha256=job.sha256, bytes=job.size)
        return Parsed(
            failed(source, FailureReason.TOO_LARGE, f"{job.size} bytes is over the limit of {job.max_bytes}"), {}
        )

    def on_error(error: BaseException) -> None:
        log.error("parser.internal_error", sha256=job.sha256, filename=job.filename, exc_info=error)

    return parse_document(
        job.data,
        job.filename,
        max_bytes=job.max_bytes,
        on_error=on_error,
        limits=Limits(seconds=job.seconds),
        convert=converter(job.seconds),
    )


def converter(seconds: float) -> Converter | None:
    """LibreOffice for doc/wps/rtf/odt where it is installed (else those fail as unsupported_format).
    It must finish within the document's allowance: a killed parsing process would leave it running."""
    office = OfficeConverter(timeout=seconds * _CONVERT_SHARE)
    return office.to_docx if office.available() else None


def worker_process_init() -> None:
    """Initialise a parsing process: JSON logs, and Ctrl-C left to the parent to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging()


def log_result(result: ParseResult, seconds: float) -> None:
    """The one summary line per report that ops people watch."""
    log.info(
        "report.parsed",
        sha256=result.source.sha256,
        filename=result.source.filename,
        status=result.status.value,
        template=result.template,
        reason=result.failure.reason.value if result.failure else None,
        errors=sum(1 for i in result.issues if i.severity == "error"),
        warnings=sum(1 for i in result.issues if i.severity == "warning"),
        duration_ms=round(seconds * 1000, 3),
    )


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, and the files of folders (recursively, sorted, hidden names skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden:
                    yield child
        else:
            yield path
