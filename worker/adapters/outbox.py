"""The outbox's relay side and the watcher's memory of handed-over files.

Raises:
    DatabaseUnavailable: when the database cannot be reached.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from worker.adapters.store import HANDOVERS, OUTBOX, Store
from worker.models import utcnow

_OUTBOX_BATCH = 100


class Outbox:
    """The relay's side of the outbox: pending events, published, then marked."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def publish_pending(self, publish: Callable[["list[PendingRow]"], None], limit: int = _OUTBOX_BATCH) -> int:
        """Hand the oldest pending events to `publish` and mark them sent in the same transaction;
        if `publish` raises, nothing is marked. On PostgreSQL rows another relay holds are skipped."""
        query = (
            sa.select(OUTBOX.c.id, OUTBOX.c.routing_key, OUTBOX.c.body, OUTBOX.c.created_at)
            .where(OUTBOX.c.published_at.is_(None))
            .order_by(OUTBOX.c.created_at, OUTBOX.c.id)
            .limit(limit)
        )
        if self.store.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        with self.store.begin() as connection:
            rows = [PendingRow(*row) for row in connection.execute(query)]
            if not rows:
                return 0
            publish(rows)
            connection.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id.in_([r.id for r in rows]))
                .values(published_at=utcnow(), attempts=OUTBOX.c.attempts + 1)
            )
        return len(rows)

    def pending(self) -> int:
        """How many events wait to be published."""
        with self.store.begin() as connection:
            count: int = connection.execute(
                sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
            ).scalar_one()
            return count


@dataclass(frozen=True, slots=True)
class PendingRow:
    """One outbox row waiting to be published."""

    id: str
    routing_key: str
    body: str
    created_at: datetime


class Handovers:
    """Files the broker confirmed, so the watcher never publishes them again."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, files: Sequence[tuple[str, int, int, str]]) -> None:
        """Remember (path, size, mtime_ns, sha256) of files the broker confirmed."""
        if not files:
            return
        now = utcnow()
        rows = [{"path": p, "size": s, "mtime_ns": m, "sha256": h, "handed_over_at": now} for p, s, m, h in files]
        insert = self.store._insert(HANDOVERS).on_conflict_do_nothing(index_elements=["path", "size", "mtime_ns"])
        with self.store.begin() as connection:
            connection.execute(insert, rows)

    def seen(self, path: str, size: int, mtime_ns: int) -> bool:
        """Whether this file (path, size and mtime) was handed over before."""
        with self.store.begin() as connection:
            found = connection.execute(
                sa.select(HANDOVERS.c.id).where(
                    HANDOVERS.c.path == path, HANDOVERS.c.size == size, HANDOVERS.c.mtime_ns == mtime_ns
                )
            ).first()
            return found is not None
