"""Errors of the pure core: each one is a permanent property of the file, never worth a retry."""

from worker.core.result import FailureReason


class ReportFailure(Exception):
    """The file cannot give cells; carries the spec's failure reason and a message for people."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class DecodeFailure(ReportFailure):
    """Raised when the bytes are empty or no encoding reads them as text."""
