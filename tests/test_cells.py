"""Cells: layouts split into the same cells; each cell becomes a number, a blank or text."""

from decimal import Decimal

import pytest

from worker.core.cells import Kind, text_to_rows, tokenize_cell


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
