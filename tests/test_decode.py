"""Bytes → text: encodings are detected, not assumed; junk and emptiness are failures."""

import codecs
import random

import pytest

from worker.core.decode import decode
from worker.core.errors import DecodeFailure

TEXT = "川汇区信访局2021年政府信息公开工作年度报告\n一、总体情况\n规章\t0\t0\t0\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("gb18030"), "gb18030"),
        (TEXT.encode("gbk"), "gb18030"),
        (TEXT.encode("utf-16"), "utf-16"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
        (TEXT.encode("utf-16-be"), "utf-16-be"),
        (f'<html><head><meta charset="gbk"></head><body>{TEXT}</body></html>'.encode("gbk"), "gb18030"),
    ],
)
def test_every_encoding_gives_the_same_text(data: bytes, encoding: str) -> None:
    decoded = decode(data)
    assert decoded.encoding == encoding
    assert "川汇区信访局2021年政府信息公开工作年度报告" in decoded.text


def test_a_declared_charset_wins_over_accidental_utf8() -> None:
    page = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312"><p>公开</p>'
    assert decode(page.encode("gb2312")).text.endswith("公开</p>")


@pytest.mark.parametrize("data", [b"", b"   \n\t", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"\r\n  ", b"\x00\x00"])
def test_nothing_but_whitespace_is_empty(data: bytes) -> None:
    with pytest.raises(DecodeFailure) as failure:
        decode(data)
    assert failure.value.reason == "empty"


@pytest.mark.parametrize("seed", range(5))
def test_binary_junk_is_unreadable(seed: int) -> None:
    junk = random.Random(seed).randbytes(4096)
    with pytest.raises(DecodeFailure) as failure:
        decode(junk)
    assert failure.value.reason == "unreadable"


def test_a_png_is_unreadable() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    with pytest.raises(DecodeFailure) as failure:
        decode(png)
    assert failure.value.reason == "unreadable"
