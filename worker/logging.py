"""The one place that configures logging: structlog JSON lines on stderr, stdlib records too.

Secrets never reach a log line: URLs with credentials are masked in every value, and tracebacks
are rendered without local variables.
"""

import logging
import re
import sys
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor

_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]*)@")
# A password can also travel as a parameter: `?password=` in a URL's query (psycopg and pika read it
# there), or `password=` in a libpq conninfo string.
_PARAMETER = re.compile(r"(?i)(?P<key>\b(?:password|passwd|pwd|sslpassword)\s*=\s*)(?P<value>'[^']*'|[^&\s;,'\"]+)")
# Libraries narrate at INFO (pika: ~20 lines with object reprs per connection) and DEBUG (thousands of
# lines a second): only their warnings matter unless someone asks.
LIBRARY_LOGGERS = ("pika", "watchdog", "alembic", "sqlalchemy", "urllib3", "asyncio", "tenacity")


def mask_secrets(text: str) -> str:
    """Replace every password in a text with `***`: of `scheme://user:password@host`, and of a
    `password=` parameter (URL query or conninfo)."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _PARAMETER.sub(lambda m: f"{m['key']}***", text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    return value


def _mask_processor(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    return {key: _mask(value) for key, value in event_dict.items()}


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str = "INFO", library_level: str = "WARNING") -> None:
    """JSON lines with timestamp, level and event on stderr, for structlog and stdlib loggers; the
    libraries' own loggers at `library_level` (and never below `level`)."""
    final: list[Processor] = [
        structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
        _mask_processor,
        structlog.processors.JSONRenderer(ensure_ascii=False),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet = max(logging.getLevelName(library_level.upper()), root.level)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
