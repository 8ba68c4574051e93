"""The choices the command line validates (`--status`, `--reason`, `--code`, `--format`).

They mirror the core's enums (`worker.core.result`), which the command line cannot import when it
starts: that would load the whole parser for `--help`. A test keeps both in step.
"""

from enum import StrEnum


class StatusChoice(StrEnum):
    """A report's status (worker.core.result.Status)."""

    valid = "valid"
    invalid = "invalid"
    failed = "failed"


class ProblemChoice(StrEnum):
    """The statuses `govreport failures` lists."""

    failed = "failed"
    invalid = "invalid"


class ReasonChoice(StrEnum):
    """Why a file failed (worker.core.result.FailureReason)."""

    empty = "empty"
    unreadable = "unreadable"
    encrypted = "encrypted"
    unsupported_format = "unsupported_format"
    no_text = "no_text"
    not_a_report = "not_a_report"
    unsupported_template = "unsupported_template"
    too_large = "too_large"
    internal_error = "internal_error"


class CodeChoice(StrEnum):
    """A check's code (worker.core.result.Code)."""

    E_IDENTITY = "E_IDENTITY"
    E_ROW_TOTAL = "E_ROW_TOTAL"
    E_RESULTS_TOTAL = "E_RESULTS_TOTAL"
    E_REVIEW_TOTAL = "E_REVIEW_TOTAL"
    E_NEGATIVE = "E_NEGATIVE"
    E_MISSING_TABLE = "E_MISSING_TABLE"
    W_MISSING_CELL = "W_MISSING_CELL"
    W_TEMPLATE_YEAR = "W_TEMPLATE_YEAR"
    W_UNIT_UNSTATED = "W_UNIT_UNSTATED"
    W_NARRATIVE_MISMATCH = "W_NARRATIVE_MISMATCH"
    W_CROSS_YEAR = "W_CROSS_YEAR"


class ExportFormat(StrEnum):
    """The formats of `govreport export`."""

    csv = "csv"
    jsonl = "jsonl"
