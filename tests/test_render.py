"""The test renderer itself: its random cells keep the checks' identities, its shapes print every value.

The checker here is written from spec §4 alone (not the parser's, not the renderer's helpers), so a
renderer bug cannot hide behind the code it would be testing.
"""

import random
import re
import unicodedata
from collections.abc import Iterator
from html.parser import HTMLParser

import opencc
import pytest

from tests.render import (
    BLANKS,
    ENCODINGS,
    INJECTABLE,
    ORGS,
    SHAPES,
    YEARS,
    Blanks,
    Cells,
    Encoding,
    Script,
    Shape,
    encode,
    inject,
    random_cells,
    render,
    title_of,
    to_traditional,
)
from worker.core import forms
from worker.core.forms import Template

SEEDS = range(100)
CASES = [(t, b) for t in forms.TEMPLATES for b in BLANKS]
DASH_SHAPES = ("cell_per_line", "pdf", "layout")  # shapes where a blank prints as a mark, not as nothing


# ---------------------------------------------------------------- an independent checker of spec §4


def _table_three(template: Template) -> tuple[list[str], list[str]]:
    """Rows of table 三 in printed order and its columns, read off the canonical keys."""
    rows: list[str] = []
    columns: list[str] = []
    for key in forms.table_keys(template, "applications"):
        _, row, column = key.split(".")
        rows += [row] if row not in rows else []
        columns += [column] if column not in columns else []
    return rows, columns


def _sum(values: list[int | float | None]) -> int | float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def check(cells: Cells, template: Template) -> set[str]:
    """The error codes of spec §4 that `cells` break; a check with a blank operand is skipped."""
    rows, columns = _table_three(template)
    # The result rows are the ones printed between 二、上年结转 and (七)总计.
    results = rows[rows.index("carried_over") + 1 : rows.index("results_total")]
    codes: set[str] = set()

    def cell(row: str, column: str) -> int | float | None:
        return cells[f"applications.{row}.{column}"]

    def differ(left: list[int | float | None], right: list[int | float | None]) -> bool:
        a, b = _sum(left), _sum(right)
        return a is not None and b is not None and a != b

    for column in columns:
        identity = (
            [cell("new_received", column), cell("carried_over", column)],
            [cell("results_total", column), cell("carried_forward", column)],
        )
        if differ(*identity):
            codes.add("E_IDENTITY")
        if differ([cell(r, column) for r in results], [cell("results_total", column)]):
            codes.add("E_RESULTS_TOTAL")
    for row in rows:
        if differ([cell(row, c) for c in columns if c != "total"], [cell(row, "total")]):
            codes.add("E_ROW_TOTAL")
    for group in ("review", "litigation_direct", "litigation_after_review"):
        parts = [cells[f"review_litigation.{group}.{c}"] for c in ("upheld", "corrected", "other", "pending")]
        if differ(parts, [cells[f"review_litigation.{group}.total"]]):
            codes.add("E_REVIEW_TOTAL")
    if any(v is not None and v < 0 for k, v in cells.items() if not k.endswith(".change")):
        codes.add("E_NEGATIVE")
    return codes


def test_checker_sees_a_broken_identity() -> None:
    cells = random_cells(random.Random(1), "2019")
    cells["applications.carried_forward.natural_person"] = (
        int(cells["applications.carried_forward.natural_person"] or 0) + 1
    )
    assert "E_IDENTITY" in check(cells, "2019")


# ---------------------------------------------------------------- random cells


def _samples(template: Template, blanks: Blanks) -> Iterator[Cells]:
    return (random_cells(random.Random(seed), template, blanks=blanks) for seed in SEEDS)


@pytest.mark.parametrize(("template", "blanks"), CASES)
def test_random_cells_keep_every_identity(template: Template, blanks: Blanks) -> None:
    for cells in _samples(template, blanks):
        assert list(cells) == list(forms.keys(template))
        assert check(cells, template) == set()


@pytest.mark.parametrize(("template", "blanks"), CASES)
def test_random_cells_have_the_types_of_the_spec(template: Template, blanks: Blanks) -> None:
    amounts = set(forms.amount_keys(template))
    for key, value in (item for cells in _samples(template, blanks) for item in cells.items()):
        if value is None:
            continue
        if key in amounts:
            assert isinstance(value, float) and value >= 0
            assert float(f"{value:.4f}") == value, f"{key}={value} has more than four decimals"
        else:
            assert isinstance(value, int) and not isinstance(value, bool)


@pytest.mark.parametrize(("template", "blanks"), CASES)
def test_blanks_fall_only_where_asked(template: Template, blanks: Blanks) -> None:
    for cells in _samples(template, blanks):
        _assert_blanks(cells, blanks)


def _assert_blanks(cells: Cells, blanks: Blanks) -> None:
    blank = {k for k, v in cells.items() if v is None}
    active = {k for k in blank if k.startswith("active.")}
    columns = {k.rsplit(".", 1)[1] for k in blank - active}
    assert bool(active) == (blanks in ("active", "both"))
    assert bool(columns) == (blanks in ("columns", "both"))
    assert blank - active <= {k for k in cells if k.startswith("applications.")}
    assert columns <= {"commercial", "research", "social_welfare", "legal_service", "other_org"}
    for column in columns:  # a blank column is blank in every row, as in real-013
        assert all(v is None for k, v in cells.items() if k.startswith("applications.") and k.endswith(f".{column}"))


def test_random_cells_look_like_real_reports() -> None:
    values = [v for s in range(200) for v in random_cells(random.Random(s), "2021").values() if v is not None]
    assert sum(1 for v in values if v == 0) > len(values) / 2, "mostly zeros"
    assert any(v >= 1000 for v in values), "now and then in the thousands"
    changes = [v for s in range(200) for k, v in random_cells(random.Random(s), "2019").items() if ".change" in k]
    assert any(v is not None and v < 0 for v in changes) and any(v is not None and v > 0 for v in changes)


# ---------------------------------------------------------------- error injection


@pytest.mark.parametrize("code", INJECTABLE)
@pytest.mark.parametrize("template", forms.TEMPLATES)
@pytest.mark.parametrize("blanks", ["none", "active"])
def test_inject_breaks_exactly_the_one_check(code: str, template: Template, blanks: Blanks) -> None:
    for seed in SEEDS:
        cells = random_cells(random.Random(seed), template, blanks=blanks)
        original = dict(cells)
        broken = inject(cells, template, code, random.Random(seed))
        assert cells == original, "inject must not change its input"
        assert check(broken, template) == {code}, f"seed {seed}"


@pytest.mark.parametrize("code", [c for c in INJECTABLE if c != "E_ROW_TOTAL"])
def test_inject_works_around_blank_columns(code: str) -> None:
    for seed in SEEDS:
        cells = random_cells(random.Random(seed), "2021", blanks="columns")
        assert check(inject(cells, "2021", code, random.Random(seed)), "2021") == {code}


def test_a_row_total_cannot_break_where_the_check_is_skipped() -> None:
    cells = random_cells(random.Random(3), "2019", blanks="columns")
    with pytest.raises(ValueError, match="skipped"):
        inject(cells, "2019", "E_ROW_TOTAL", random.Random(3))


# ---------------------------------------------------------------- every shape prints every value


_NUMBER = re.compile(r"(?<![\d.,])[+-]?\d[\d,]*(?:\.\d+)?(?:万元|万)?(?![\d.])|无|[—/－]|(?<![\w-])-(?![\w-])")


class _Text(HTMLParser):
    """The text content of a page, as a reader sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def _tokens(text: str, shape: Shape) -> Iterator[float | None]:
    """Numbers and blank marks of the tables' part of a report, in reading order."""
    if shape == "html":
        reader = _Text()
        reader.feed(text)
        text = "\n".join(reader.chunks)
    text = unicodedata.normalize("NFKC", text)
    tables = text[text.index("二、主动公开政府信息情况") : text.index("五、存在的主要问题及改进情况")]
    for printed in _NUMBER.findall(tables):
        if printed == "无":
            yield 0
        elif printed in ("—", "/", "-"):
            yield None
        else:
            yield float(printed.removesuffix("万元").removesuffix("万").replace(",", ""))


def _printed_in_order(cells: Cells, template: Template, text: str, shape: Shape) -> list[str]:
    """The keys whose value cannot be found, in key (= printed) order, after the previous one."""
    tokens = _tokens(text, shape)
    missing: list[str] = []
    for key in forms.keys(template):
        value = cells[key]
        if value is None and shape not in DASH_SHAPES:
            continue  # printed as nothing: no token to find
        if not any(t == value if value is not None else t is None for t in tokens):
            missing.append(key)
            break
    return missing


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("template", forms.TEMPLATES)
@pytest.mark.parametrize("blanks", BLANKS)
def test_every_shape_prints_every_value_in_order(shape: Shape, template: Template, blanks: Blanks) -> None:
    for seed in range(15):
        rng = random.Random(seed)
        cells = random_cells(rng, template, blanks=blanks)
        text = render(cells, template, shape, rng=rng)
        assert _printed_in_order(cells, template, text, shape) == [], f"seed {seed}"


@pytest.mark.parametrize("shape", SHAPES)
def test_a_missing_value_would_be_noticed(shape: Shape) -> None:
    cells = random_cells(random.Random(5), "2019")
    cells["review_litigation.litigation_after_review.total"] = 987654  # breaks the rule, prints a new number
    text = render(random_cells(random.Random(5), "2019"), "2019", shape)
    assert _printed_in_order(cells, "2019", text, shape) == ["review_litigation.litigation_after_review.total"]


# ---------------------------------------------------------------- what each shape looks like


def _render(shape: Shape, template: Template = "2021", seed: int = 0, script: Script = "simplified") -> str:
    rng = random.Random(seed)
    return render(random_cells(rng, template, blanks="both"), template, shape, rng=rng, script=script)


def _tables(text: str) -> str:
    return text[text.index("二、主动公开政府信息情况") : text.index("五、存在的主要问题及改进情况")]


@pytest.mark.parametrize("shape", SHAPES)
def test_render_is_deterministic_for_a_seed(shape: Shape) -> None:
    assert _render(shape, seed=9) == _render(shape, seed=9)
    assert len({_render(shape, seed=s) for s in range(5)}) == 5


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("template", forms.TEMPLATES)
def test_title_sections_and_narrative(shape: Shape, template: Template) -> None:
    for seed in range(10):
        rng = random.Random(seed)
        cells = random_cells(rng, template)
        text = render(cells, template, shape, org="川汇区信访局", year=YEARS[template][-1], rng=rng)
        assert title_of("川汇区信访局", YEARS[template][-1]) in text
        positions = [
            text.index(h)
            for h in (
                "一、总体情况",
                "二、主动公开",
                "三、收到和处理",
                "四、政府信息公开行政复议",
                "五、存在",
                "六、其他",
            )
        ]
        assert positions == sorted(positions)
        flat = re.sub(r"\s+", "", text)  # PDF text wraps prose and spaces numbers
        received = cells["applications.new_received.total"]
        assert f"本年度共收到政府信息公开申请{received}件" in flat or (
            received == 0 and "本年度未收到政府信息公开申请" in flat
        )
        assert f"行政复议{cells['review_litigation.review.total']}件" in flat


def test_tab_shape_is_tab_separated() -> None:
    tables = _tables(_render("tab"))
    assert "行政许可\t" in tables and "|" not in tables


def test_pipe_shape_is_ragged() -> None:
    texts = [_tables(_render("pipe", seed=s)) for s in range(10)]
    assert all(" | " in t and "\t" not in t for t in texts)
    assert any(re.search(r"\| \|$", t, re.MULTILINE) for t in texts), "empty cells at the end of lines"


def test_cell_per_line_has_one_cell_a_line() -> None:
    for seed in range(10):
        for line in _tables(_render("cell_per_line", seed=seed)).splitlines():
            assert "\t" not in line.strip() and " | " not in line.strip(" |"), line


def test_markdown_has_tables_and_emphasis() -> None:
    text = _render("markdown", seed=1)
    assert len(re.findall(r"^\|---\|", text, re.MULTILINE)) == 3 and "**" in text and text.startswith("# ")


def test_layout_is_aligned_with_spaces() -> None:
    for seed in range(10):
        tables = _tables(_render("layout", seed=seed))
        assert "\t" not in tables
        assert re.search(r"行政处罚 {2,}\S", tables)


def test_pdf_has_a_page_break_inside_table_three() -> None:
    for seed in range(10):
        text = _render("pdf", seed=seed)
        three = text[text.index("三、收到和处理") : text.index("四、政府信息公开行政复议")]
        assert "\f" in three
        assert re.search(r"^(\d+/\d+|- \d+ -)", three, re.MULTILINE)


def test_pdf_splits_long_and_group_labels() -> None:
    labels = {unicodedata.normalize("NFKC", label) for row in forms.ROWS["2021"] for label in row.labels}
    lines = [
        unicodedata.normalize("NFKC", line.strip("\t "))
        for s in range(20)
        for line in _tables(_render("pdf", seed=s)).splitlines()
    ]
    # A label's tail alone on the line after its values (seed 000's 3.危及“三安全一稳 / 定”).
    assert any(line and any(label.endswith(line) and label != line for label in labels) for line in lines)
    # A group label spread over rows (seed 003's (三) 不予 / 公开).
    assert any(re.search(r"\(三\) ?[^\t公]*\t", line) for line in lines)


class _Checker(HTMLParser):
    """Insists on matched tags; lays each table's cells out on a grid, spans included."""

    void = frozenset({"meta", "br", "img", "hr", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.grids: list[dict[int, set[int]]] = []  # per table: row -> occupied columns
        self.row = -1
        self.col = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.void:
            self.stack.append(tag)
        if tag == "table":
            self.grids.append({})
            self.row = -1
        elif tag == "tr":
            self.row, self.col = self.row + 1, 0
        elif tag == "td":
            spans = {k: int(v or 1) for k, v in attrs if k in ("colspan", "rowspan")}
            grid = self.grids[-1]
            while self.col in grid.setdefault(self.row, set()):
                self.col += 1
            for i in range(spans.get("rowspan", 1)):
                grid.setdefault(self.row + i, set()).update(range(self.col, self.col + spans.get("colspan", 1)))
            self.col += spans.get("colspan", 1)

    def handle_startendtag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        assert tag in self.void, tag

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def _well_formed(page: str) -> list[dict[int, set[int]]]:
    """Parse a page, insisting on matched tags; return each table's grid."""
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    return checker.grids


@pytest.mark.parametrize("template", forms.TEMPLATES)
def test_html_is_well_formed_with_a_rectangular_grid(template: Template) -> None:
    for seed in range(20):
        page = _render("html", template, seed)
        report = [grid for grid in _well_formed(page) if len(grid) > 3]
        assert len(report) == 3
        for grid in report:  # every row fills the same columns, with no holes
            assert len({frozenset(columns) for columns in grid.values()}) == 1, grid


def test_html_has_spans_a_reader_must_resolve() -> None:
    pages = [render(random_cells(random.Random(s), "2019"), "2019", "html", rng=random.Random(s)) for s in range(10)]
    value = r'<td colspan="2">(?:<p>|&nbsp;|<p align="center"><span[^>]*>)?[+-]?[\d,.万元]+<'
    assert all(re.search(value, p) for p in pages), "a value cell spanning two columns"
    assert all(re.search(r'<td rowspan="8">', p) and re.search(r'<td rowspan="2\d">', p) for p in pages)
    assert all("<nav" in p and "<script" in p for p in pages)


# ---------------------------------------------------------------- script and bytes


def test_traditional_round_trips_the_organs() -> None:
    t2s = opencc.OpenCC("t2s")
    for org in ORGS:
        assert t2s.convert(to_traditional(org)) == org
    assert "報告" in to_traditional(title_of("某某县某某局", 2022))


@pytest.mark.parametrize("shape", SHAPES)
def test_traditional_render_is_traditional(shape: Shape) -> None:
    text = _render(shape, script="traditional")
    assert "政府信息公開工作年度報告" in text and "公开" not in text


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("crlf", [False, True])
def test_encode_round_trips(encoding: Encoding, crlf: bool) -> None:
    for shape in SHAPES:
        text = _render(shape, script="traditional") + "１２—－“”"
        data = encode(text, encoding, crlf=crlf)
        assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
        assert data[:2] in (b"\xff\xfe", b"\xfe\xff") or encoding != "utf-16"
        decoded = data.decode(encoding)
        expected = text.replace("\n", "\r\n") if crlf else text
        if shape == "html":
            declared = "utf-8" if encoding == "utf-8-sig" else encoding
            expected = expected.replace("charset=utf-8", f"charset={declared}")
        assert decoded == expected
