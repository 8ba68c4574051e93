"""Orchestration of the pure stages: sniff → read (decode or a document reader) → normalise →
cells → align → checks → result. Every format meets the same labels, template, meta and checks."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from worker.core.align import Alignment, align, explain_missing
from worker.core.cells import Kind, Line, LineWhere, Token, text_to_numbered_rows, tokenize_lines, tokenize_placed
from worker.core.checks import check_cells, check_template_year
from worker.core.decode import decode
from worker.core.document import Extracted, Limits, Where
from worker.core.errors import ReportFailure
from worker.core.forms import Template, amount_keys
from worker.core.html import html_to_extracted, looks_like_html
from worker.core.layout import read_space_aligned
from worker.core.meta import extract_meta
from worker.core.narrative import check_narrative
from worker.core.normalize import Normalized, normalize
from worker.core.readers.sniff import sniff
from worker.core.result import (
    CellValue,
    Code,
    Failure,
    FailureReason,
    Format,
    Issue,
    Meta,
    ParseResult,
    Source,
    Status,
    make_issue,
)
from worker.core.template import detect_template, looks_like_report, prints_form, prints_old_form

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_TEN_THOUSAND = Decimal(10000)
_NUMBER = Kind.NUMBER  # a module constant: looking a member up on its enum costs more than comparing
# Shortest single-cell line taken for prose by the narrative check.
_PROSE_MIN = 12
# Word-processor formats read by converting them to docx first (LibreOffice, outside the core).
CONVERTED = frozenset((Format.DOC, Format.WPS, Format.RTF, Format.ODT))
_SHEETS = frozenset((Format.XLSX, Format.XLS, Format.ODS))

ErrorHook = Callable[[BaseException], None]
# Turns a doc/wps/rtf/odt document into docx bytes, or raises ReportFailure (an adapter's job).
Converter = Callable[[bytes, Format], bytes]


@dataclass(frozen=True, slots=True)
class _Document:
    """A read, normalised document: lines of tokens with their evidence, and lines of plain text."""

    normalized: Normalized
    lines: list[Line]
    where: list[LineWhere]
    plain: list[str]


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parse result and where each of its numbers was read (cell key → evidence)."""

    result: ParseResult
    evidence: dict[str, Where]


def parse_bytes(
    data: bytes,
    filename: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_error: ErrorHook | None = None,
    convert: Converter | None = None,
    limits: Limits | None = None,
) -> ParseResult:
    """Parse one file's bytes into the spec's result. Never raises: a bug becomes a failed
    `internal_error` result, and `on_error` receives the exception so the caller can log it."""
    return parse_document(data, filename, max_bytes=max_bytes, on_error=on_error, convert=convert, limits=limits).result


def parse_document(
    data: bytes,
    filename: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_error: ErrorHook | None = None,
    convert: Converter | None = None,
    limits: Limits | None = None,
) -> Parsed:
    """`parse_bytes` with the evidence of every number. `convert` reads doc/wps/rtf/odt (without
    it they fail as `unsupported_format`); `limits` bounds what one document may cost."""
    source = Source(filename=_printable(filename), sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    if len(data) > max_bytes:
        return Parsed(too_large(source, max_bytes), {})
    try:
        return _parse(data, source, convert, limits or Limits())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - the promise is a result for every file; a Rust panic is a BaseException
        if on_error is not None:
            on_error(error)
        return Parsed(
            failed(source, FailureReason.INTERNAL_ERROR, f"internal error: {type(error).__name__}: {error}"), {}
        )


def _printable(filename: str) -> str:
    # A name that was not UTF-8 on disk arrives with lone surrogates, which JSON cannot carry.
    return filename.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def too_large(source: Source, limit: int) -> ParseResult:
    """The failure of a file over the size limit (its bytes are never parsed, nor always read)."""
    return failed(source, FailureReason.TOO_LARGE, f"{source.bytes} bytes is over the limit of {limit}")


def failed(source: Source, reason: FailureReason, message: str, meta: Meta | None = None) -> ParseResult:
    """A failed result: no template, no cells, the reason and a message for people."""
    return ParseResult(
        source=source, status=Status.FAILED, failure=Failure(reason=reason, message=message), meta=meta or Meta()
    )


def _parse(data: bytes, source: Source, convert: Converter | None, limits: Limits) -> Parsed:
    try:
        fmt = sniff(data)
        if fmt is not None:
            source = source.model_copy(update={"format": fmt})
        source, document = _read(data, fmt, source, convert, limits)
    except ReportFailure as failure:
        return Parsed(failed(source, failure.reason, failure.message), {})
    text = document.normalized.text
    meta = extract_meta(document.plain)
    template = detect_template(text, meta.year)
    alignment = align(template, document.lines, document.where)
    if not alignment.tables_found:
        unfound = _without_tables(source, meta, text)
        if unfound is not None:
            return Parsed(unfound, {})
    cells, unit_issues = _cells(template, alignment)
    issues = explain_missing(check_cells(template, cells, alignment.tables_found), alignment)
    issues += check_template_year(template, meta.year)
    issues += unit_issues
    issues += check_narrative(_prose(document.plain), cells)
    status = Status.INVALID if any(i.severity == "error" for i in issues) else Status.VALID
    result = ParseResult(source=source, status=status, template=template, meta=meta, cells=cells, issues=issues)
    evidence = {key: where for key, where in alignment.where.items() if cells.get(key) is not None}
    return Parsed(result, evidence)


def _read(
    data: bytes, fmt: Format | None, source: Source, convert: Converter | None, limits: Limits
) -> tuple[Source, _Document]:
    """The document's lines, and its source completed with format, pages, encoding and script."""
    if fmt is None:
        decoded = decode(data)
        html = looks_like_html(decoded.text)
        document = _read_html(decoded.text) if html else _read_text(decoded.text)
        updates = {"format": Format.HTML if html else Format.TEXT, "encoding": decoded.encoding}
        return source.model_copy(update={**updates, "script": document.normalized.script}), document
    extracted = _extract(data, fmt, convert, limits)
    document = _from_extracted(extracted)
    return source.model_copy(update={"pages": extracted.pages, "script": document.normalized.script}), document


def _extract(data: bytes, fmt: Format, convert: Converter | None, limits: Limits) -> Extracted:
    # Readers are imported when a document needs them: PDFium and calamine load native libraries
    # that text reports (and every CLI start) can do without.
    if fmt == Format.PDF:
        from worker.core.readers.pdf import read_pdf

        return read_pdf(data, limits)
    if fmt in _SHEETS:
        from worker.core.readers.sheets import read_sheets

        return read_sheets(data, limits)
    if fmt in CONVERTED:
        if convert is None:
            raise ReportFailure(
                FailureReason.UNSUPPORTED_FORMAT,
                f"a .{fmt.value} document is read through LibreOffice, which this installation lacks: "
                "apt-get install libreoffice-writer-nogui",
            )
        data = convert(data, fmt)
    from worker.core.readers.docx import read_docx

    return read_docx(data, limits)


def _read_text(text: str) -> _Document:
    normalized = normalize(text)
    # Space-aligned text is read by its columns, measured in the text as decoded.
    rows, numbers = read_space_aligned(text, normalized.text) or text_to_numbered_rows(normalized.text)
    lines, placed = tokenize_lines(rows, [_line(number) for number in numbers])
    return _Document(normalized, lines, placed, _plain(rows))


@lru_cache(maxsize=65536)
def _line(number: int) -> Where:
    # Evidence is frozen and compared by value: one `Where` per line number serves every document.
    return Where(line=number)


def _read_html(text: str) -> _Document:
    # Parse the markup before normalising: width folding can turn a full-width `＜` into a tag.
    return _from_extracted(html_to_extracted(text))


def _from_extracted(extracted: Extracted) -> _Document:
    """Normalise a reader's cells in one OpenCC call for the whole document, keeping the grid."""
    kept = [(row, where) for row, where in zip(extracted.rows, extracted.where, strict=True) if row]
    cells = [row for row, _ in kept]
    normalized = normalize(_one_line_rows(cells))
    rows = [line.split("\t") for line in normalized.text.split("\n")] if kept else []
    # The lengths of the lines and of their rows compared in C: a generator per row costs more.
    if list(map(len, rows)) != list(map(len, cells)):
        # Normalising changed the grid's separators (it never should): fold each cell alone instead.
        rows = [[normalize(cell).text.replace("\t", " ").replace("\n", " ") for cell in row] for row in cells]
    return _document(normalized, rows, [where for _, where in kept])


def _one_line_rows(rows: list[list[str]]) -> str:
    """Rows one a line, each `_one_line_row`."""
    text = "\n".join(map("\t".join, rows))
    # As many tabs and line breaks as the rows put there, and no `\r`: no cell holds one, and each
    # row is its cells joined (each row has at least as many as it puts there, so the totals tell).
    if "\r" not in text and text.count("\n") == len(rows) - 1 and text.count("\t") == sum(map(len, rows)) - len(rows):
        return text
    return "\n".join([_one_line_row(row) for row in rows])


def _one_line_row(row: list[str]) -> str:
    """A row's cells apart by tabs, each cell one line (`_one_line`)."""
    line = "\t".join(row)
    # Tabs only between the cells, no line break in any: every cell was one line already.
    if line.count("\t") == len(row) - 1 and "\n" not in line and "\r" not in line:
        return line
    return "\t".join(map(_one_line, row))


def _one_line(cell: str) -> str:
    """A cell's tabs and line breaks as spaces, so that it stays one cell of one line."""
    if "\t" in cell or "\n" in cell or "\r" in cell:
        return cell.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return cell


def _document(normalized: Normalized, rows: list[list[str]], where: list[list[Where | None]]) -> _Document:
    lines, placed = tokenize_placed(rows, where)
    return _Document(normalized, lines, placed, _plain(rows))


def _plain(rows: list[list[str]]) -> list[str]:
    """Each line's text, its cells apart by a space; empty lines left out."""
    plain = [row[0].strip() if len(row) == 1 else " ".join(filter(None, map(str.strip, row))) for row in rows]
    return [p for p in plain if p]


def _without_tables(source: Source, meta: Meta, text: str) -> ParseResult | None:
    """Failed results for texts with none of the tables; None for a report that lost them all."""
    if _is_json(text):
        return failed(source, FailureReason.NOT_A_REPORT, "a JSON document, not a report")
    if looks_like_report(text, meta.title is not None) or prints_form(text):
        old_year = meta.year is not None and meta.year <= 2018
        if prints_old_form(text) or (old_year and not prints_form(text)):
            return failed(
                source,
                FailureReason.UNSUPPORTED_TEMPLATE,
                "an annual report in the pre-2019 format (统计表), which has none of the 2019/2021 tables",
                meta,
            )
        return None
    return failed(
        source, FailureReason.NOT_A_REPORT, "the text is not a government information-disclosure annual report"
    )


def _is_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[" or stripped[-1] not in "}]":
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


def _cells(template: Template, alignment: Alignment) -> tuple[dict[str, CellValue], list[Issue]]:
    amounts = _amounts(template)
    cells: dict[str, CellValue] = {}
    issues: list[Issue] = []
    for key, token in alignment.cells.items():
        if token is None or token.kind != _NUMBER or token.value is None:
            cells[key] = None
        elif key in amounts:
            value, issue = _amount(key, token, alignment)
            cells[key] = value
            issues += issue
        else:
            # A count printed with a fraction is not a count the form can have: unreadable, null.
            cells[key] = token.count
    return cells, issues


@lru_cache(maxsize=2)
def _amounts(template: Template) -> frozenset[str]:
    return frozenset(amount_keys(template))


def _amount(key: str, token: Token, alignment: Alignment) -> tuple[float, list[Issue]]:
    """Amounts are in 万元: as printed when the unit is 万/万元, converted when it is 元."""
    if token.value is None:
        return 0.0, []
    unit = token.unit or _unit_in(alignment.row_context(key.rsplit(".", 1)[0]))
    value = token.value / _TEN_THOUSAND if unit == "元" else token.value
    if unit is None:
        return float(value), [make_issue(Code.W_UNIT_UNSTATED, [key], f"{key} is printed without a unit; read as 万元")]
    return float(value), []


def _unit_in(context: tuple[str, ...]) -> str | None:
    text = "".join(context)
    if "万" in text:
        return "万"
    return "元" if "元" in text else None


def _prose(plain: list[str]) -> str:
    return "\n".join(line for line in plain if len(line) >= _PROSE_MIN)


__all__ = [
    "CONVERTED",
    "DEFAULT_MAX_BYTES",
    "Converter",
    "ErrorHook",
    "Parsed",
    "Token",
    "failed",
    "parse_bytes",
    "parse_document",
    "too_large",
]
