"""Fuzzing `parse_bytes`: whatever the bytes, it never raises and returns a sound, valid result.

Every input goes through `parse_checked`, which asserts the invariants of spec §3 that hold for
any file. The explicit cases at the end pin the failure reasons of the simplest bad inputs.
"""

import hashlib
import json
import random
import re
import time
import tracemalloc
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.schema_check import assert_valid_result
from worker.core import DEFAULT_MAX_BYTES, ParseResult, parse_bytes
from worker.core.result import FailureReason, Severity, Status

FIXTURES = Path(__file__).parent / "fixtures"
# seeds/ and real/: every report file, not the truth files under */expected/.
# The text corpus: its mutations are text mutations (native documents are fuzzed in their own tests).
CORPUS = sorted(p for p in (FIXTURES / "corpus").glob("*/*") if p.is_file() and p.parent.name != "native")
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
# Whole-file budget is < 30 s: few examples per test, no per-example deadline (the parser's speed
# is the benchmark's business), and no complaint about slow data generation from large seeds.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# A pathological input may take this long at most: far above the benchmark's pace, far below a hang.
SLOW_SECONDS = 5.0
# A small hostile file may not make the parser hold more than this (tracemalloc peak). Only small
# inputs are traced: a bomb is small by design, and tracing slows the megabyte inputs threefold.
PEAK_BYTES = 256 * 1024 * 1024
TRACED_BELOW = 256 * 1024

pytestmark = pytest.mark.timeout(120)


@cache
def template_keys() -> dict[str, frozenset[str]]:
    """The canonical cell keys of each template, from the spec's fields.json."""
    fields = json.loads((FIXTURES / "spec" / "fields.json").read_text(encoding="utf-8"))
    return {t: frozenset(f["key"] for f in rows) for t, rows in fields["templates"].items()}


@cache
def corpus_bytes() -> tuple[bytes, ...]:
    """Every corpus file as it is stored."""
    return tuple(path.read_bytes() for path in CORPUS)


@cache
def corpus_variants() -> tuple[bytes, ...]:
    """The corpus plus its text re-encoded the ways files arrive: BOM, GB18030, UTF-16, CRLF."""
    variants = list(corpus_bytes())
    for data in corpus_bytes():
        text = data.decode("utf-8")
        variants.append(text.encode("utf-8-sig"))
        variants.append(text.encode("gb18030"))
        variants.append(text.encode("utf-16"))
        variants.append(text.replace("\n", "\r\n").encode("utf-8"))
    return tuple(variants)


@cache
def corpus_tokens() -> tuple[str, ...]:
    """Pieces of real reports and of hostile cell text, to build report-like noise from."""
    lines = {line.strip() for d in corpus_bytes() for line in d.decode("utf-8").splitlines()}
    cells = ("0", "１２", "1,234", "+2", "-3", "—", "-", "/", "－", "无", "1150万", "0.35", "???")
    hostile = ("99999999999999999999", "9" * 5000, "1e999", "NaN", "inf", "-0", "٣", "²", "½")
    return tuple(sorted(line for line in lines if line)) + cells + hostile


def _check_report(result: ParseResult) -> None:
    """The invariants of a result that is a report: full key set, counts, status from issues."""
    keys = template_keys().get(result.template or "")
    assert keys is not None, f"no template for a {result.status} report"
    assert set(result.cells) == keys, "cells are not exactly the template's keys"
    for key, value in result.cells.items():
        if not key.endswith(".amount"):
            assert value is None or type(value) is int, f"count {key} = {value!r} is not an int"
    has_error = any(issue.severity is Severity.ERROR for issue in result.issues)
    assert (result.status is Status.INVALID) == has_error, "status does not follow the errors"
    for issue in result.issues:
        assert issue.severity is issue.code.severity, f"{issue.code} with severity {issue.severity}"
        assert set(issue.cells) <= set(result.cells), f"{issue.code} names unknown cells"


def check_result(data: bytes, filename: str, result: ParseResult) -> None:
    """Assert what spec §3 promises of the result of any bytes."""
    assert isinstance(result, ParseResult)
    assert result.status in set(Status)
    failed = result.status is Status.FAILED
    assert failed == (result.failure is not None), "failure must be set exactly when failed"
    assert result.source.sha256 == hashlib.sha256(data).hexdigest()
    assert result.source.bytes == len(data)
    assert result.source.filename == filename
    if result.failure is not None:
        # internal_error is the catch-all for bugs (spec §3): under fuzzing it is a found crash.
        assert result.failure.reason is not FailureReason.INTERNAL_ERROR, result.failure.message
        assert not result.cells, "a failed file has no cells"
    else:
        _check_report(result)
    assert_valid_result(result)


def parse_checked(data: bytes, filename: str = "fuzz.txt", max_bytes: int = DEFAULT_MAX_BYTES) -> ParseResult:
    """Parse and check the result; any exception fails the test as a never-raise violation."""
    result = parse_bytes(data, filename, max_bytes=max_bytes)
    check_result(data, filename, result)
    return result


# Random inputs -------------------------------------------------------------------------------


@FUZZ
@given(prefix=st.sampled_from((b"", *BOMS, b"<html>")), body=st.binary(max_size=4096))
def test_random_bytes(prefix: bytes, body: bytes) -> None:
    """Random bytes, bare or behind a BOM or an HTML start, give a sound result."""
    parse_checked(prefix + body)


@FUZZ
@given(
    text=st.text(max_size=2000),
    encoding=st.sampled_from(("utf-8", "utf-8-sig", "gb18030", "utf-16", "utf-16-le")),
)
def test_random_unicode_text(text: str, encoding: str) -> None:
    """Random Unicode text in any of the encodings files come in gives a sound result."""
    parse_checked(text.encode(encoding))


SEPARATORS = ("\n", "\t", " | ", "  ", "\r\n", "<td>", "</td><td>", "</tr><tr><td>", "<table>")


@FUZZ
@given(
    tokens=st.lists(st.sampled_from(corpus_tokens()), min_size=1, max_size=300),
    separators=st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=4),
    html=st.booleans(),
)
def test_report_like_noise(tokens: list[str], separators: list[str], html: bool) -> None:
    """Shuffled report lines and hostile cell text reach the deep stages: a sound result."""
    text = "".join(tok + separators[i % len(separators)] for i, tok in enumerate(tokens))
    parse_checked(text.encode("utf-8"), "noise.html" if html else "noise.txt")


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
@settings(FUZZ, max_examples=25)
@given(cut=st.floats(0, 1), keep_head=st.booleans())
def test_truncated_corpus(path: Path, cut: float, keep_head: bool) -> None:
    """Every corpus file cut at any point, keeping its head or its tail, gives a sound result."""
    data = path.read_bytes()
    at = int(len(data) * cut)
    parse_checked(data[:at] if keep_head else data[at:], path.name)


@st.composite
def mutated_corpus(draw: st.DrawFn) -> bytes:
    """A corpus variant with a few bits flipped, bytes inserted or deleted, blocks duplicated."""
    data = bytearray(draw(st.sampled_from(corpus_variants())))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "duplicate")))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 512))]
        elif op == "duplicate":
            block = data[at : at + draw(st.integers(1, 2048))]
            data[at:at] = block * draw(st.integers(1, 4))
    return bytes(data)


@FUZZ
@given(data=mutated_corpus(), html=st.booleans())
def test_mutated_corpus(data: bytes, html: bool) -> None:
    """Corpus files, re-encoded and damaged at random, give a sound result."""
    parse_checked(data, "mutated.html" if html else "mutated.txt")


@FUZZ
@given(index=st.integers(0, len(CORPUS) - 1), slack=st.integers(-64, 64))
def test_max_bytes_is_the_limit(index: int, slack: int) -> None:
    """A file is too_large exactly when it has more bytes than max_bytes."""
    data = corpus_bytes()[index]
    limit = max(0, len(data) + slack)
    result = parse_checked(data, CORPUS[index].name, max_bytes=limit)
    too_large = result.failure is not None and result.failure.reason is FailureReason.TOO_LARGE
    assert too_large == (len(data) > limit)


@FUZZ
@given(filename=st.text(max_size=80))
def test_any_filename(filename: str) -> None:
    """Any file name, empty or odd, is carried into the result unchanged."""
    parse_checked(corpus_bytes()[0], filename)


# Pathological inputs ------------------------------------------------------------------------


def _seed() -> bytes:
    """A 2019-template seed report."""
    return corpus_bytes()[CORPUS.index(FIXTURES / "corpus" / "seeds" / "000_fe5c224497898358.txt")]


def _html_report() -> str:
    """The real HTML report with `<table>` markup."""
    return (FIXTURES / "corpus" / "real" / "real-pingtan-2021.html").read_text(encoding="utf-8")


def _nested_tables(depth: int) -> bytes:
    """Tables nested `depth` deep, a cell with a number at the bottom."""
    return (("<table><tr><td>" * depth) + "1" + ("</td></tr></table>" * depth)).encode()


def _span_bomb(rowspan: str, colspan: str) -> bytes:
    """The real HTML report with one cell claiming a huge (or absurd) span."""
    text = re.sub(r"<td", f'<td rowspan="{rowspan}" colspan="{colspan}"', _html_report(), count=1)
    return text.encode("utf-8")


PATHOLOGICAL: dict[str, Callable[[], bytes]] = {
    "utf-8 BOM only": lambda: BOMS[0],
    "utf-16 BOMs only": lambda: BOMS[1] + BOMS[2],
    "whitespace only": lambda: b" \t\r\n\x0b\x0c" * 2000,
    "NUL bytes": lambda: b"\x00" * 4096,
    "NUL before every newline": lambda: _seed().replace(b"\n", b"\x00\n"),
    "1 MB of a": lambda: b"a" * 2**20,
    "1 MB of 表": lambda: "表".encode() * (2**20 // 3),
    "1 MB of 0": lambda: b"0" * 2**20,
    "1 MB of newlines": lambda: b"\n" * 2**20,
    "long single line": lambda: _seed().replace(b"\n", b" ") * 150,
    "one line of 500k cells": lambda: b"1\t" * 500_000,
    "tables nested 20000 deep": lambda: _nested_tables(20_000),
    "tables opened 100000 times": lambda: b"<table><tr><td>" * 100_000,
    "unclosed tags": lambda: b"<table><tr><td>1<td>2<tr><td>3<td" + _seed() + b"<!-- <script>",
    "unclosed script before the report": lambda: b"<script>" + _seed(),
    "rowspan 1e6 colspan 99999": lambda: b'<table><tr><td rowspan="1000000" colspan="99999">1',
    "report with span bomb": lambda: _span_bomb("1000000", "99999"),
    "report with span beyond int64": lambda: _span_bomb("99999999999999999999", "1e9"),
    "report with negative and junk spans": lambda: _span_bomb("-1", "abc"),
    "huge numbers": lambda: re.sub(rb"\b\d+\b", b"99999999999999999999", _seed()),
    "numbers beyond int() digit limit": lambda: re.sub(rb"\b\d+\b", b"9" * 5000, _seed()),
    "float overflow": lambda: re.sub(rb"\b\d+\b", b"1e999", _seed()),
    "full-width huge numbers": lambda: re.sub(rb"\b\d+\b", "９".encode() * 20, _seed()),
    "utf-16 BOM then odd length": lambda: BOMS[1] + "年度报告".encode("utf-16-le") + b"\x00",
    "utf-16-be BOM then odd length": lambda: BOMS[2] + b"abc",
    "utf-8 BOM on utf-16 text": lambda: BOMS[0] + _seed().decode().encode("utf-16-le"),
    "half utf-8 half gb18030": lambda: _seed()[:2000] + _seed().decode().encode("gb18030"),
    "old Mac line ends": lambda: _seed().replace(b"\n", b"\r"),
}


@pytest.mark.parametrize("make", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
def test_pathological(make: Callable[[], bytes]) -> None:
    """Hostile inputs give a sound result in bounded time and memory."""
    data = make()
    traced = len(data) < TRACED_BELOW
    if traced:
        tracemalloc.start()
    try:
        started = time.perf_counter()
        result = parse_bytes(data, "pathological.html")
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
    finally:
        tracemalloc.stop()
    check_result(data, "pathological.html", result)
    assert seconds < SLOW_SECONDS, f"took {seconds:.1f} s on {len(data)} bytes"
    assert peak < PEAK_BYTES, f"peak memory {peak / 2**20:.0f} MiB on {len(data)} bytes"


# Explicit failure reasons ---------------------------------------------------------------------

NEWS = (
    "新华社北京3月5日电 第十四届全国人民代表大会第二次会议5日上午在人民大会堂开幕。"
    "国务院总理作政府工作报告，回顾过去一年工作，部署今年重点任务。报告指出，"
    "今年发展主要预期目标是：国内生产总值增长5%左右，城镇新增就业1200万人以上。"
    "代表们认为，报告实事求是、重点突出，是一个凝心聚力、求真务实的好报告。"
)


def _reason(result: ParseResult) -> FailureReason | None:
    """The failure reason of a result, None when it did not fail."""
    return result.failure.reason if result.failure is not None else None


BLANK = {
    "no bytes": b"",
    "BOM and blanks": b"\xef\xbb\xbf  \n",
    "BOM": BOMS[0],
    "blanks": b" \t\r\n  ",
    "ideographic space": "\u3000\n".encode(),
    "utf-16 blanks": BOMS[1] + " \n".encode("utf-16-le"),
}


@pytest.mark.parametrize("data", list(BLANK.values()), ids=list(BLANK))
def test_blank_is_empty(data: bytes) -> None:
    """No bytes, or only whitespace and a BOM, is `empty`."""
    assert _reason(parse_checked(data)) is FailureReason.EMPTY


def test_random_junk_is_unreadable() -> None:
    """4 KB of random bytes is `unreadable`."""
    junk = random.Random(20240605).randbytes(4096)
    assert _reason(parse_checked(junk, "junk.bin")) is FailureReason.UNREADABLE


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_news_is_not_a_report(encoding: str) -> None:
    """A Chinese news paragraph, in any encoding, is `not_a_report`."""
    assert _reason(parse_checked(NEWS.encode(encoding), "news.txt")) is FailureReason.NOT_A_REPORT


def test_over_max_bytes_is_too_large() -> None:
    """A report longer than max_bytes is `too_large`, whatever it says."""
    data = _seed()
    assert len(data) > 1000
    result = parse_checked(data, "big.txt", max_bytes=1000)
    assert _reason(result) is FailureReason.TOO_LARGE
