"""The error tree outside the pure core. Permanent errors are properties of a file (store the
failure, never retry); transient ones are properties of the moment (back off and retry)."""


class GovReportError(Exception):
    """Root of every error govreport raises on purpose."""


class PermanentError(GovReportError):
    """The input is bad; retrying cannot help."""


class TransientError(GovReportError):
    """A server or resource is unavailable for now; retrying later can help."""


class ConfigurationError(PermanentError):
    """Raised when a setting cannot work (a URL that cannot be parsed, credentials or access refused):
    a long-running command stops at once with one line, since retrying cannot help."""


class FileUnreadable(PermanentError):
    """Raised when a path cannot be read at all (missing, a directory, no permission)."""
