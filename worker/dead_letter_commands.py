"""`govreport dlq list|replay`: the messages in the dead-letter queue, and sending them back.

A message lands in `<ns>.parse.dlq` when it crashed its consumer on every delivery up to the limit.
A running consumer takes these messages itself and stores each as an `internal_error` failure, so
the queue holds messages only while no consumer runs (or one could not store them). `list` looks
without taking: the messages it reads go back to the queue when its connection closes. `replay`
publishes each message to the files exchange again, confirmed, and only then removes it from the
dead-letter queue: a message is never lost, at worst parsed twice (which stores it once).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pika.spec import BasicProperties

    from worker.adapters.broker import Broker, Topology

# Headers the broker adds when it dead-letters a message: gone when it is published again, so the
# message starts afresh (and `x-delivery-count` does not count the deliveries before).
_DEATH_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-lettered file message as `dlq list` shows it."""

    sha256: str
    filename: str
    path: str
    size: int | None
    reason: str  # why the broker dead-lettered it: delivery_limit, rejected, expired...
    queue: str  # the queue it died in
    died_at: datetime | None

    def line(self) -> str:
        """One line for a person."""
        when = f"{self.died_at:%Y-%m-%d %H:%M:%S} UTC" if self.died_at else "-"
        size = "-" if self.size is None else str(self.size)
        return f"{self.sha256[:12]:12}  {size:>9}  {self.reason:15}  {when:23}  {self.path or self.filename}"


HEADER = f"{'sha256':12}  {'bytes':>9}  {'why':15}  {'dead-lettered':23}  file"


def peek(broker: "Broker", topology: "Topology", limit: int) -> tuple[list[DeadLetter], int]:
    """Up to `limit` dead letters, oldest first, and how many the queue holds; none is taken."""
    depth = broker.depth(topology.dlq)
    if depth is None:
        return [], 0
    seen: list[DeadLetter] = []
    try:
        with broker.translated() as channel:
            while len(seen) < limit:
                method, properties, body = channel.basic_get(topology.dlq, auto_ack=False)
                if method is None:
                    break
                seen.append(dead_letter(properties, body))
    finally:
        broker.close()  # every message read goes back to the queue, unacknowledged
    return seen, max(depth.ready, len(seen))


def replay(
    broker: "Broker", topology: "Topology", limit: int | None, advance: Callable[[int], None] = lambda _n: None
) -> int:
    """Publish up to `limit` dead letters (all, when None) to the files exchange again; each is
    removed from the dead-letter queue once the broker confirmed its copy. Returns how many."""
    from worker.adapters.broker import FILE_ROUTING_KEY, Message

    replayed = 0
    with broker.translated() as channel:
        for method, properties, body in _taken(channel, topology.dlq, limit):
            properties.headers = fresh_headers(properties.headers or {})
            try:
                broker.publish([Message(topology.files, FILE_ROUTING_KEY, body, properties)])
            except BaseException:
                broker.close()  # the message goes back to the dead-letter queue
                raise
            channel.basic_ack(method.delivery_tag)
            replayed += 1
            advance(1)
    return replayed


def _taken(channel: Any, queue: str, limit: int | None) -> Iterator[tuple[Any, "BasicProperties", bytes]]:
    while limit is None or limit > 0:
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return
        yield method, properties, body
        limit = None if limit is None else limit - 1


def fresh_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """A dead letter's headers without what the broker added when it dead-lettered it."""
    return {key: value for key, value in headers.items() if not key.startswith(_DEATH_HEADERS)}


def dead_letter(properties: "BasicProperties", body: bytes) -> DeadLetter:
    """What a dead-lettered file message says about its file and its death."""
    headers: dict[str, Any] = dict(properties.headers or {})
    deaths = headers.get("x-death")
    # One entry per queue and reason it died for, the latest first.
    latest: dict[str, Any] = deaths[0] if isinstance(deaths, list) and deaths else {}
    size = headers.get("size")
    return DeadLetter(
        sha256=str(headers.get("sha256") or properties.message_id or ""),
        filename=_text(headers.get("filename")) or "(no name)",
        path=_text(headers.get("path")),
        size=int(size) if isinstance(size, int) else (len(body) or None),
        reason=_text(headers.get("x-first-death-reason") or latest.get("reason")) or "?",
        queue=_text(headers.get("x-first-death-queue") or latest.get("queue")),
        died_at=_moment(latest.get("time")),
    )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
