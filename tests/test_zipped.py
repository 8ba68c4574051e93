"""The zip package reader: members within the caps, bombs refused cheaply, corrupt zips and hostile XML unreadable."""

import io
import time
import tracemalloc
import zipfile

import pytest

from tests.native.office import build_zip, deflated, deflated_zeros
from worker.core.document import Limits
from worker.core.errors import ReportFailure
from worker.core.readers.zipped import Package, is_ole, parse_xml, refuse_ole
from worker.core.result import FailureReason

GIB = 2**30


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _failure(call: object, *args: object) -> ReportFailure:
    assert callable(call)
    with pytest.raises(ReportFailure) as raised:
        call(*args)
    return raised.value


def test_members_are_read_and_listed() -> None:
    package = Package(_zip({"a.xml": b"<a/>", "b/c.txt": b"hello"}), Limits())
    assert package.names() == ["a.xml", "b/c.txt"]
    assert package.has("b/c.txt") and not package.has("c.txt")
    assert package.read("b/c.txt") == b"hello"
    assert package.xml("a.xml").tag == "a"
    package.check("a.xml")
    assert package.inflated == len(b"hello") + 2 * len(b"<a/>")


def test_a_missing_member_is_unreadable() -> None:
    failure = _failure(Package(_zip({"a": b"1"}), Limits()).read, "word/document.xml")
    assert failure.reason == FailureReason.UNREADABLE
    assert "word/document.xml" in failure.message


@pytest.mark.parametrize(
    "data",
    [b"", b"PK\x03\x04 not really a zip", b"\x00" * 4096, _zip({"a": b"x" * 5000})[:-30]],
    ids=["empty", "signature only", "zeros", "truncated"],
)
def test_what_is_no_zip_is_unreadable_with_what_zipfile_said(data: bytes) -> None:
    failure = _failure(Package, data, Limits())
    assert failure.reason == FailureReason.UNREADABLE
    assert "zip" in failure.message.lower()


def test_a_corrupt_member_is_unreadable() -> None:
    data = bytearray(_zip({"a.xml": b"<a>" + b"0123456789" * 2000 + b"</a>"}))
    data[60:70] = b"\xff" * 10  # inside the deflate stream
    failure = _failure(Package(bytes(data), Limits()).read, "a.xml")
    assert failure.reason == FailureReason.UNREADABLE
    assert "a.xml" in failure.message


def test_a_gigabyte_bomb_is_refused_by_its_declared_size_before_inflating() -> None:
    bomb = build_zip({"word/document.xml": deflated_zeros(GIB)})
    assert len(bomb) < 2 * 2**20  # a megabyte on disk
    package = Package(bomb, Limits())
    tracemalloc.start()
    started = time.perf_counter()
    failure = _failure(package.read, "word/document.xml")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert failure.reason == FailureReason.UNREADABLE
    assert str(GIB) in failure.message and "over the limit" in failure.message
    assert elapsed < 0.5
    assert peak < 4 * 2**20


def test_a_bomb_that_lies_about_its_size_stops_at_the_size_it_declared() -> None:
    # Declares 64 KiB, inflates to 1 GiB: zipfile stops at the declared size and the CRC fails.
    bomb = build_zip({"word/document.xml": deflated_zeros(GIB)}, declared={"word/document.xml": 65536})
    package = Package(bomb, Limits())
    tracemalloc.start()
    started = time.perf_counter()
    failure = _failure(package.read, "word/document.xml")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert failure.reason == FailureReason.UNREADABLE
    assert "CRC" in failure.message
    assert elapsed < 0.5
    assert peak < 4 * 2**20


def test_the_running_total_is_capped() -> None:
    members = {f"part{i}.xml": deflated_zeros(2**20) for i in range(5)}
    package = Package(build_zip(members), Limits(max_member_bytes=2**20, max_unzipped_bytes=3 * 2**20))
    package.read("part0.xml")
    package.check("part1.xml")
    package.read("part2.xml")
    failure = _failure(package.read, "part3.xml")
    assert failure.reason == FailureReason.UNREADABLE
    assert "inflate past the limit" in failure.message


def test_a_member_over_the_member_cap_is_refused() -> None:
    package = Package(
        build_zip({"big": deflated_zeros(4 * 2**20), "small": deflated(b"ok")}), Limits(max_member_bytes=2**20)
    )
    assert package.read("small") == b"ok"
    assert _failure(package.read, "big").reason == FailureReason.UNREADABLE


def test_compression_methods_office_never_writes_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("a.xml", b"<a/>")
    failure = _failure(Package(out.getvalue(), Limits()).read, "a.xml")
    assert failure.reason == FailureReason.UNREADABLE
    assert "compression method 12" in failure.message


def test_an_ole_file_is_not_a_zip_package() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024)
    assert is_ole(ole)
    assert _failure(refuse_ole, ole, "Word document").reason == FailureReason.UNREADABLE
    assert _failure(Package, ole, Limits()).reason == FailureReason.UNREADABLE


# ---------------------------------------------------------------------------------------- XML


def _laughs(levels: int) -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)
    )
    return f'<?xml version="1.0"?><!DOCTYPE a [{entities}]><a>&lol{levels};</a>'.encode()


def test_a_billion_laughs_is_refused_without_expanding() -> None:
    started = time.perf_counter()
    failure = _failure(parse_xml, _laughs(9), "document.xml")
    assert failure.reason == FailureReason.UNREADABLE
    assert time.perf_counter() - started < 0.5


def test_a_small_entity_is_refused_too_never_expanded() -> None:
    failure = _failure(parse_xml, _laughs(2), "document.xml")
    assert failure.reason == FailureReason.UNREADABLE
    assert "DTD" in failure.message


def test_an_external_entity_is_never_read() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
    failure = _failure(parse_xml, xml, "document.xml")
    assert failure.reason == FailureReason.UNREADABLE
    assert "root:" not in failure.message


@pytest.mark.parametrize("xml", [b"", b"<a>", b"<a></b>", b"\xff\xfe<\x00"], ids=["empty", "open", "mismatch", "junk"])
def test_malformed_xml_is_unreadable(xml: bytes) -> None:
    assert _failure(parse_xml, xml, "document.xml").reason == FailureReason.UNREADABLE


def test_well_formed_xml_parses_without_comments() -> None:
    root = parse_xml(b"<?xml version='1.0'?><a><!-- note --><b>x</b></a>", "x")
    assert [child.tag for child in root] == ["b"]
