"""Reading a dropped file, once, for every entry point (the watcher's hand-over, `ingest`, `parse`):
opened without following a link, hashed, and held in memory only under the size limit."""

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileData:
    """A file's identity and bytes as read once: what the watcher publishes, what a consumer reads
    back from a delivery, and what `ingest` parses. Its one reason to exist: the bytes travel with
    where they came from, so no one after the reader needs access to the share."""

    filename: str
    # Where it was found: relative to the inbox (POSIX separators) for the watcher's files, as given
    # for `ingest` and `parse`, "" when not known (a message from another publisher).
    path: str
    size: int
    mtime_ns: int
    sha256: str
    data: bytes | None  # None when over the size limit: it was hashed in chunks, never held in memory

    @property
    def too_large(self) -> bool:
        """Whether the file was over the size limit (and so carries no bytes)."""
        return self.data is None

    @property
    def mtime(self) -> datetime:
        """The file's modification time (about when it was closed)."""
        return datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)


def open_no_follow(path: Path) -> BinaryIO:
    """Open a file for reading, refusing a symlink (one may be swapped in after a check)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def sha256_of(path: Path, expected: tuple[int, int] | None = None) -> str:
    """The SHA-256 of a file, read in chunks: a file over the size limit is never held in memory.
    With `expected` (size, mtime_ns), a file that is or becomes otherwise raises FileChanged."""
    digest = hashlib.sha256()
    with open_no_follow(path) as handle:
        if expected is not None:
            _unchanged(handle, expected)
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
        if expected is not None:
            _unchanged(handle, expected)
    return digest.hexdigest()


def read_file(
    path: Path,
    max_bytes: int,
    *,
    name: str | None = None,
    size: int | None = None,
    mtime_ns: int | None = None,
    shown: str | None = None,
) -> FileData:
    """Read a file without following a link. `size` and `mtime_ns` are as the watcher saw them (else
    as the file is now); `name` is the name it was given by (else its own); `shown` is the path to
    record (else the path read). Raises OSError."""
    if size is None or mtime_ns is None:
        stat = path.stat()
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
    filename = name or path.name
    where = str(path) if shown is None else shown
    if size > max_bytes:
        return FileData(filename, where, size, mtime_ns, sha256_of(path, (size, mtime_ns)), None)
    with open_no_follow(path) as handle:
        _unchanged(handle, (size, mtime_ns))
        data = handle.read()
        _unchanged(handle, (size, mtime_ns))
    if len(data) != size:
        raise FileChanged(f"{path}: read {len(data)} bytes of a file of {size}: it changed while being read")
    return FileData(filename, where, size, mtime_ns, hashlib.sha256(data).hexdigest(), data)


class FileChanged(OSError):
    """Raised when a file is not, or no longer, what was seen settle (a writer rewrote it in place
    while it was read): what was read may be half of one version; the file is taken again once it
    settles anew."""


def _unchanged(handle: BinaryIO, expected: tuple[int, int]) -> None:
    stat = os.fstat(handle.fileno())
    if (stat.st_size, stat.st_mtime_ns) != expected:
        raise FileChanged(f"{handle.name}: changed while being read (size and modification time)")


def inbox_relative(path: Path, inbox: Path) -> str:
    """A path below the inbox as events and stored reports show it: relative, POSIX separators
    (`2024/huaian.pdf`); a path outside the inbox stays as it is."""
    try:
        return path.relative_to(inbox).as_posix()
    except ValueError:
        return str(path)


def read_given(path: Path, max_bytes: int) -> FileData:
    """Read a file a person named (`ingest`, `parse`): a link they gave is followed to its target."""
    return read_file(path.resolve(), max_bytes, name=path.name)


# The names of the formats reports are published in (spec §3 `source.format`): what a folder
# expands to. Decided by name, not by content, so that what a folder gives is predictable and costs
# no reading; the parser still judges each file by its bytes, and a file named explicitly is read
# whatever its name (a report saved as `.md` or without a suffix).
REPORT_SUFFIXES = frozenset(
    {
        *(".txt", ".text", ".htm", ".html", ".shtml", ".xhtml", ".pdf", ".rtf"),
        *(".docx", ".doc", ".wps", ".odt", ".xlsx", ".xls", ".ods"),
    }
)


def expand_paths(paths: Iterable[Path], skipped: list[Path] | None = None) -> Iterator[Path]:
    """Files as given, and the report files of folders (recursively, sorted; hidden names and other
    suffixes than REPORT_SUFFIXES are skipped, and added to `skipped` when given)."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for child in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
            if hidden or not child.is_file():
                continue
            if child.suffix.lower() in REPORT_SUFFIXES:
                yield child
            elif skipped is not None:
                skipped.append(child)
