"""watchdog's side of the watcher (`worker.adapters.watch`): the events it listens to, each turned
into a hint (a path, and how the file there was `Seen` changing), and the native observer that
sends them, made, checked and stopped. Hints only queue a path: the settle loop decides what it is.
"""

import os
import sys
from collections.abc import Callable, Iterable
from enum import IntEnum

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

# Opens and read-only closes are left out: our own consumers reading a file would wake the loop.
# Deletions and moves away are kept to drop a pending candidate early.
EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]


class Seen(IntEnum):
    """How a file was last seen changing; a higher value is stronger evidence that it is complete."""

    OPEN = 0  # created or modified without a close, or found by a scan: a writer may hold it open
    CLOSED = 1  # its writer closed it: complete, unless the writer opens it again
    RENAMED = 2  # it appeared by a rename, which is atomic: complete


# A hint: a path to look at, and what the event says about the file there (None: nothing, look only).
Hint = Callable[[Iterable[str], Seen | None], None]


class Hints(FileSystemEventHandler):
    """Turns every watchdog event into candidate paths; the settle loop decides what they are."""

    def __init__(self, add: Hint) -> None:
        self._add = add

    def dispatch(self, event: FileSystemEvent) -> None:
        """Queue the path an event names, with what the event says about the file there."""
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        if isinstance(event, FileMovedEvent | DirMovedEvent):
            # From inotify's full events a move in from outside has no source, a move out no destination.
            if src:
                self._add([src], None)  # it left: a pending candidate there is dropped
            if dest:
                self._add([dest], Seen.RENAMED)
        elif isinstance(event, FileClosedEvent):
            self._add([src], Seen.CLOSED)
        elif isinstance(event, FileCreatedEvent) and event.is_synthetic:
            self._add([src], Seen.RENAMED)  # inside a folder that was moved in
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
            self._add([src], Seen.OPEN)
        else:
            self._add([src], None)  # attributes, deletions, folders: look again


def discard(observer: BaseObserver) -> None:
    """Stop an observer, started or not, and wait for its threads."""
    observer.stop()
    if observer.ident is not None:
        observer.join()


def healthy(observer: BaseObserver) -> bool:
    """Whether an observer and every one of its emitters still run."""
    # A polling emitter stops for good when the share disappears; inotify ones die on kernel errors.
    return observer.is_alive() and all(emitter.is_alive() for emitter in observer.emitters)


def native_observer() -> BaseObserver:
    """The platform's own observer: inotify on Linux, with full events; elsewhere watchdog's choice."""
    if sys.platform.startswith("linux"):
        from watchdog.observers.inotify import InotifyObserver

        # Full events report a move in from outside as a move (IN_MOVED_TO), not as a creation:
        # that is how a complete file is told from one a writer has just created.
        return InotifyObserver(generate_full_events=True)
    return Observer()
