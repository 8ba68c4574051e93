"""Reading a dropped file: links refused, big files hashed without being held, folders expanded."""

import hashlib
from pathlib import Path

import pytest

from worker.files import expand_paths, inbox_relative, read_file, read_given, sha256_of


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
    file = read_file(path, 1000, size=3_000_000, mtime_ns=7)
    assert file.data is None and file.too_large and file.mtime_ns == 7
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
