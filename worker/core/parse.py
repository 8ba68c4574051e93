"""Orchestration of the pure stages: decode → normalise → cells → align → checks → result."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from worker.core.align import Alignment, align
from worker.core.cells import Kind, Line, Token, text_to_rows, tokenize_rows
from worker.core.checks import check_cells, check_template_year
from worker.core.decode import decode
from worker.core.errors import ReportFailure
from worker.core.forms import Template, amount_keys
from worker.core.html import html_to_rows, looks_like_html
from worker.core.meta import extract_meta
from worker.core.narrative import check_narrative
from worker.core.normalize import Normalized, normalize
from worker.core.result import (
    CellValue,
    Code,
    Failure,
    FailureReason,
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
# Shortest single-cell line taken for prose by the narrative check.
_PROSE_MIN = 12

ErrorHook = Callable[[BaseException], None]


@dataclass(frozen=True, slots=True)
class _Document:
    """A decoded, normalised document as lines of tokens and lines of plain text."""

    normalized: Normalized
    lines: list[Line]
    plain: list[str]


def parse_bytes(
    data: bytes,
    filename: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_error: ErrorHook | None = None,
) -> ParseResult:
    """Parse one file's bytes into the spec's result. Never raises: a bug becomes a failed
    `internal_error` result, and `on_error` receives the exception so the caller can log it."""
    source = Source(filename=_printable(filename), sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    if len(data) > max_bytes:
        return failed(source, FailureReason.TOO_LARGE, f"{len(data)} bytes is over the limit of {max_bytes}")
    try:
        return _parse(data, source)
    except ReportFailure as failure:
        return failed(source, failure.reason, failure.message)
    except Exception as error:  # noqa: BLE001 - the promise is a result for every file
        if on_error is not None:
            on_error(error)
        return failed(source, FailureReason.INTERNAL_ERROR, f"internal error: {type(error).__name__}: {error}")


def _printable(filename: str) -> str:
    # A name that was not UTF-8 on disk arrives with lone surrogates, which JSON cannot carry.
    return filename.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def failed(source: Source, reason: FailureReason, message: str, meta: Meta | None = None) -> ParseResult:
    """A failed result: no template, no cells, the reason and a message for people."""
    return ParseResult(
        source=source, status=Status.FAILED, failure=Failure(reason=reason, message=message), meta=meta or Meta()
    )


def _parse(data: bytes, source: Source) -> ParseResult:
    decoded = decode(data)
    document = _read(decoded.text)
    source = source.model_copy(update={"encoding": decoded.encoding, "script": document.normalized.script})
    text = document.normalized.text
    meta = extract_meta(document.plain)
    template = detect_template(text, meta.year)
    alignment = align(template, document.lines)
    if not alignment.tables_found:
        unfound = _without_tables(source, meta, text)
        if unfound is not None:
            return unfound
    cells, unit_issues = _cells(template, alignment)
    issues = check_cells(template, cells, alignment.tables_found)
    issues += check_template_year(template, meta.year)
    issues += unit_issues
    issues += check_narrative(_prose(document.plain), cells)
    status = Status.INVALID if any(i.severity == "error" for i in issues) else Status.VALID
    return ParseResult(source=source, status=status, template=template, meta=meta, cells=cells, issues=issues)


def _read(text: str) -> _Document:
    if looks_like_html(text):
        # Parse the markup before normalising: width folding can turn a full-width `＜` into a tag.
        rows = html_to_rows(text)
        normalized = normalize("\n".join("\t".join(row) for row in rows))
        rows = [line.split("\t") for line in normalized.text.split("\n")]
    else:
        normalized = normalize(text)
        rows = text_to_rows(normalized.text)
    plain = [row[0].strip() if len(row) == 1 else " ".join(c for c in map(str.strip, row) if c) for row in rows]
    return _Document(normalized, tokenize_rows(rows), [p for p in plain if p])


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
    amounts = set(amount_keys(template))
    cells: dict[str, CellValue] = {}
    issues: list[Issue] = []
    for key, token in alignment.cells.items():
        if token is None or token.kind != Kind.NUMBER or token.value is None:
            cells[key] = None
        elif key in amounts:
            value, issue = _amount(key, token, alignment)
            cells[key] = value
            issues += issue
        else:
            # A count printed with a fraction is not a count the form can have: unreadable, null.
            cells[key] = int(token.value) if token.value == token.value.to_integral_value() else None
    return cells, issues


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


__all__ = ["DEFAULT_MAX_BYTES", "ErrorHook", "Token", "failed", "parse_bytes"]
