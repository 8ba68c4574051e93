"""The pure core: bytes in, a parse result out. No I/O library is imported anywhere below here."""

from worker.core.parse import DEFAULT_MAX_BYTES, parse_bytes
from worker.core.result import ParseResult

__all__ = ["DEFAULT_MAX_BYTES", "ParseResult", "parse_bytes"]
