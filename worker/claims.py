"""The claim check: the bytes of a file too big for one broker message, held in the `claims` table.

The watcher stores a file's claim (keyed by its SHA-256) before it publishes the file's message,
which then carries the reference instead of the bytes; a consumer fetches the bytes back. Claims
are pruned once their report is stored (after a grace period, for redeliveries still in flight),
and any claim past a maximum age, whose message was never consumed, goes too: that message then
ends as a stored `unreadable` failure saying so.

Raises:
    DatabaseUnavailable: when the database cannot be reached.
"""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

from worker.adapters.store import REPORTS, Store
from worker.core.parse import Parsed
from worker.core.result import FailureReason
from worker.files import FileData
from worker.jobs import failed_job, job_for
from worker.models import utcnow

log = structlog.get_logger("worker.claims")
CLAIMS = SQLModel.metadata.tables["claims"]
CLAIM_GRACE = timedelta(hours=1)
CLAIM_MAX_AGE = timedelta(days=7)


class Claims:
    """Files' bytes held in the database for messages that carry only their SHA-256."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def put(self, files: Sequence[FileData]) -> None:
        """Hold the bytes of files, in one transaction, before their messages are published. A
        claim held already is kept (the same SHA-256 is the same bytes) and its age starts again,
        so a file published again is not pruned under its new message."""
        now = utcnow()
        # One row per content: PostgreSQL refuses to update a row twice in one statement.
        held = {f.sha256: f for f in files if f.data is not None}
        rows = [{"sha256": sha, "data": f.data, "size": f.size, "created_at": now} for sha, f in held.items()]
        if not rows:
            return
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        insert = dialect.insert(CLAIMS)
        statement = insert.on_conflict_do_update(
            index_elements=["sha256"], set_={"created_at": insert.excluded.created_at}
        )
        with self.store.begin() as connection:
            connection.execute(statement, rows)

    def fetch(self, sha256s: Collection[str]) -> dict[str, bytes]:
        """The held bytes of these SHA-256s (those not held are absent from the answer)."""
        if not sha256s:
            return {}
        with self.store.begin() as connection:
            rows = connection.execute(
                sa.select(CLAIMS.c.sha256, CLAIMS.c.data).where(CLAIMS.c.sha256.in_(list(sha256s)))
            )
            return {sha256: bytes(data) for sha256, data in rows}


def missing_claim(file: FileData) -> Parsed:
    """The outcome of a file whose claim is gone: its bytes can never be read again, so it ends as an
    `unreadable` failure saying why, stored by the caller like any parse's outcome (one report, one
    event, one `report.stored` line)."""
    log.warning("claim.missing", sha256=file.sha256, filename=file.filename, size=file.size)
    why = (
        "the file was too big for one broker message, and its bytes (claim check) were gone from the "
        "claims table when a consumer took it: it waited longer than GOVREPORT_CLAIM_MAX_DAYS, or its "
        "publisher did not store them"
    )
    return failed_job(job_for(file, 0), FailureReason.UNREADABLE, why)


def prune_claims(
    store: Store, *, grace: timedelta = CLAIM_GRACE, max_age: timedelta = CLAIM_MAX_AGE, now: datetime | None = None
) -> int:
    """Delete claims whose report is stored and that are older than `grace`, and every claim older
    than `max_age`; how many were deleted."""
    now = now or utcnow()
    stored = sa.exists().where(REPORTS.c.sha256 == CLAIMS.c.sha256)
    delete = CLAIMS.delete().where(
        sa.or_(CLAIMS.c.created_at < now - max_age, sa.and_(CLAIMS.c.created_at < now - grace, stored))
    )
    with store.begin() as connection:
        return int(connection.execute(delete).rowcount)
