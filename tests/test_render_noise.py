"""The renderer's damage (issue 8): what extractors and OCR do to tables, and what it leaves undetermined.

Each class prints as real files have it (a row that lost its blank cells, a label fused with its
value, OCR look-alikes, page furniture inside a row, `-layout` text with wrapped labels and blanks
printed as nothing) and says which cells a careful reader could no longer settle.
"""

import random
import re

import pytest

from tests.render import SHAPES, Blanks, Cells, Noise, Shape, draw_noise, random_cells, render, render_report
from tests.render_layout import display_width
from worker.core import forms
from worker.core.forms import Template


def _tables(text: str) -> str:
    return text[text.index("二、主动公开政府信息情况") : text.index("五、存在的主要问题及改进情况")]


def _damaged(
    shape: Shape, noise: Noise, seed: int = 0, template: Template = "2021", blanks: Blanks = "both"
) -> tuple[Cells, str, frozenset[str]]:
    rng = random.Random(seed)
    cells = random_cells(rng, template, blanks=blanks)
    rendered = render_report(cells, template, shape, rng=rng, noise=noise)
    return cells, rendered.text, rendered.undetermined


@pytest.mark.parametrize("shape", SHAPES)
def test_no_damage_is_the_plain_render(shape: Shape) -> None:
    rng, again = random.Random(4), random.Random(4)
    cells = random_cells(rng, "2019", blanks="both")
    assert render_report(cells, "2019", shape, rng=rng).text == render(
        random_cells(again, "2019", blanks="both"), "2019", shape, rng=again
    )
    assert render_report(cells, "2019", shape, rng=random.Random(1)).undetermined == frozenset()


@pytest.mark.parametrize("shape", ["tab", "pipe", "markdown"])
def test_a_short_row_has_fewer_cells_than_columns_and_is_undetermined(shape: Shape) -> None:
    separator = "\t" if shape == "tab" else "|"
    for seed in range(10):
        cells, text, undetermined = _damaged(shape, Noise(short=1.0), seed, blanks="active")
        rows = [
            r for r in forms.ROWS["2021"] if r.table == forms.TABLE_ACTIVE and any(k in undetermined for k in r.keys)
        ]
        assert rows, "every row with a blank is printed short"
        for row in rows:
            assert any(cells[k] is None for k in row.keys) and set(row.keys) <= undetermined
            line = next(
                t for t in _tables(text).splitlines() if t.strip(" |").split(separator)[0].strip() in row.labels
            )
            printed = [c.strip() for c in line.strip(" |").split(separator)[1:]]
            assert len(printed) < row.width and all(printed), line


def test_a_fused_label_carries_its_value_and_makes_it_doubtful() -> None:
    found = 0
    for seed in range(10):
        cells, text, undetermined = _damaged("pdf", Noise(fused=1.0, duplicated=1.0), seed, blanks="none")
        for key in undetermined:
            label = next(r.labels for r in forms.ROWS["2021"] if key in r.keys)
            value = str(cells[key])
            found += any(re.search(rf"{re.escape(lab)} ?{value}(\t|$)", text, re.MULTILINE) for lab in label)
    assert found


def test_ocr_look_alikes_in_labels() -> None:
    texts = [_damaged("pdf", Noise(ocr=1.0), seed)[1] for seed in range(5)]
    assert all("T政" in text for text in texts)


def test_furniture_between_a_label_and_its_values() -> None:
    text = _damaged("cell_per_line", Noise(furniture=1.0), 3)[1]
    assert re.search(r"^(行政处罚|规章)[ |]*\n[^\n]*\d[^\n]*\n\x0c", _tables(text), re.MULTILINE)


def test_layout_blanks_are_nothing_and_columns_stay() -> None:
    _, text, undetermined = _damaged("layout", Noise(blank_nothing=True), 2, blanks="active")
    tables = _tables(text)
    assert not re.search(r"\s[—/－]\s", tables)
    assert undetermined == frozenset()  # the headers and the other rows say where each blank is


def test_layout_wraps_labels_with_values_centred() -> None:
    tables = _tables(_damaged("layout", Noise(wrapped=1.0), 5, blanks="none")[1])
    lines = tables.splitlines()
    middle = [i for i, line in enumerate(lines) if re.match(r"\s+\S.*\s{2,}\d", line) and not re.match(r"\s*\d", line)]
    assert any(lines[i - 1].strip() and not re.search(r"\d\s*$", lines[i - 1]) for i in middle)


def test_layout_by_characters_or_display_columns() -> None:
    wide = _tables(_damaged("layout", Noise(), 1, blanks="none")[1]).splitlines()
    chars = _tables(_damaged("layout", Noise(by_chars=True), 1, blanks="none")[1]).splitlines()
    row_wide = [line for line in wide if line.startswith(("规章", "行政规范性文件"))]
    row_chars = [line for line in chars if line.startswith(("规章", "行政规范性文件"))]
    assert len({display_width(line) for line in row_wide}) == 1  # right-aligned values end together
    assert len({len(line) for line in row_chars}) == 1


def test_draw_noise_mixes_every_class_for_its_shapes() -> None:
    seen: dict[str, set[str]] = {}
    for seed in range(300):
        for shape in SHAPES:
            noise = draw_noise(random.Random(seed), shape)
            seen.setdefault(shape, set()).update(k for k, v in vars_of(noise).items() if v)
    assert {"fused", "duplicated", "short", "ocr", "furniture"} <= seen["pdf"]
    assert {"wrapped", "blank_nothing", "by_chars", "centred", "jitter", "furniture", "ocr"} <= seen["layout"]
    assert "blank_nothing" in seen["cell_per_line"] and not seen["html"]


def vars_of(noise: Noise) -> dict[str, object]:
    return {name: getattr(noise, name) for name in noise.__dataclass_fields__}
