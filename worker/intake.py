"""The watcher's callback: read settled files, publish them with confirms, then remember them."""

import structlog

from worker.adapters.broker import MessageBroker, Topology
from worker.adapters.handovers import Handovers
from worker.adapters.store import Store
from worker.adapters.watch import DroppedFile
from worker.files import FileData, read_file
from worker.messages import file_message

log = structlog.get_logger("worker.pipeline")


class Intake:
    """Hands settled files over to the broker; called by the watcher with each settled batch."""

    def __init__(self, broker: MessageBroker, store: Store, topology: Topology, max_bytes: int) -> None:
        self.broker = broker
        self.handovers = Handovers(store)
        self.topology = topology
        self.max_bytes = max_bytes
        self.declared = False

    def __call__(self, files: list[DroppedFile]) -> None:
        """Hand files over; raises (and the watcher retries them) unless the broker confirmed all."""
        if not self.declared:
            self.broker.declare(self.topology)
            self.declared = True
        read = [data for file in files if (data := self._read(file)) is not None]
        self.broker.publish([file_message(self.topology, f) for f in read])
        by_path = {f.path: f for f in read}
        self.handovers.record(
            [(str(f.path), f.size, f.mtime_ns, by_path[str(f.path)].sha256) for f in files if str(f.path) in by_path]
        )
        for file in read:
            log.info("file.handed_over", sha256=file.sha256, filename=file.filename, size=file.size)

    def is_handed_over(self, file: DroppedFile) -> bool:
        """Whether a previous run handed this file (path, size, mtime) over already."""
        return self.handovers.seen(str(file.path), file.size, file.mtime_ns)

    def _read(self, file: DroppedFile) -> FileData | None:
        path = file.path
        try:
            return read_file(path, self.max_bytes, size=file.size, mtime_ns=file.mtime_ns)
        except FileNotFoundError:
            log.info("file.vanished", filename=path.name, path=str(path))
        except OSError as error:  # a symlink swapped in after the watcher's check (ELOOP), no access
            log.warning("file.unreadable", filename=path.name, path=str(path), error=str(error))
        return None
