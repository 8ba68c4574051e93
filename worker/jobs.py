"""Turning a read file into a parse job, a job into a result (in any process), and a result into a
logged, storable outcome: the one path from bytes to `Outcome` for the consumer and `ingest` alike."""

import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from worker.adapters.convert import Converter as OfficeConverter
from worker.adapters.store import Arrival, Outcome, Saved
from worker.core import ParseResult
from worker.core.document import Limits, Where, evidence_json
from worker.core.parse import Converter, Parsed, failed, parse_document, too_large
from worker.core.result import FailureReason, Source
from worker.errors import FileUnreadable
from worker.files import FileData, read_given
from worker.logging import configure_logging

# The logger keeps the name it had before this module was split out: ops filter `report.parsed` by it.
log = structlog.get_logger("worker.services")
log_pipeline = structlog.get_logger("worker.pipeline")
PARSE_SECONDS = 60.0
_CONVERT_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class ParseJob:
    """One file to parse in a parsing process. Its reason to exist: it is what is pickled to that
    process, so it carries only the bytes, the identity and the limits, never a path or a socket."""

    data: bytes | None
    filename: str
    sha256: str
    size: int
    max_bytes: int
    seconds: float = PARSE_SECONDS  # what reading the document may take (checked between pages and tables)


def job_for(file: FileData, max_bytes: int, seconds: float = PARSE_SECONDS) -> ParseJob:
    """The parse job of a read file."""
    return ParseJob(file.data, file.filename, file.sha256, file.size, max_bytes, seconds)


def parse_job(job: ParseJob) -> Parsed:
    """Parse one file (in any process); a parser bug is logged with its traceback."""
    if job.data is None:
        return Parsed(too_large(Source(filename=job.filename, sha256=job.sha256, bytes=job.size), job.max_bytes), {})

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


@dataclass(frozen=True, slots=True)
class TimedParsed(Parsed):
    """A parse with the seconds it took in its parsing process: the only way a duration measured
    there comes back (for `govreport_parse_seconds`)."""

    seconds: float = 0.0


def parse_timed(job: ParseJob) -> Parsed:
    """`parse_job`, timed where it runs: the pipeline's parsing processes run this one."""
    started = time.perf_counter()
    parsed = parse_job(job)
    return TimedParsed(parsed.result, parsed.evidence, time.perf_counter() - started)


def failed_job(job: ParseJob, reason: FailureReason, message: str) -> Parsed:
    """A job that ends as a failure without a parse (too large, crashed its process, dead-lettered)."""
    source = Source(filename=job.filename, sha256=job.sha256, bytes=job.size)
    return Parsed(failed(source, reason, message), {})


def outcome(file: FileData, result: ParseResult, evidence: Mapping[str, Where] | None = None) -> Outcome:
    """What to store for a file's result: the bytes, where the file arrived, the numbers' evidence."""
    arrival = Arrival(file.path, file.size, file.mtime) if file.path else None
    return Outcome(result, file.data, arrival, evidence_json(evidence or {}))


def parse_path(path: Path, *, max_bytes: int) -> Parsed:
    """Parse one file. Raises FileUnreadable only when the path gives no bytes at all."""
    started = time.perf_counter()
    try:
        file = read_given(path, max_bytes)
    except OSError as error:
        raise FileUnreadable(f"{path}: {error.strerror or error}") from error
    parsed = parse_job(job_for(file, max_bytes))
    log_result(parsed.result, time.perf_counter() - started)
    return parsed


def timed(job: ParseJob) -> Parsed:
    """Parse a job and log its one summary line (for callers that log per file, like `ingest`)."""
    started = time.perf_counter()
    parsed = parse_job(job)
    log_result(parsed.result, time.perf_counter() - started)
    return parsed


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


def log_stored(file: FileData, result: ParseResult, saved: Saved, seconds: float) -> None:
    """The line that says a file's outcome is stored (or was stored before)."""
    since_close = (time.time_ns() - file.mtime_ns) / 1e6 if file.mtime_ns else None
    log_pipeline.info(
        "report.stored" if saved.created else "report.duplicate",
        sha256=result.source.sha256,
        filename=file.filename,
        status=result.status.value,
        reason=result.failure.reason.value if result.failure else None,
        template=result.template,
        report_id=saved.report_id,
        event_id=saved.event_id,
        duration_ms=round(seconds * 1000, 3),
        since_close_ms=round(since_close, 1) if since_close is not None else None,
    )
