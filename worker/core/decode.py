"""Bytes → text: detect the encoding (BOM, UTF-8, GB18030, UTF-16) and refuse binary junk."""

import codecs
import re
from dataclasses import dataclass

from worker.core.errors import DecodeFailure
from worker.core.result import FailureReason

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls other than tab, newline, carriage return, form feed; DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")
_BLANK = re.compile(r"^[\s\ufeff\u200b]*$")
_HTML_CHARSET = re.compile(rb"<meta[^>]{0,200}charset\s*=\s*[\"']?\s*([a-zA-Z0-9_-]+)", re.IGNORECASE)
# What a report is made of: CJK ideographs, ASCII, CJK and full-width punctuation, whitespace.
_USUAL = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef\u2000-\u206f\x20-\x7e\s]")
_MIN_USUAL_SHARE = 0.9
# Above this share of control or replacement characters a text is binary, not a report.
_MAX_CONTROL_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class Decoded:
    """A file's text and the encoding it was read with."""

    text: str
    encoding: str


def decode(data: bytes) -> Decoded:
    """Decode a file's bytes, or raise DecodeFailure with reason `empty` or `unreadable`."""
    if not data or _is_blank_bytes(data):
        raise DecodeFailure(FailureReason.EMPTY, "the file is empty")
    decoded = _try_bom(data) or _try_utf16_without_bom(data) or _try_declared(data) or _try_common(data)
    if decoded is None:
        raise DecodeFailure(FailureReason.UNREADABLE, "no supported encoding decodes the file")
    if _BLANK.match(decoded.text):
        raise DecodeFailure(FailureReason.EMPTY, "the file holds only whitespace")
    share = len(_CONTROL.findall(decoded.text)) / len(decoded.text)
    if share > _MAX_CONTROL_SHARE:
        raise DecodeFailure(
            FailureReason.UNREADABLE,
            f"binary content: {share:.0%} control characters after decoding as {decoded.encoding}",
        )
    return decoded


def _is_blank_bytes(data: bytes) -> bool:
    for bom, _ in _BOMS:
        if data.startswith(bom):
            data = data[len(bom) :]
            break
    return not data.strip(b" \t\r\n\x0c\x00")


def _try_bom(data: bytes) -> Decoded | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data.decode(encoding), "utf-8-sig" if encoding == "utf-8-sig" else encoding)
            except UnicodeDecodeError:
                return Decoded(data.decode(encoding, errors="replace"), encoding)
    return None


def _try_utf16_without_bom(data: bytes) -> Decoded | None:
    # UTF-8 and GB18030 text never holds a NUL byte; UTF-16 holds one in every ASCII character
    # (newlines, digits), on the odd side for little-endian and the even side for big-endian.
    if data.find(0, 0, 65536) < 0:
        return None  # no NUL byte at all: the common case, told without copying the halves
    sample = data[:65536]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if len(data) % 2 or even == odd:
        return None
    encoding = "utf-16-le" if odd > even else "utf-16-be"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    # Random bytes decode as UTF-16 too, as a scatter over every script: demand mostly text.
    return Decoded(text, encoding) if _plausible(text) else None


def _plausible(text: str) -> bool:
    sample = text[:20000]
    usual = len(_USUAL.findall(sample))
    return usual >= _MIN_USUAL_SHARE * len(sample)


def _try_declared(data: bytes) -> Decoded | None:
    # A web page that declares GBK must be read as GBK even when its bytes happen to be UTF-8-valid.
    match = _HTML_CHARSET.search(data[:4096])
    if not match:
        return None
    name = match.group(1).decode("ascii", "ignore").lower()
    encoding = "gb18030" if name in ("gb2312", "gbk", "gb18030", "x-gbk") else name
    try:
        codecs.lookup(encoding)
        return Decoded(data.decode(encoding), encoding)
    except (LookupError, UnicodeDecodeError):
        return None


def _try_common(data: bytes) -> Decoded | None:
    for encoding in ("utf-8", "gb18030"):
        try:
            return Decoded(data.decode(encoding), encoding)
        except UnicodeDecodeError:
            continue
    return None
