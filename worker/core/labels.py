"""Fuzzy recognition of the form's row labels in a text cell.

Labels are compared as sets of character bigrams after dropping numbering, punctuation and
spaces, so OCR junk, split labels (`5.属于三类内部事务信` / `息`) and printed variants
(`其他法律法规禁止公开`) still match, and a sentence that merely mentions a label does not.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from worker.core.forms import ROWS, Template

_NUMBERING = re.compile(
    r"^\s*(?:\(\s*([一二三四五六七八九十]+|\d{1,2})\s*\)|([一二三四五六七八九十]+)\s*、|(\d{1,2})\s*[.、)])\s*"
)
# Where a cell holds a group label and a row label (`(四)无2.没有现成信息…`), split before the
# second numbering so that each part is matched on its own.
_INNER_NUMBERING = re.compile(r"(?<=[^\s(（])\s*(?=\([一二三四五六七八九十]\)|(?<!\d)\d\.(?!\d))")
_DIGIT = re.compile(r"\d")
_NOT_LETTER = re.compile(r"[^\u4e00-\u9fffA-Za-z]+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A row a text may be the label of, with how much of each the other covers."""

    row: int
    precision: float
    recall: float
    overlap: int
    numbering_agrees: bool | None
    exact: bool
    # A short numbered label (`(七)总计`, `3.其他`) printed without its numbering: also a column
    # header word, so it counts only where that row is the next one expected.
    positional: bool = False

    @property
    def strong(self) -> bool:
        """A long label printed nearly whole: trusted wherever it stands."""
        return self.recall >= 0.9 and self.precision >= 0.8 and self.overlap >= 4


@dataclass(frozen=True, slots=True)
class _Label:
    row: int
    key: str
    numbering: str | None
    bigrams: frozenset[str]


@lru_cache(maxsize=65536)
def split_numbered(text: str) -> tuple[str, ...]:
    """Split a text cell before an inner numbering such as `(四)` or `2.`."""
    return tuple(p for p in _INNER_NUMBERING.split(text) if p.strip())


def label_key(text: str) -> tuple[str | None, str]:
    """The numbering (`七`, `3`) and the letters of a label, for comparison."""
    numbering = None
    match = _NUMBERING.match(text)
    if match:
        numbering = next(g for g in match.groups() if g)
        text = text[match.end() :]
    return numbering, _NOT_LETTER.sub("", text)


def _bigrams(key: str) -> frozenset[str]:
    if len(key) < 2:
        return frozenset((key,)) if key else frozenset()
    return frozenset(key[i : i + 2] for i in range(len(key) - 1))


@lru_cache(maxsize=4)
def _labels(template: Template) -> tuple[_Label, ...]:
    labels: list[_Label] = []
    for index, row in enumerate(ROWS[template]):
        for printed in row.labels:
            numbering, key = label_key(printed)
            labels.append(_Label(index, key, numbering, _bigrams(key)))
    return tuple(labels)


@lru_cache(maxsize=65536)
def candidates(template: Template, text: str) -> tuple[Candidate, ...]:
    """Every row the text could label, best first; empty when it looks like no label at all."""
    numbering, key = label_key(text)
    grams = _bigrams(key)
    prefix = _NUMBERING.match(text)
    if len(key) < 2 or _DIGIT.search(text, prefix.end() if prefix else 0):
        # No label of the form holds a number past its numbering; prose and page headers do.
        return ()
    best: dict[int, Candidate] = {}
    for label in _labels(template):
        overlap = len(grams & label.bigrams)
        if not overlap:
            continue
        agrees = None if numbering is None or label.numbering is None else numbering == label.numbering
        positional = len(label.bigrams) <= 2 and label.numbering is not None and numbering is None
        candidate = Candidate(
            label.row,
            overlap / len(grams),
            overlap / len(label.bigrams),
            overlap,
            agrees,
            key == label.key,
            positional,
        )
        if _acceptable(candidate, len(label.bigrams)) and (
            candidate.row not in best or _rank(candidate) > _rank(best[candidate.row])
        ):
            best[candidate.row] = candidate
    fragments = [c for c in best.values() if not _whole(c)]
    if len({c.row for c in fragments}) > 1:
        # A fragment that fits several labels (`政府信息公开`) tells nothing about which row it is.
        best = {row: c for row, c in best.items() if _whole(c)}
    return tuple(sorted(best.values(), key=_rank, reverse=True))


def _whole(c: Candidate) -> bool:
    return c.exact or (c.precision >= 0.6 and c.recall >= 0.6)


def _acceptable(c: Candidate, label_size: int) -> bool:
    if c.numbering_agrees is False and label_size <= 2:
        return False
    if label_size <= 3:
        # Short labels (`规章`, `总计`, `行政许可`) must be printed whole: too many words contain them.
        return c.exact or (c.precision == 1.0 and c.overlap >= label_size - 1 >= 1)
    if _whole(c):
        return True
    # A long label's first fragment, when the rest went to the next line.
    return c.precision >= 0.85 and c.overlap >= 4


def _rank(c: Candidate) -> tuple[bool, float, int]:
    return (c.exact, c.precision + c.recall, c.overlap)
