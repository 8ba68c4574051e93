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

_TRANSLATE = str.maketrans(
    {
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
)
_MARKDOWN_EMPHASIS = re.compile(r"\*\*|__|~~")
_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
_CHUNK = 256

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
    folded = unicodedata.normalize("NFKC", simplified.translate(_TRANSLATE))
    folded = _BOOKMARK.sub("", _MARKDOWN_EMPHASIS.sub("", folded))
    return Normalized(folded, script)


def fold(text: str) -> str:
    """Normalise a short string (a label, a title) the same way as a document."""
    return unicodedata.normalize("NFKC", to_simplified(text).translate(_TRANSLATE))


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
