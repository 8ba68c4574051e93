"""The watcher's memory of handed-over files (the `handovers` table), so a restart never publishes
a file the broker already confirmed.

Raises:
    DatabaseUnavailable: when the database cannot be reached.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from worker.adapters.store import HANDOVERS, Store
from worker.models import utcnow


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
