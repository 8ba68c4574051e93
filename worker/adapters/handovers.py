"""The watcher's memory of handed-over files (the `handovers` table), so a restart never publishes
a file the broker already confirmed.

Rows are pruned by age (`prune`). A file still in the inbox whose row was pruned is published again
at the next start-up (or when the watcher has forgotten it): its content is known by its SHA-256,
so the consumer stores nothing twice and announces nothing twice (a new path or mtime only adds a
sighting); the cost is reading, publishing and parsing it once more.

Raises:
    DatabaseUnavailable: when the database cannot be reached.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from worker.adapters.store import HANDOVERS, Store
from worker.models import utcnow

HANDOVER_MAX_AGE = timedelta(days=30)
# Rows deleted per transaction: short ones, so the watcher's own writes never wait long.
_PRUNE_CHUNK = 10_000


class Handovers:
    """Files the broker confirmed, so the watcher never publishes them again."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, files: Sequence[tuple[str, int, int, str]]) -> None:
        """Remember (path, size, mtime_ns, sha256) of files the broker confirmed."""
        now = utcnow()
        rows = [{"path": p, "size": s, "mtime_ns": m, "sha256": h, "handed_over_at": now} for p, s, m, h in files]
        self.store.insert_new(HANDOVERS, rows, ["path", "size", "mtime_ns"])

    def seen(self, path: str, size: int, mtime_ns: int) -> bool:
        """Whether this file (path, size and mtime) was handed over before."""
        with self.store.begin() as connection:
            found = connection.execute(
                sa.select(HANDOVERS.c.id).where(
                    HANDOVERS.c.path == path, HANDOVERS.c.size == size, HANDOVERS.c.mtime_ns == mtime_ns
                )
            ).first()
            return found is not None

    def prune(self, max_age: timedelta = HANDOVER_MAX_AGE, *, now: datetime | None = None) -> int:
        """Forget files handed over more than `max_age` ago; how many rows were deleted."""
        cutoff = (now or utcnow()) - max_age
        deleted = 0
        while True:
            oldest = (
                sa.select(HANDOVERS.c.id)
                .where(HANDOVERS.c.handed_over_at < cutoff)
                .order_by(HANDOVERS.c.id)
                .limit(_PRUNE_CHUNK)
            )
            with self.store.begin() as connection:
                count = int(connection.execute(HANDOVERS.delete().where(HANDOVERS.c.id.in_(oldest))).rowcount)
            deleted += count
            if count < _PRUNE_CHUNK:
                return deleted
