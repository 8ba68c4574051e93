"""The watcher's callback: read settled files, publish them with confirms, then remember them.

A file over the broker's message size limit travels by claim check: its bytes are held in the
claims table first, and its message carries their SHA-256. The limit is a setting (RabbitMQ 4's
default, less room for headers); a broker that refuses a message as too big teaches the intake its
real limit, and the batch goes again with claims.
"""

from pathlib import Path

import structlog

from worker import metrics
from worker.adapters.broker import MessageBroker, Topology
from worker.adapters.handovers import Handovers
from worker.adapters.store import Store
from worker.adapters.watch import DroppedFile
from worker.claims import Claims
from worker.files import FileChanged, FileData, inbox_relative, read_file
from worker.messages import MESSAGE_LIMIT, file_message, refused_size

log = structlog.get_logger("worker.pipeline")
# Room left for the headers below a limit learned from the broker (it counts the body only, but a
# frame carries both).
_HEADROOM = 64 * 1024


class Intake:
    """Hands settled files over to the broker; called by the watcher with each settled batch."""

    def __init__(
        self,
        broker: MessageBroker,
        store: Store,
        topology: Topology,
        max_bytes: int,
        *,
        inbox: Path | None = None,
        message_limit: int = MESSAGE_LIMIT,
    ) -> None:
        self.broker = broker
        self.handovers = Handovers(store)
        self.claims = Claims(store)
        self.topology = topology
        self.max_bytes = max_bytes
        self.inbox = inbox  # paths in messages are relative to it (as given when None)
        self.message_limit = message_limit
        self.declared = False

    def __call__(self, files: list[DroppedFile]) -> None:
        """Hand files over; raises (and the watcher retries them) unless the broker confirmed all."""
        if not self.declared:
            self.broker.declare(self.topology)
            self.declared = True
        read = {str(file.path): data for file in files if (data := self._read(file)) is not None}
        self._publish(list(read.values()))
        self.handovers.record([(p, f.size, f.mtime_ns, f.sha256) for p, f in read.items()])
        metrics.FILES_HANDED_OVER.inc(len(read))
        for file in read.values():
            log.info("file.handed_over", sha256=file.sha256, filename=file.filename, size=file.size, path=file.path)

    def is_handed_over(self, file: DroppedFile) -> bool:
        """Whether a previous run handed this file (path, size, mtime) over already."""
        return self.handovers.seen(str(file.path), file.size, file.mtime_ns)

    def _publish(self, files: list[FileData]) -> None:
        """Publish, bytes over the limit by claim; a refusal as too big lowers the limit, once."""
        try:
            self._publish_with_claims(files)
        except Exception as error:
            limit = refused_size(error)
            if limit is None or not self._learn(limit - _HEADROOM, files):
                raise
            self._publish_with_claims(files)

    def _publish_with_claims(self, files: list[FileData]) -> None:
        claimed = [f for f in files if f.data is not None and len(f.data) > self.message_limit]
        # Held before the message exists: a consumer never sees a claim that is not there yet.
        self.claims.put(claimed)
        by_claim = {f.sha256 for f in claimed}
        self.broker.publish([file_message(self.topology, f, claimed=f.sha256 in by_claim) for f in files])
        for file in claimed:
            log.info("file.claimed", sha256=file.sha256, filename=file.filename, size=file.size)

    def _learn(self, limit: int, files: list[FileData]) -> bool:
        """Lower the message limit to what the broker accepts; False when that changes nothing."""
        if limit >= self.message_limit or limit <= 0:
            return False
        changes = any(f.data is not None and limit < len(f.data) <= self.message_limit for f in files)
        log.warning("broker.message_limit_learned", limit=limit, was=self.message_limit, retrying=changes)
        self.message_limit = limit
        return changes

    def _read(self, file: DroppedFile) -> FileData | None:
        path = file.path
        shown = str(path) if self.inbox is None else inbox_relative(path, self.inbox)
        try:
            return read_file(path, self.max_bytes, size=file.size, mtime_ns=file.mtime_ns, shown=shown)
        except FileNotFoundError:
            log.info("file.vanished", filename=path.name, path=shown)
        except FileChanged as error:  # taken again once it settles anew
            log.info("file.changed_while_read", filename=path.name, path=shown, error=str(error))
        except OSError as error:  # a symlink swapped in after the watcher's check (ELOOP), no access
            log.warning("file.unreadable", filename=path.name, path=shown, error=str(error))
        return None
