"""Text normalisation: Traditional → Simplified (OpenCC t2s), width folding, and typographic noise.

Everything downstream compares normalised text, so the form's labels, digits and brackets look the
same whatever script, width or word processor printed them.
"""

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import opencc

# One converter for the process: OpenCC's converter is safe to share (it holds the GIL) and costly to build.
_T2S = opencc.OpenCC("t2s")

_MARKS: dict[str, str | None] = {
    "\r": None,
    "\u200b": None,
    "\ufeff": None,
    "\u00a0": " ",
    "\u3000": " ",
    "\u2212": "-",  # minus sign
    "\u2010": "-",
    "\u2011": "-",
    "\u2013": "-",  # en dash: a sign or a blank, never a long dash
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u300c": '"',
    "\u300d": '"',
    "\u3010": "[",
    "\u3011": "]",
    "\u3014": "[",
    "\u3015": "]",
    "\u3001": "、",
}
# `str.translate` with a dict costs a lookup per character (more than OpenCC itself): replacing
# only the marks a text holds is the same mapping, as no replacement is itself a mark.
_REPLACE = tuple((mark, by or "") for mark, by in _MARKS.items() if mark != by)
_MARKDOWN_EMPHASIS = re.compile(r"\*\*|__|~~")
_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
_CHUNK = 256
# The full-width forms of ASCII (U+FF01-U+FF5E) and their compatibility decompositions.
_FULL_WIDTH = re.compile("[\uff01-\uff5e]")
_DECOMPOSED = {chr(code): unicodedata.normalize("NFKD", chr(code)) for code in range(0xFF01, 0xFF5F)}

Script = Literal["simplified", "traditional"]
# Share of CJK characters that t2s changes above which the source counts as Traditional script.
_TRADITIONAL_SHARE = 0.03


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text and the script the source was printed in."""

    text: str
    script: Script


def to_simplified(text: str) -> str:
    """OpenCC t2s: characters only, no vocabulary rewriting."""
    return str(_T2S.convert(text))


def normalize(text: str) -> Normalized:
    """Normalise a whole document once: t2s, NFKC, dashes and quotes, markdown emphasis."""
    simplified = to_simplified(text)
    script = _script(text, simplified)
    folded = _nfkc(_replace_marks(simplified))
    if "**" in folded or "__" in folded or "~~" in folded:
        folded = _MARKDOWN_EMPHASIS.sub("", folded)
    if "[bookmark:" in folded:
        folded = _BOOKMARK.sub("", folded)
    return Normalized(folded, script)


def fold(text: str) -> str:
    """Normalise a short string (a label, a title) the same way as a document."""
    return unicodedata.normalize("NFKC", _replace_marks(to_simplified(text)))


def _nfkc(text: str) -> str:
    """NFKC of a whole text. NFKC decomposes every character on its own (to its full
    compatibility decomposition) before it reorders and composes: a character replaced by that
    decomposition beforehand gives the same result. Reports print full-width punctuation and
    digits everywhere, which fail `unicodedata`'s quick check and make it rebuild each line they
    are in; replaced first (one C-speed scan per distinct character), most texts then pass it."""
    for char in set(_FULL_WIDTH.findall(text)):
        text = text.replace(char, _DECOMPOSED[char])
    if unicodedata.is_normalized("NFKC", text):
        return text
    return _nfkc_by_line(text)


def _nfkc_by_line(text: str) -> str:
    """NFKC of a whole text, a line at a time. A newline neither decomposes nor composes nor
    reorders with its neighbours, so the result is the same; but `unicodedata.normalize` returns
    a text that passes its quick check at once, and most lines of a table (labels, numbers) do,
    where one full-width comma anywhere makes it rebuild the whole text."""
    return "\n".join([unicodedata.normalize("NFKC", line) for line in text.split("\n")])


def _replace_marks(text: str) -> str:
    """Every mark of `_MARKS` replaced, as `str.translate` would: one C-speed scan per mark."""
    for mark, by in _REPLACE:
        if mark in text:
            text = text.replace(mark, by)
    return text


def _script(original: str, simplified: str) -> Script:
    if original == simplified:
        return "simplified"
    if len(original) != len(simplified):
        return "traditional"
    # Non-ASCII characters stand in for CJK ones: counting them is a C-speed encode.
    wide = len(original) - len(original.encode("ascii", "ignore"))
    changed = 0
    for start in range(0, len(original), _CHUNK):
        a, b = original[start : start + _CHUNK], simplified[start : start + _CHUNK]
        if a != b:
            changed += sum(1 for x, y in zip(a, b, strict=True) if x != y)
    return "traditional" if wide and changed / wide > _TRADITIONAL_SHARE else "simplified"
