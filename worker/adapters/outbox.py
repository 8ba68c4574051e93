"""The outbox's relay side: committed events not yet published, handed out and then marked; and
the pruning of events published long enough ago.

Raises:
    DatabaseUnavailable: when the database cannot be reached.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from worker.adapters.store import OUTBOX, Store
from worker.adapters.versions import aware
from worker.events import PendingRow
from worker.models import utcnow

_OUTBOX_BATCH = 100


class Outbox:
    """The relay's side of the outbox: pending events, published, then marked."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def publish_pending(self, publish: Callable[[list[PendingRow]], None], limit: int = _OUTBOX_BATCH) -> int:
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
            rows = [PendingRow(ident, key, body, aware(at)) for ident, key, body, at in connection.execute(query)]
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


def prune_published(store: Store, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete the outbox rows published more than `older_than` ago; how many were deleted.

    Unpublished rows are never touched. Safe at any time: a published event is never published again,
    and later events of a report have ids of their own (its revision), so no id is ever reused.
    """
    cutoff = (now or utcnow()) - older_than
    with store.begin() as connection:
        deleted = connection.execute(
            OUTBOX.delete().where(OUTBOX.c.published_at.is_not(None), OUTBOX.c.published_at < cutoff)
        )
        return int(deleted.rowcount)
