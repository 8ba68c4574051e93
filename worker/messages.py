"""What travels on the broker: files (bytes + where they came from) and result events."""

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pika.spec import BasicProperties

from worker.adapters.broker import FILE_ROUTING_KEY, Delivery, Message, Topology
from worker.adapters.outbox import PendingRow
from worker.constants import APP_ID, EVENT_CONTENT_TYPE, event_type
from worker.core.result import Status

PERSISTENT = 2
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class FileMessage:
    """A dropped file as carried to consumers, so they need no access to the share."""

    filename: str
    path: str
    size: int
    mtime_ns: int
    sha256: str
    too_large: bool
    body: bytes

    @property
    def mtime(self) -> datetime:
        """The file's modification time (about when it was closed)."""
        return datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)


def file_message(topology: Topology, file: FileMessage) -> Message:
    """The persistent message for a file, its SHA-256 as message id."""
    headers: dict[str, Any] = {
        "filename": file.filename,
        "path": file.path,
        "size": file.size,
        "mtime_ns": file.mtime_ns,
        "sha256": file.sha256,
        "too_large": file.too_large,
    }
    properties = BasicProperties(
        delivery_mode=PERSISTENT,
        content_type="application/octet-stream",
        message_id=file.sha256,
        timestamp=int(time.time()),
        app_id=APP_ID,
        headers=headers,
    )
    return Message(topology.files, FILE_ROUTING_KEY, file.body, properties)


def read_file_message(delivery: Delivery) -> FileMessage:
    """The file a delivery carries. Never raises: missing or malformed headers (a foreign
    publisher) get safe defaults, so even a malformed message can be stored as a failure."""
    headers = delivery.headers
    sha256 = _text(headers.get("sha256")) or ""
    return FileMessage(
        filename=_text(headers.get("filename")) or "unnamed",
        path=_text(headers.get("path")) or "",
        size=_int(headers.get("size"), len(delivery.body)),
        mtime_ns=_int(headers.get("mtime_ns"), 0),
        sha256=sha256 if _SHA256.fullmatch(sha256) else hashlib.sha256(delivery.body).hexdigest(),
        too_large=headers.get("too_large") is True,
        body=delivery.body,
    )


def _int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number >= 0 else default


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def event_message(topology: Topology, event: PendingRow) -> Message:
    """A CloudEvents structured-mode message; AMQP properties mirror the envelope's id and type."""
    properties = BasicProperties(
        delivery_mode=PERSISTENT,
        content_type=EVENT_CONTENT_TYPE,
        content_encoding="utf-8",
        message_id=event.id,
        type=event_type(Status(event.routing_key.removeprefix("report."))),
        timestamp=int(event.created_at.timestamp()),
        app_id=APP_ID,
    )
    # Not mandatory: an event nobody subscribed to yet is not an error of ours.
    return Message(topology.events, event.routing_key, event.body.encode("utf-8"), properties, mandatory=False)
