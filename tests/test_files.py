"""Reading a dropped file: links refused, big files hashed without being held, folders expanded."""

import hashlib
import os
from pathlib import Path

import pytest

from worker.files import FileChanged, expand_paths, inbox_relative, read_file, read_given, sha256_of


def test_a_file_is_read_once_with_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"report")
    file = read_file(path, 100)
    assert (file.filename, file.path, file.size, file.data) == ("a.txt", str(path), 6, b"report")
    assert file.sha256 == hashlib.sha256(b"report").hexdigest() and not file.too_large
    assert file.mtime.timestamp() == pytest.approx(path.stat().st_mtime)


def test_a_file_over_the_limit_is_hashed_but_not_held(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 3_000_000)
    mtime_ns = path.stat().st_mtime_ns
    file = read_file(path, 1000, size=3_000_000, mtime_ns=mtime_ns)
    assert file.data is None and file.too_large and file.mtime_ns == mtime_ns
    assert file.sha256 == hashlib.sha256(b"x" * 3_000_000).hexdigest() == sha256_of(path)


def test_a_link_is_refused_unless_a_person_named_it(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    target.write_bytes(b"report")
    link = tmp_path / "report.txt"
    link.symlink_to(target)
    with pytest.raises(OSError, match=r"symbolic links|Too many levels"):
        read_file(link, 100)
    given = read_given(link, 100)
    assert (given.filename, given.path, given.data) == ("report.txt", str(target), b"report")


def test_folders_expand_to_their_visible_files_sorted(tmp_path: Path) -> None:
    for name in ("b.txt", "a/c.txt", ".hidden/d.txt", "a/.e.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    single = tmp_path / "b.txt"
    assert list(expand_paths([tmp_path, single])) == [tmp_path / "a/c.txt", single, single]


def test_a_watched_file_is_shown_by_its_path_relative_to_the_inbox(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    path = inbox / "2024" / "huaian.pdf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"%PDF")
    shown = inbox_relative(path, inbox)
    assert shown == "2024/huaian.pdf"
    assert read_file(path, 100, shown=shown).path == "2024/huaian.pdf"
    assert read_file(path, 1, shown=shown).path == "2024/huaian.pdf"  # over the limit too
    assert inbox_relative(tmp_path / "elsewhere.pdf", inbox) == str(tmp_path / "elsewhere.pdf")


@pytest.mark.parametrize("limit", [1 << 20, 4], ids=["held in memory", "over the limit, hashed in chunks"])
def test_a_file_rewritten_in_place_after_it_settled_is_not_read_as_what_settled(tmp_path: Path, limit: int) -> None:
    path = tmp_path / "r.txt"
    path.write_bytes(b"first version")
    seen = path.stat()
    path.write_bytes(b"second, longer version")  # the writer came back, in place
    with pytest.raises(FileChanged, match="changed while being read"):
        read_file(path, limit, size=seen.st_size, mtime_ns=seen.st_mtime_ns)
    now = path.stat()
    assert read_file(path, limit, size=now.st_size, mtime_ns=now.st_mtime_ns).size == len(b"second, longer version")


def test_a_file_changed_while_read_is_a_file_changed_error(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_bytes(b"x" * 1000)
    seen = path.stat()
    os.utime(path, ns=(seen.st_atime_ns, seen.st_mtime_ns + 1_000_000))  # touched since it settled
    with pytest.raises(FileChanged):
        read_file(path, 1 << 20, size=seen.st_size, mtime_ns=seen.st_mtime_ns)
    assert issubclass(FileChanged, OSError)  # callers that skip unreadable files skip it too
