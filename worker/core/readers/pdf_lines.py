"""Characters of a PDF page → lines by baseline, and lines → cells of text.

Pure geometry on what PDFium gave: no PDFium types here. Positions are points from the page's
top-left corner (x to the right, y down), as `worker.core.document.Box` is.
"""

import itertools
import operator
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from worker.core.document import Box

# Glyphs whose baselines differ by less than this (× glyph height) print on one line. A loose
# box's bottom is the baseline less the font's descent: fonts differ by a fraction of a point.
_SAME_LINE = 0.35
# A gap wider than this (× glyph height) between two glyphs of a line is a space in the text...
_SPACE = 0.15
# ...and one wider than this separates two cells of a table printed without ruling.
_CELL_GAP = 0.8
_FURNITURE = re.compile(
    r"[-—–－]?\s*\d{1,4}\s*[-—–－]?|\d{1,4}\s*/\s*\d{1,4}|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"
    r"|[Pp]age\s*\d{1,4}(?:\s*of\s*\d{1,4})?"
)


class Glyph(NamedTuple):
    """One printed character and its box (PDFium's loose box: the font's whole height)."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float


_LEFT = operator.itemgetter(1)
_BOTTOM = operator.itemgetter(4)


class Rule(NamedTuple):
    """A ruling line: horizontal at y = `at` from `start` to `end` in x, or vertical at x = `at`."""

    horizontal: bool
    at: float
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of a line's glyphs with no wide gap inside: one cell when the table has no ruling."""

    text: str
    box: Box

    @property
    def x0(self) -> float:
        """Left edge."""
        return self.box[0]

    @property
    def x1(self) -> float:
        """Right edge."""
        return self.box[2]

    @property
    def height(self) -> float:
        """Height of the box."""
        return self.box[3] - self.box[1]


@dataclass(frozen=True, slots=True)
class TextLine:
    """The glyphs of one page that share a baseline, cut into segments at wide gaps."""

    page: int
    segments: tuple[Segment, ...]
    box: Box

    @property
    def top(self) -> float:
        """Top of the line's box."""
        return self.box[1]

    @property
    def bottom(self) -> float:
        """Bottom of the line's box."""
        return self.box[3]

    @property
    def text(self) -> str:
        """The whole line as one cell."""
        return " ".join(s.text for s in self.segments)


def group_lines(glyphs: Iterable[Glyph]) -> list[list[Glyph]]:
    """Glyphs → lines by baseline, top to bottom, each left to right, overprinting dropped."""
    lines: list[list[Glyph]] = []
    base = float("-inf")
    for glyph in sorted(glyphs, key=_BOTTOM):
        if glyph.bottom - base > _SAME_LINE * (glyph.bottom - glyph.top):
            lines.append([])
            base = glyph.bottom
        lines[-1].append(glyph)
    return [_without_doubles(sorted(line, key=_LEFT)) for line in lines]


def _without_doubles(line: list[Glyph]) -> list[Glyph]:
    # Fake bold prints each glyph twice, a fraction of a point apart: keep one.
    kept: list[Glyph] = []
    for glyph in line:
        last = kept[-1] if kept else None
        if last is not None and last.text == glyph.text and glyph.x0 - last.x0 < 0.5 * (last.x1 - last.x0):
            continue
        kept.append(glyph)
    return kept


def is_wide(char: str) -> bool:
    """Whether a character is CJK or full-width (no spaces between such characters)."""
    return ord(char) >= 0x2E80 and unicodedata.east_asian_width(char) in "WF"


def line_text(glyphs: Sequence[Glyph]) -> str:
    """One line's glyphs as text: a space where a gap separates two characters that are not CJK."""
    if not glyphs:
        return ""
    parts = [glyphs[0].text]
    for left, right in itertools.pairwise(glyphs):
        # Spacing is tested before width: most pairs of a line have no gap at all.
        if right.x0 - left.x1 > _SPACE * (left.bottom - left.top) and not (is_wide(left.text) and is_wide(right.text)):
            parts.append(" ")
        parts.append(right.text)
    return "".join(parts)


_NUMBER_SO_FAR = re.compile(r"[+-]?[\d,]*\d")


def join_wrapped(pieces: Iterable[str]) -> str:
    """The lines of one cell as one text: glued, with a space only between two ASCII words."""
    text = ""
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        glue = " " if text and text[-1].isascii() and text[-1].isalnum() and piece[0].isascii() else ""
        if glue and piece[0].isdigit() and _NUMBER_SO_FAR.fullmatch(text):
            glue = ""  # a number too wide for its narrow cell, wrapped (`1005` / `8` is 10058)
        text += glue + piece
    return text


def box_of(boxes: Iterable[Box]) -> Box:
    """The smallest box holding all of `boxes` (at least one)."""
    x0s, tops, x1s, bottoms = zip(*boxes, strict=True)
    return (min(x0s), min(tops), max(x1s), max(bottoms))


def glyph_box(glyphs: Iterable[Glyph]) -> Box:
    """The box around some glyphs (at least one)."""
    return box_of((g.x0, g.top, g.x1, g.bottom) for g in glyphs)


def _cut(left: Glyph, right: Glyph) -> bool:
    return right.x0 - left.x1 > _CELL_GAP * min(left.bottom - left.top, right.bottom - right.top)


def has_cuts(glyphs: Sequence[Glyph]) -> bool:
    """Whether a line has a gap as wide as the padding between two cells."""
    return any(_cut(a, b) for a, b in itertools.pairwise(glyphs))


def segments(glyphs: Sequence[Glyph]) -> tuple[Segment, ...]:
    """Cut one line at gaps wider than a table's cell padding."""
    runs: list[list[Glyph]] = [[]]
    for glyph in glyphs:
        if runs[-1] and _cut(runs[-1][-1], glyph):
            runs.append([])
        runs[-1].append(glyph)
    return tuple(Segment(line_text(run), glyph_box(run)) for run in runs if run)


def text_lines(glyphs: Iterable[Glyph], page: int) -> list[TextLine]:
    """The lines of glyphs outside any ruled table, each cut into segments."""
    lines: list[TextLine] = []
    for line in group_lines(glyphs):
        if line:
            cut = segments(line)
            lines.append(TextLine(page, cut, box_of(s.box for s in cut)))
    return lines


def is_furniture(text: str) -> bool:
    """A page number (`- 4 -`, `4/29`, `第 4 页`): printed on every page, part of no table."""
    return _FURNITURE.fullmatch(text.strip()) is not None
