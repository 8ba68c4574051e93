"""Space-aligned text: the way of counting offsets (display columns or characters) is weighed once
per document where its largest table tells, and a table read that way alone reads as it would
if every table were weighed both ways."""

import unicodedata
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.accuracy import make_case, render_case
from worker.core import layout
from worker.core.columns import (
    Span,
    _nearest,
    _nearest_sorted,
    add_header_columns,
    bands_in_order,
    infer_bands_near,
    place_lines,
)
from worker.core.decode import decode
from worker.core.layout import _lines, _measured, _separated, _tables, read_space_aligned
from worker.core.layout_columns import METRICS, Cell, Line, Table, _Count, _ranked, _spans
from worker.core.normalize import normalize


def _at(pieces: list[tuple[int, str]], by_chars: bool = False) -> str:
    """Texts at their columns: display columns (CJK two wide, `pdftotext -layout`'s usual) or
    characters."""
    line = ""
    for column, text in pieces:
        used = len(line) if by_chars else sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
        line += " " * (column - used) + text
    return line


_LABELS = ["规章", "行政规范性文件", "行政许可", "行政处罚", "行政强制"]


def _first_page(by_chars: bool) -> list[str]:
    """A table whose labels differ in width and whose values line up under one way of counting;
    one row prints its first value as nothing, so that its columns are inferred."""
    rows = [[(20, str(k)), (30, str(k + 10)), (40, str(k + 20))] for k in range(len(_LABELS))]
    rows[1] = rows[1][1:]
    return [_at([(0, label), *row], by_chars) for label, row in zip(_LABELS, rows, strict=True)]


def _lines_of(text: str) -> list[Line]:
    normalized = normalize(text).text
    return _lines(text.replace("\r", "").split("\n"), normalized.split("\n"))


def _placed_weighing_every_table(lines: list[Line]) -> dict[int, list[str]]:
    """The reading before the shortcut: every table weighed both ways, the clear ones voting."""
    tables = [Table(lines, region, above) for region, above in _tables(lines)]
    votes = Counter(t.clear for t in tables if t.clear)
    document = votes.most_common(1)[0][0] if votes else None
    placed: dict[int, list[str]] = {}
    for table in tables:
        table.decide(document)
        placed.update(table.rows())
    return placed


def _placed(lines: list[Line]) -> dict[int, list[str]]:
    tables, document = _measured(lines)
    placed: dict[int, list[str]] = {}
    for table in tables:
        table.decide(document)
        placed.update(table.rows())
    return placed


def test_rendered_documents_read_as_when_every_table_is_weighed_both_ways() -> None:
    alone = weighed = 0
    for index in range(4, 4 + 7 * 150, 7):  # the accuracy bench's space-aligned cases, every noise class
        case = make_case(index, 11)
        assert case.shape == "layout"
        lines = _lines_of(decode(render_case(case).data).text)
        assert _placed(lines) == _placed_weighing_every_table(lines), case
        tables, _ = _measured(lines)
        alone += sum(1 for t in tables if len(t.counts) == 1)
        weighed += sum(1 for t in tables if len(t.counts) == 2)
        for table in tables:
            _assert_ranked_by_score(table)
    assert alone > 0 and weighed > 0  # both readings happen in these documents


def _assert_ranked_by_score(table: Table) -> None:
    """A table's counts are ranked as whole scores rank them (the way listed first on a tie), and
    it is clear exactly where the scores differ in what the values alone tell."""
    listed = sorted(table.counts, key=lambda c: METRICS.index(c.metric))
    assert table.counts == sorted(listed, key=lambda c: c.score, reverse=True)
    differ = len(listed) == 2 and listed[0].score[:3] != listed[1].score[:3]
    assert table.clear == (table.counts[0].metric if differ else None)


def _two_pages() -> str:
    """Page 1: a table printed by display columns. Page 2: a table whose second value, counted in
    display columns, spans two columns; counted in characters it stands in the first."""
    page2 = [_at([(0, "规章"), (20, "12"), (30, "34"), (40, "56")]), _at([(0, "行政规范性文件"), (21, "1234567890")])]
    return "\n".join(["一、总体情况", *_first_page(False), "\x0c" + page2[0], page2[1], ""])


def test_a_table_that_does_not_fit_the_documents_way_is_weighed_both_ways() -> None:
    lines = _lines_of(_two_pages())
    tables, document = _measured(lines)
    assert document == "cols"  # the table of page 1 tells: its values line up in display columns
    assert len(tables) == 2 and len(tables[1].counts) == 2  # page 2's table was weighed both ways
    assert tables[1].clear == "chars"
    rows, _ = read_space_aligned(_two_pages(), normalize(_two_pages()).text) or ([], [])
    assert ["行政规范性文件", "1234567890", "", ""] in rows  # in its column, not unreadable
    assert ["行政规范性文件", "", "11", "21"] in rows


@pytest.mark.parametrize("by_chars", [False, True])
def test_a_table_that_fits_the_documents_way_is_read_that_way_alone(by_chars: bool) -> None:
    page2 = [
        _at([(0, "规章"), (20, "9"), (30, "12"), (40, "34")], by_chars),
        _at([(0, "行政许可"), (20, "5"), (40, "7")], by_chars),
    ]
    text = "\n".join(["一、总体情况", *_first_page(by_chars), "\x0c" + page2[0], page2[1], ""])
    lines = _lines_of(text)
    tables, document = _measured(lines)
    assert document == ("chars" if by_chars else "cols")
    assert len(tables[0].counts) == 2 and len(tables[1].counts) == 1  # page 2: the document's way alone
    assert _placed(lines) == _placed_weighing_every_table(lines)
    rows, _ = read_space_aligned(text, normalize(text).text) or ([], [])
    assert ["规章", "9", "12", "34"] in rows and ["行政许可", "5", "", "7"] in rows


_PIECES = [
    "规章",
    "行政许可",
    "1.属于国家秘密",
    "无",
    "12",
    "1,215",
    "0.5",
    "-",
    "+938",
    "５",
    "１２",
    "万",
    "—",
    ",",
    "3 万",
    "a b",
]
_GAPS = [" ", "  ", "   ", "\u3000 ", " \u3000", "      "]


def _wide(text: str) -> int:
    return sum(1 for ch in text if 0x1100 <= ord(ch) <= 0xFFFF and unicodedata.east_asian_width(ch) in "WF")


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_GAPS), st.sampled_from(_PIECES)), min_size=1, max_size=8))
def test_a_line_of_values_is_cut_as_any_line_is(pieces: list[tuple[str, str]]) -> None:
    """The shortcut for a label and its numbers (a cached label, the numbers split off) gives the
    cells the general cut gives, at their display columns (offset plus wide characters before)."""
    src = "".join(gap + piece for gap, piece in pieces)
    norm = normalize(src).text
    if len(norm) != len(src):
        src = norm  # as `_lines` does: positions from the normalised text
    cut = layout._cells(src, norm)
    assert cut == layout._line(layout._cut(src, norm)[0])
    for cell in cut[0]:
        assert (cell.col0, cell.col1) == (cell.char0 + _wide(src[: cell.char0]), cell.char1 + _wide(src[: cell.char1]))


_SPANS = st.lists(
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 6)).map(lambda s: Span(s[0], s[0] + s[1])), max_size=5),
    min_size=1,
    max_size=6,
)


def _a_count(metric: str, spans: list[list[Span]], headers: list[Span]) -> _Count:
    found = infer_bands_near(spans, 2)
    return _Count(metric, spans, found, add_header_columns(found, sorted(headers)), tuple(headers))


@settings(max_examples=1000, deadline=None)
@given(_SPANS, _SPANS, st.lists(st.integers(0, 40).map(lambda x: Span(x, x + 3)), max_size=4), st.booleans())
def test_counts_are_ranked_as_their_whole_scores_rank_them(
    first: list[list[Span]], second: list[list[Span]], headers: list[Span], same: bool
) -> None:
    """`_ranked` works a score out only as far as it takes (values placed first, the placements of
    a count that cannot place as many not at all): it ranks as sorting by whole scores does."""
    second = first if same else second
    ranked, clear = _ranked([_a_count("cols", first, headers), _a_count("chars", second, headers)])
    whole = [_a_count("cols", first, headers), _a_count("chars", second, headers)]
    expected = sorted(whole, key=lambda c: c.score, reverse=True)
    assert [c.metric for c in ranked] == [c.metric for c in expected]
    assert [c.score for c in ranked] == [c.score for c in expected]
    assert clear == (whole[0].score[:3] != whole[1].score[:3])


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="a |\t\n", max_size=60))
def test_a_text_with_few_bars_and_no_tab_is_not_separated_without_a_look_at_its_lines(text: str) -> None:
    lines = text.split("\n")
    every_line = sum(1 for line in lines if "\t" in line.strip() or line.count("|") >= 2) >= 3
    assert _separated(text, lines) == every_line


@settings(max_examples=1000, deadline=None)
@given(_SPANS)
def test_values_as_bare_pairs_find_the_bands_and_places_spans_find(lines: list[list[Span]]) -> None:
    """A table's values are handed to the column inference as plain `(x0, x1)` tuples, cheaper to
    build than `Span`s: the bands and placements are those the same values as `Span`s give."""
    pairs = [[(s.x0, s.x1) for s in line] for line in lines]
    assert bands_in_order(pairs, 2) == bands_in_order(lines, 2)
    near = infer_bands_near(pairs, 2)
    assert near == infer_bands_near(lines, 2)
    assert place_lines(pairs, near) == place_lines(lines, near)
    assert _spans("cols", [[Cell("1", s.x0, s.x1, s.x1, s.x1 + 1, True) for s in line] for line in lines]) == [
        [(s.x1, s.x1 + 1) for s in line] for line in lines
    ]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=8), st.integers(-5, 45))
def test_the_nearest_of_centres_in_order_is_found_by_bisection_as_by_a_scan(halves: list[int], at: int) -> None:
    """Header centres left to right (as `layout`'s header leaves stand): bisection finds the index
    a scan finds, the first of equal distances and of equal centres."""
    centres = sorted(h / 2 for h in halves)
    assert _nearest_sorted(centres, at / 2) == _nearest(centres, at / 2)
