"""Cells: layouts split into the same cells; each cell becomes a number, a blank or text.

Separators keep the empty cells that say where a value stands; space-aligned text (`pdftotext
-layout`) keeps each value in its column, counted in display columns or in characters.
"""

import json
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core import parse_bytes
from worker.core.cells import (
    Kind,
    _split_line,
    _tokenize,
    _tokenize_patterns,
    text_to_numbered_rows,
    text_to_rows,
    tokenize_cell,
)
from worker.core.columns import Span, place_line, place_lines
from worker.core.layout import _wide_count, read_space_aligned
from worker.core.normalize import _MARKS, normalize, to_simplified

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("cell", "value", "unit"),
    [
        ("0", 0, None),
        ("12", 12, None),
        ("+2", 2, None),
        ("-3", -3, None),
        ("1,234", 1234, None),
        ("1150万", 1150, "万"),
        ("12 万元", 12, "万元"),
        ("21150.00", Decimal("21150.00"), None),
        ("0.35", Decimal("0.35"), None),
        ("无", 0, None),
        ("3件", 3, None),
    ],
)
def test_numbers_as_printed(cell: str, value: Decimal | int, unit: str | None) -> None:
    (token,) = tokenize_cell(cell)
    assert token.kind == Kind.NUMBER
    assert token.value == value
    assert token.unit == unit


@pytest.mark.parametrize("cell", ["—", "-", "/", "——", "???", "？", "\\", "1" * 16])
def test_blanks_and_unreadable_cells(cell: str) -> None:
    assert [t.kind for t in tokenize_cell(cell)] == [Kind.BLANK]


@pytest.mark.parametrize("cell", ["1/29", "- 2 -", "— 3 —", "第 3 页", "第3页 共29页", "Page 4 of 9"])
def test_page_furniture_disappears(cell: str) -> None:
    assert tokenize_cell(cell) == ()


@pytest.mark.parametrize(
    ("cell", "text", "values"),
    [
        ("T政处罚 0", "T政处罚", [0]),
        ("行政事业性收费 0", "行政事业性收费", [0]),
        ("行政许可97", "行政许可", [97]),
        ("行政处罚 22 0 53", "行政处罚", [22, 0, 53]),
    ],
)
def test_text_ending_in_numbers_gives_both(cell: str, text: str, values: list[int]) -> None:
    first, *rest = tokenize_cell(cell)
    assert (first.kind, first.text) == (Kind.TEXT, text)
    assert [t.value for t in rest] == values


@pytest.mark.parametrize(
    "cell", ["1.属于国家秘密", "2020年", "本年增/减", "0 件。", "第二十条第(一)项", '3.危及"三安全一稳定"']
)
def test_text_stays_text(cell: str) -> None:
    assert [t.kind for t in tokenize_cell(cell)] == [Kind.TEXT]


@pytest.mark.parametrize(
    "line",
    [
        "规章\t0\t0\t0",
        "规章 | 0 | 0 | 0 | |",
        "| 规章 | 0 | 0 | 0 |",
        "   规章          0        0       0",
    ],
)
def test_layouts_split_into_the_same_cells(line: str) -> None:
    (cells,) = text_to_rows(line)
    assert [c for c in cells if c] == ["规章", "0", "0", "0"]


def test_markdown_rules_and_markers_go() -> None:
    rows = text_to_rows("## 表二\n|---|---|\n- 一是加强\n> 引用")
    assert rows == [["表二"], ["一是加强"], ["引用"]]


def test_form_feed_breaks_lines() -> None:
    assert text_to_rows("a\x0cb") == [["a"], ["b"]]


# ---------------------------------------------------------------- separators


@pytest.mark.parametrize(
    ("line", "cells"),
    [
        ("| 规章 | 12 | 140 |", ["规章", "12", "140"]),  # a markdown row's closing bar is no cell
        ("规章 | 12 | 140 | ", ["规章", "12", "140", ""]),  # a separator's last cell is one
        ("规章\t0\t0\t\t", ["规章", "0", "0", "", ""]),  # trailing tabs are empty cells (seed 003)
        ("\t0", ["0"]),  # indentation (seed 002)
        ("0 | |", ["0"]),  # seed 004's bars after a cell alone
        ("行政事业性收费 2\t", ["行政事业性收费 2", ""]),  # a fused label keeps the empty cell after it
    ],
)
def test_separators_keep_the_empty_cells_that_are_cells(line: str, cells: list[str]) -> None:
    assert text_to_rows(line) == [cells]


def test_a_page_number_is_no_markdown_bullet() -> None:
    assert text_to_rows("- 2 -") == [["- 2 -"]]
    assert tokenize_cell("- 2 -") == ()


@pytest.mark.parametrize(
    ("cell", "kinds"),
    [
        ("规章2", [Kind.TEXT, Kind.NUMBER]),  # a two-character label glued to its value
        ("T政规范性文件 □", [Kind.TEXT, Kind.BLANK]),  # a fused value OCR could not read
        ("行政许可 -", [Kind.TEXT, Kind.BLANK]),
    ],
)
def test_a_label_fused_with_its_value(cell: str, kinds: list[Kind]) -> None:
    assert [t.kind for t in tokenize_cell(cell)] == kinds


# ---------------------------------------------------------------- space-aligned text (pdftotext -layout)


def _at(pieces: list[tuple[int, str]], wide: bool) -> str:
    """Texts at their columns: display columns (CJK two wide) or characters."""
    line = ""
    for column, text in pieces:
        used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line) if wide else len(line)
        line += " " * (column - used) + text
    return line


def _table(wide: bool) -> str:
    """Table 二's first group: 规章 prints its 本年废止件数 as nothing, 行政规范性文件 its 本年制发件数."""
    heads = [(0, "信息内容"), (20, "本年制发件数"), (36, "本年废止件数"), (52, "现行有效件数")]
    rows = [
        [(0, "规章"), (30, "5"), (62, "7")],
        [(0, "行政规范性文件"), (45, "12"), (61, "40")],
        [(0, "行政法规"), (30, "0"), (46, "0"), (62, "0")],  # a row the form does not have: any label
    ]
    lines = ["二、主动公开政府信息情况", "", _at([(16, "第二十条第（一）项")], wide), _at(heads, wide)]
    return "\n".join([*lines, *(_at(r, wide) for r in rows), ""])


@pytest.mark.parametrize("wide", [True, False])
def test_space_aligned_values_keep_their_columns(wide: bool) -> None:
    text = _table(wide)
    rows, numbers = read_space_aligned(text, normalize(text).text) or ([], [])
    assert ["规章", "5", "", "7"] in rows
    assert ["行政规范性文件", "", "12", "40"] in rows
    assert numbers == sorted(numbers)


def test_space_aligned_columns_from_the_headers_when_no_row_is_complete() -> None:
    heads = [(0, "信息内容"), (20, "本年制发件数"), (36, "本年废止件数"), (52, "现行有效件数")]
    text = "\n".join([_at(heads, True), _at([(0, "规章"), (30, "5"), (62, "7")], True)] * 1)
    text += "\n" + _at([(0, "行政规范性文件"), (30, "1"), (62, "2")], True) + "\n"
    text += _at([(0, "行政许可证"), (30, "3"), (62, "4")], True) + "\n"
    rows, _ = read_space_aligned(text, normalize(text).text) or ([], [])
    assert ["规章", "5", "", "7"] in rows  # the middle column is blank in every row: its header says so


def test_text_with_tabs_or_bars_is_not_space_aligned() -> None:
    text = "规章\t0\t0\t0\n行政规范性文件\t1\t2\t3\n行政许可\t4\n行政处罚\t5\n"
    assert read_space_aligned(text, text) is None


def test_pdftotext_layout_of_a_real_report() -> None:
    # poppler's -layout output of the native corpus PDF: columns in characters, values wandering
    # within their column, labels wrapped with their values on a middle line, a page break.
    truth = json.loads((FIXTURES / "corpus" / "native" / "expected" / "huaian-2024.json").read_text(encoding="utf-8"))
    result = parse_bytes((FIXTURES / "layout" / "huaian-2024-layout.txt").read_bytes(), "huaian-2024.txt")
    assert result.status == "valid"
    assert {k: v for k, v in result.cells.items() if v != truth["cells"][k]} == {}


# The fast paths of normalisation and of column placement against their plain definitions: the
# parser's results must not depend on which one runs.
_TRICKY = (
    "ab 1\n\r\t、，（）１\u3000\u00a0\u2013\u201c"  # separators, full width, marks
    "\u0301\u0327\u3099\uff76\uff9e\u1100\u1161\uac00\u00e9\u212b\ufb01"  # what NFKC composes or folds
    "*_~[]:bookmark臺灣"  # emphasis, bookmarks, Traditional script
)


# Every character a cell's last may be, written out here rather than taken from `_MAY_END`: digits
# of several scripts, units, blank marks, page furniture, letters and punctuation.
_CELL_CHARS = "0123456789٣３①.,+-%/ 　万元件条个项次—―─_\\…·?？�□■空无\x0c行政许可第共页Page of。，、()（）"


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(_CELL_CHARS), min_size=1, max_size=12))
def test_text_cells_skip_the_patterns_only_where_none_can_match(cell: str) -> None:
    cell = cell.strip()
    if cell:
        assert _tokenize(cell) == _tokenize_patterns(cell)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(_TRICKY), max_size=40))
def test_normalize_is_its_plain_definition(text: str) -> None:
    simplified = to_simplified(text)
    folded = unicodedata.normalize("NFKC", simplified.translate(str.maketrans(dict[str, str | int | None](_MARKS))))
    expected = re.sub(r"\[bookmark:[^\]]*\]", "", re.sub(r"\*\*|__|~~", "", folded))
    assert normalize(text).text == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("a 1-\u4e00\u4e8c\uff11\u3000\u00e9\u2014、，"), max_size=30), st.data())
def test_display_columns_count_wide_characters(line: str, data: st.DataObject) -> None:
    offsets = sorted(data.draw(st.lists(st.integers(0, len(line)), max_size=5)))
    for offset in offsets:
        wide = sum(
            1 for ch in line[:offset] if 0x1100 <= ord(ch) <= 0xFFFF and unicodedata.east_asian_width(ch) in "WF"
        )
        assert _wide_count(line[:offset]) == wide  # a display column is the offset plus these


_SPANS = st.tuples(st.integers(0, 60), st.integers(1, 8)).map(lambda s: Span(s[0], s[0] + s[1]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_SPANS, max_size=6), st.lists(st.lists(_SPANS, max_size=6), max_size=4))
def test_placing_lines_in_sorted_bands_is_placing_each_value(bands: list[Span], lines: list[list[Span]]) -> None:
    # Bands as the inferences return them: left to right, none overlapping another.
    sorted_bands: list[Span] = []
    for band in sorted(bands, key=lambda s: s.x0):
        if not sorted_bands or band.x0 >= sorted_bands[-1].x1:
            sorted_bands.append(band)
    assert place_lines(lines, sorted_bands) == [place_line(line, sorted_bands) for line in lines]


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="\t \x0b|0规章 1.", min_size=1, max_size=12))
def test_a_line_takes_the_cells_its_separators_give_whatever_shortcut_reads_it(line: str) -> None:
    rows, _ = text_to_numbered_rows(line)
    expected = line.rstrip(" ") if "\t" in line else line.rstrip()
    if not expected.strip() or expected.lstrip()[0] in "-*+#>":
        return  # a blank line (none), or markdown's (not this test's)
    assert rows == [_split_line(expected)]
