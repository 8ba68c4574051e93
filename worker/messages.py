"""Files on the broker: a read file as a persistent AMQP message (bytes in the body, identity in the
headers), and back. A file too big for one message travels by claim check: its bytes are held in
`worker.claims` and the message carries their SHA-256 in the `claim` header, with no body. Result
events become messages in `worker.events`."""

import dataclasses
import hashlib
import re
import time
from collections.abc import Sequence
from typing import Any

import pika.exceptions
from pika.spec import BasicProperties

from worker.adapters.broker import APP_ID, FILE_ROUTING_KEY, PERSISTENT, Delivery, Message, Topology
from worker.adapters.store import Store
from worker.claims import Claims, missing_claim
from worker.core.parse import Parsed
from worker.files import FileData

# RabbitMQ 4 refuses bodies over 16 MiB by default (max_message_size); headers need a little room.
MESSAGE_LIMIT = 16 * 1024 * 1024 - 64 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
# RabbitMQ's words when a body is over max_message_size (a channel error, 406 PRECONDITION_FAILED).
_TOO_BIG = re.compile(r"message size \d+ is larger than (?:configured )?max size (\d+)")


def file_message(topology: Topology, file: FileData, *, claimed: bool = False) -> Message:
    """The persistent message for a file, its SHA-256 as message id: the bytes as body, or no body
    when over the size limit or `claimed` (the bytes are held in the claims table)."""
    headers: dict[str, Any] = {
        "filename": file.filename,
        "path": file.path,
        "size": file.size,
        "mtime_ns": file.mtime_ns,
        "sha256": file.sha256,
        "too_large": file.too_large,
    }
    if claimed and not file.too_large:
        headers["claim"] = file.sha256
    properties = BasicProperties(
        delivery_mode=PERSISTENT,
        content_type="application/octet-stream",
        message_id=file.sha256,
        timestamp=int(time.time()),
        app_id=APP_ID,
        headers=headers,
    )
    body = b"" if claimed else file.data or b""
    return Message(topology.files, FILE_ROUTING_KEY, body, properties)


def refused_size(error: BaseException) -> int | None:
    """The broker's message size limit, when `error` (or an error it was raised from) is the
    broker's refusal of a message over it; else None."""
    seen: BaseException | None = error
    while seen is not None:
        text = seen.reply_text if isinstance(seen, pika.exceptions.ChannelClosedByBroker) else str(seen)
        if found := _TOO_BIG.search(str(text)):
            return int(found.group(1))
        seen = seen.__cause__
    return None


def read_file_messages(deliveries: Sequence[Delivery], store: Store) -> list[tuple[FileData, Parsed | None]]:
    """The files a batch of deliveries carries, a claimed file's bytes read from the claims table
    (one query). Beside each file, its outcome when it is known without a parse: a file whose claim
    is gone can never be read again and comes back without bytes, with its `unreadable` failure."""
    files = [read_file_message(d) for d in deliveries]
    wanted = {ref for d in deliveries if (ref := claim_of(d)) is not None}
    held = Claims(store).fetch(wanted) if wanted else {}
    resolved: list[tuple[FileData, Parsed | None]] = []
    for delivery, file in zip(deliveries, files, strict=True):
        ref = claim_of(delivery)
        if ref is None:
            resolved.append((file, None))
        elif ref in held:
            resolved.append((dataclasses.replace(file, sha256=ref, data=held[ref]), None))
        else:
            resolved.append((file, missing_claim(file)))
    return resolved


def claim_of(delivery: Delivery) -> str | None:
    """The SHA-256 of the held bytes a delivery refers to, when its file travels by claim check."""
    ref = _text(delivery.headers.get("claim"))
    return ref if ref is not None and _SHA256.fullmatch(ref) else None


def read_file_message(delivery: Delivery) -> FileData:
    """The file a delivery carries (a claimed file without its bytes: see `read_file_messages`).
    Never raises: missing or malformed headers (a foreign publisher) get safe defaults, so even a
    malformed message can be stored as a failure."""
    headers = delivery.headers
    claim = claim_of(delivery)
    sha256 = _text(headers.get("sha256")) or ""
    return FileData(
        filename=_text(headers.get("filename")) or "unnamed",
        path=_text(headers.get("path")) or "",
        size=_int(headers.get("size"), len(delivery.body)),
        mtime_ns=_int(headers.get("mtime_ns"), 0),
        sha256=claim or (sha256 if _SHA256.fullmatch(sha256) else hashlib.sha256(delivery.body).hexdigest()),
        data=None if headers.get("too_large") is True or claim else delivery.body,
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
