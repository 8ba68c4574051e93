"""Files on the broker: a read file as a persistent AMQP message (bytes in the body, identity in the
headers), and back. Result events become messages in `worker.events`."""

import hashlib
import re
import time
from typing import Any

from pika.spec import BasicProperties

from worker.adapters.broker import APP_ID, FILE_ROUTING_KEY, PERSISTENT, Delivery, Message, Topology
from worker.files import FileData

_SHA256 = re.compile(r"[0-9a-f]{64}")


def file_message(topology: Topology, file: FileData) -> Message:
    """The persistent message for a file, its SHA-256 as message id (no body when over the limit)."""
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
    return Message(topology.files, FILE_ROUTING_KEY, file.data or b"", properties)


def read_file_message(delivery: Delivery) -> FileData:
    """The file a delivery carries. Never raises: missing or malformed headers (a foreign
    publisher) get safe defaults, so even a malformed message can be stored as a failure."""
    headers = delivery.headers
    sha256 = _text(headers.get("sha256")) or ""
    return FileData(
        filename=_text(headers.get("filename")) or "unnamed",
        path=_text(headers.get("path")) or "",
        size=_int(headers.get("size"), len(delivery.body)),
        mtime_ns=_int(headers.get("mtime_ns"), 0),
        sha256=sha256 if _SHA256.fullmatch(sha256) else hashlib.sha256(delivery.body).hexdigest(),
        data=None if headers.get("too_large") is True else delivery.body,
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
