"""The parse result of spec §3: the one document that is printed, stored and carried in events."""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from worker.core.forms import Template

SCHEMA_VERSION: Literal[1] = 1


class Status(StrEnum):
    """The outcome of one file."""

    VALID = "valid"
    INVALID = "invalid"
    FAILED = "failed"


class FailureReason(StrEnum):
    """Why a file gave no cells (spec §3)."""

    EMPTY = "empty"
    UNREADABLE = "unreadable"
    ENCRYPTED = "encrypted"
    UNSUPPORTED_FORMAT = "unsupported_format"
    NO_TEXT = "no_text"
    NOT_A_REPORT = "not_a_report"
    UNSUPPORTED_TEMPLATE = "unsupported_template"
    TOO_LARGE = "too_large"
    INTERNAL_ERROR = "internal_error"


class Format(StrEnum):
    """What a file's bytes are (spec §3 `source.format`), whatever its name says."""

    TEXT = "text"
    HTML = "html"
    PDF = "pdf"
    DOCX = "docx"
    DOC = "doc"
    WPS = "wps"
    XLSX = "xlsx"
    XLS = "xls"
    ODS = "ods"
    ODT = "odt"
    RTF = "rtf"


class Severity(StrEnum):
    """An error makes a report invalid; a warning does not."""

    ERROR = "error"
    WARNING = "warning"


class Code(StrEnum):
    """The stable codes of the checks of spec §4."""

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

    @property
    def severity(self) -> Severity:
        """Errors start with `E_`, warnings with `W_`."""
        return Severity.ERROR if self.value.startswith("E_") else Severity.WARNING


class _Frozen(BaseModel):
    # Every key is always written, so the schema requires every key; NaN/inf are not JSON.
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, json_schema_serialization_defaults_required=True
    )


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
CellValue = int | float | None


class Source(_Frozen):
    """What the file was: its name, content hash, size, format, pages, encoding and script."""

    filename: str
    sha256: Sha256
    bytes: int = Field(ge=0)
    format: Format | None = None
    pages: int | None = Field(default=None, ge=0)
    encoding: str | None = None
    script: Literal["simplified", "traditional"] | None = None


class Failure(_Frozen):
    """Why a file failed, for people and for machines."""

    reason: FailureReason
    message: str


class Meta(_Frozen):
    """Title, issuing organ and report year, in Simplified script."""

    title: str | None = None
    organization: str | None = None
    year: int | None = Field(default=None, ge=1990, le=2200)


class Issue(_Frozen):
    """One finding of a check, with the cells it concerns."""

    code: Code
    severity: Severity
    cells: list[str]
    message: str

    @model_validator(mode="after")
    def _severity_follows_code(self) -> "Issue":
        if self.severity != self.code.severity:
            raise ValueError(f"{self.code.value} is an {self.code.severity.value}, not an {self.severity.value}")
        return self


class ParseResult(_Frozen):
    """The parse result of one file (spec §3)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    source: Source
    status: Status
    failure: Failure | None = None
    template: Template | None = None
    meta: Meta = Meta()
    cells: dict[str, CellValue] = Field(default_factory=dict)
    issues: list[Issue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _failure_iff_failed(self) -> "ParseResult":
        if (self.status == Status.FAILED) != (self.failure is not None):
            raise ValueError("failure is set exactly when status is failed")
        if self.status == Status.FAILED and (self.cells or self.template is not None):
            raise ValueError("a failed result has no template and no cells")
        return self

    def codes(self) -> set[str]:
        """The set of issue codes, for quick checks."""
        return {i.code.value for i in self.issues}


def make_issue(code: Code, cells: list[str], message: str) -> Issue:
    """An issue whose severity follows from its code."""
    return Issue(code=code, severity=code.severity, cells=cells, message=message)
