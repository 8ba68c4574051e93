"""Fuzzy recognition of the form's row labels in a text cell.

Labels are compared as sets of character bigrams after dropping numbering, punctuation and
spaces, so OCR junk, split labels (`5.属于三类内部事务信` / `息`) and printed variants
(`其他法律法规禁止公开`) still match, and a sentence that merely mentions a label does not.
"""

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from worker.core.forms import ROWS, Template

_NUMBERING = re.compile(
    r"^\s*(?:\(\s*([一二三四五六七八九十]+|\d{1,2})\s*\)|([一二三四五六七八九十]+)\s*、|(\d{1,2})\s*[.、)])\s*"
)
# Where a cell holds a group label and a row label (`(四)无2.没有现成信息…`), split before the
# second numbering so that each part is matched on its own.
_INNER_NUMBERING = re.compile(r"(?<=[^\s(（])\s*(?=\([一二三四五六七八九十]\)|(?<!\d)\d\.(?!\d))")
_DIGIT = re.compile(r"\d")
# Letters of a numbered label's head that identify it (`3.危及“三安` → 3.危及“三安全一稳定”).
_HEAD = 3
# A text with more letters than this many times the longest label's is no label (prose).
_REPEATS = 3
# One class then a star, not `[…]+`: a pattern led by a class lets the regex engine skip to the
# next match at C speed, where one led by a repeat is tried at every character (Python 3.11).
_NOT_LETTER = re.compile(r"[^\u4e00-\u9fffA-Za-z][^\u4e00-\u9fffA-Za-z]*")
# OCR look-alikes of the form's characters (seed 003's `T政处罚`): read as the character printed.
_LOOKALIKES = (("己", "已"), ("末", "未"), ("入", "人"), ("曰", "日"))
_OCR_XING = re.compile(r"[Tt丁](?=政)")
# Words of the form that are no row label: group labels spanning rows (and their pieces), and
# the tables' headers (a page break may repeat them inside a row).
_GROUPS = ("三、本年度办理结果", "(三)不予公开", "(四)无法提供", "(五)不予处理", "(六)其他处理")
_HEADERS = (
    *(f"第二十条第({n})项" for n in "一五六八九"),
    "信息内容",
    "本年新制作数量",
    "本年新公开数量",
    "对外公开总数量",
    "上一年项目数量",
    "本年增/减",
    "处理决定数量",
    "本年处理决定数量",
    "采购项目数量",
    "采购总金额",
    "本年制发件数",
    "本年废止件数",
    "现行有效件数",
    "本年收费金额(单位:万元,保留4位小数)",
    "(本列数据的勾稽关系为:第一项加第二项之和,等于第三项加第四项之和)",
    "申请人情况",
    "自然人",
    "法人或其他组织",
    "商业企业",
    "科研机构",
    "社会公益组织",
    "法律服务机构",
    "其他",
    "总计",
    "行政复议",
    "行政诉讼",
    "结果维持",
    "结果纠正",
    "其他结果",
    "尚未审结",
    "未经复议直接起诉",
    "复议后起诉",
)


class Role(Enum):
    """What a text that labels no new row is, for the rows around it."""

    FORM = "form"  # a piece of a row or group label, or too short to say: no row of its own
    HEADER = "header"  # table header words: between rows, or repeated after a page break
    OTHER = "other"  # anything else: possibly the label of a row that was not recognised


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
    # A numbered label's first characters (`3.危及“三安`): the head of a label wrapped in its cell.
    head: bool = False

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
    if "(" not in text and "." not in text:
        return (text,) if text.strip() else ()  # no inner numbering can start: prose, most labels
    return tuple(p for p in _INNER_NUMBERING.split(text) if p.strip())


@lru_cache(maxsize=65536)
def label_key(text: str) -> tuple[str | None, str]:
    """The numbering (`七`, `3`) and the letters of a label, for comparison.

    Cached: a text is asked about for both templates, as a row's label and as a role.
    """
    numbering = None
    match = _NUMBERING.match(text)
    if match:
        numbering = next(g for g in match.groups() if g)
        text = text[match.end() :]
    return numbering, _fold(_NOT_LETTER.sub("", text))


def _fold(key: str) -> str:
    """A label's letters with OCR look-alikes read as the form's characters."""
    if "政" in key:
        key = _OCR_XING.sub("行", key)
    # One C-speed scan per look-alike costs less than `translate`'s lookup per character; no
    # replacement is itself a look-alike, so replacing one after another is translating.
    for lookalike, by in _LOOKALIKES:
        if lookalike in key:
            key = key.replace(lookalike, by)
    return key


def _bigrams(key: str) -> frozenset[str]:
    if len(key) < 2:
        return frozenset((key,)) if key else frozenset()
    return frozenset(map(str.__add__, key, key[1:]))


@lru_cache(maxsize=4)
def _labels(template: Template) -> tuple[_Label, ...]:
    labels: list[_Label] = []
    for index, row in enumerate(ROWS[template]):
        for printed in row.labels:
            numbering, key = label_key(printed)
            labels.append(_Label(index, key, numbering, _bigrams(key)))
    return tuple(labels)


@lru_cache(maxsize=4)
def _by_bigram(template: Template) -> tuple[dict[str, tuple[int, ...]], int]:
    """The labels (their places in `_labels`) holding each bigram, and the most bigrams of a label."""
    index: dict[str, list[int]] = {}
    for place, label in enumerate(_labels(template)):
        for gram in label.bigrams:
            index.setdefault(gram, []).append(place)
    return {gram: tuple(places) for gram, places in index.items()}, max(len(x.bigrams) for x in _labels(template))


@lru_cache(maxsize=4)
def _longest(template: Template) -> int:
    """The most letters of a label's key."""
    return max(len(label.key) for label in _labels(template))


@lru_cache(maxsize=65536)
def candidates(template: Template, text: str) -> tuple[Candidate, ...]:
    """Every row the text could label, best first; empty when it looks like no label at all."""
    prefix = _NUMBERING.match(text)
    if _DIGIT.search(text, prefix.end() if prefix else 0):
        # No label of the form holds a number past its numbering; prose and page headers do.
        return ()
    numbering, key = label_key(text)
    if len(key) < 2:
        return ()
    index, most = _by_bigram(template)
    if len(key) > _REPEATS * _longest(template):
        # Prose however repetitive: a cell prints a label once (twice where it is duplicated). Told
        # by the length alone: the distinct letters below cost more than the rest of this together.
        return ()
    # Prose: every acceptable candidate covers ≥ 0.6 of the text's bigrams (or is the label or its
    # head), which no label has enough bigrams to do past 5/3 of the most a label has. A key has at
    # least as many bigrams as distinct letters but one, and no more distinct letters than letters:
    # most prose is told without its bigrams, and a short key cannot be told by its letters.
    if 3 * (len(key) - 1) > 5 * most and 3 * (len(set(key)) - 1) > 5 * most:
        return ()
    grams = _bigrams(key)
    if 3 * len(grams) > 5 * most:
        return ()
    # The overlap of the text with each label sharing a bigram, counted from the index rather than
    # intersected label by label; the labels are then taken in their order, as before.
    overlaps: dict[int, int] = {}
    for gram in grams:
        for place in index.get(gram, ()):
            overlaps[place] = overlaps.get(place, 0) + 1
    labels = _labels(template)
    best: dict[int, Candidate] = {}
    for place in sorted(overlaps):
        label = labels[place]
        overlap = overlaps[place]
        agrees = None if numbering is None or label.numbering is None else numbering == label.numbering
        positional = len(label.bigrams) <= 2 and label.numbering is not None and numbering is None
        head = bool(agrees) and len(key) >= _HEAD and label.key.startswith(key)
        candidate = Candidate(
            label.row,
            overlap / len(grams),
            overlap / len(label.bigrams),
            overlap,
            agrees,
            key == label.key,
            positional,
            head,
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
    return c.exact or c.head or (c.precision >= 0.6 and c.recall >= 0.6)


def _acceptable(c: Candidate, label_size: int) -> bool:
    if c.head:
        return True
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


@lru_cache(maxsize=4)
def _blobs(template: Template) -> tuple[str, str]:
    """Every header key, and every row and group label key, joined: a key inside is a piece of one."""
    labels = [label_key(printed)[1] for row in ROWS[template] for printed in row.labels]
    groups = [label_key(g)[1] for g in _GROUPS]
    return "|".join(label_key(h)[1] for h in _HEADERS), "|".join(labels + groups)


@lru_cache(maxsize=65536)
def role(template: Template, text: str) -> Role:
    """What a text that labels no new row is: a piece of the form's labels, its headers, or other."""
    key = label_key(text)[1]
    if len(key) <= 1 or "报告" in key:
        return Role.FORM  # a character of a label printed one per line, or the running title
    headers, labels = _blobs(template)
    if key in labels or _pieces_of(key, labels):
        return Role.FORM
    return Role.HEADER if key in headers or _headers_only(key) else Role.OTHER


def header_piece(text: str) -> bool:
    """Whether a text is a table header's word or a piece of one (`本年制发件数`, `社会公益`)."""
    key = label_key(text)[1]
    return bool(key) and key in _blobs("2021")[0] + "|" + _blobs("2019")[0]


def _pieces_of(key: str, labels: str) -> bool:
    """Whether a key is pieces of the form's labels run together (`法提供行制作`: the group label's
    `法提供` and a wrapped label's tail `行制作`), each at least two characters long."""
    while key:
        size = 0
        while size < len(key) and key[: size + 1] in labels:
            size += 1
        if size < 2 and len(key) > 1:
            return False
        key = key[max(size, 1) :]
    return True


@lru_cache(maxsize=1)
def _header_keys() -> tuple[str, ...]:
    return tuple(sorted({label_key(h)[1] for h in _HEADERS}, key=len, reverse=True))


def _headers_only(key: str) -> bool:
    """Whether a key is header words printed together (`结果维持 结果纠正 其他`), the last one
    possibly cut short."""
    words = _header_words()
    while key:
        word = words.match(key)
        if word is None:
            return key in _blobs("2021")[0]
        key = key[word.end() :]
    return True


@lru_cache(maxsize=1)
def _header_words() -> re.Pattern[str]:
    """The header keys, longest first, as one pattern: its first alternative to match is the
    longest key the text starts with, found at C speed."""
    return re.compile("|".join(map(re.escape, _header_keys())))
