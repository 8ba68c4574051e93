"""What extractors and OCR do to real tables, for the test renderer: fused and duplicated labels,
rows whose blank cells were dropped, OCR look-alikes, page furniture inside a row.

Each damage says what it costs a careful reader: a row that lost its blank cells (`| 规章 | 12 | 140 |`
under three columns) no longer says which column is blank, so all its cells are undetermined; a value
fused into its label (`T政规范性文件 3`) is doubtful. Such keys go to `style.undetermined`, where the
parser may give null (with a warning) or the printed number, never another number.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from tests.render_grid import Noise, Shape, _Cell, _Style

# OCR look-alikes seen in real reports (seed 003's `T政处罚`): printed character → what OCR read.
LOOKALIKES = (("行政", "T政"), ("已", "己"), ("未", "末"), ("人", "入"))
# Labels short enough to glue to their value without a space (`行政许可97`), as PDF text has them.
_GLUE = 8
_NUMBER = re.compile(r"[+-]?[\d０-９]")


def draw_noise(rng: random.Random, shape: Shape) -> Noise:
    """A realistic mix of damage for one report of a shape: each class on or off, at per-row rates."""

    def some(rate: float, share: float = 0.5) -> float:
        return rate if rng.random() < share else 0.0

    if shape in ("tab", "pdf"):
        return Noise(
            fused=some(0.08),
            duplicated=some(0.08),
            short=some(0.15),
            ocr=some(0.06, 0.3 if shape == "tab" else 0.6),
            furniture=some(0.5),
            blank_nothing=shape == "pdf" and rng.random() < 0.4,
        )
    if shape in ("pipe", "markdown"):
        return Noise(fused=some(0.03, 0.3), short=some(0.15))
    if shape == "cell_per_line":
        return Noise(fused=some(0.05, 0.3), ocr=some(0.04, 0.3), furniture=some(0.05), blank_nothing=rng.random() < 0.3)
    if shape == "layout":
        return Noise(
            wrapped=some(0.7, 0.7),
            ocr=some(0.04, 0.3),
            furniture=some(0.3),
            blank_nothing=rng.random() < 0.6,
            by_chars=rng.random() < 0.5,
            centred=rng.random() < 0.5,
            jitter=some(0.2, 0.3),
        )
    return Noise()


def ocr(rng: random.Random, label: str) -> str:
    """A label as OCR reads it: one or two look-alikes where the label has them."""
    found = [(a, b) for a, b in LOOKALIKES if a in label]
    for printed, read in rng.sample(found, min(len(found), rng.choice((1, 1, 2)))):
        label = label.replace(printed, read, 1)
    return label


def damage(style: _Style, line: list[_Cell]) -> tuple[list[_Cell], bool]:
    """One line of a table as an extractor damaged it; True when cells were dropped, so that the
    line must not be given ragged empty cells at its end (they would look like the dropped blanks)."""
    noise, rng = style.noise, style.rng
    values = [i for i, c in enumerate(line) if c.kind == "value"]
    if not values or not noise.active:
        return line, False
    line = list(line)
    label = max((i for i, c in enumerate(line[: values[0]]) if c.kind == "label" and c.text), default=None)
    if label is not None and noise.ocr and rng.random() < noise.ocr:
        line[label] = replace(line[label], text=ocr(rng, line[label].text))
    if noise.short and not style.dash_null and any(line[i].null for i in values) and rng.random() < noise.short:
        # The extractor dropped the empty cells: the blanks, and the padding of spanning labels.
        style.undetermined.update(line[i].key for i in values)
        return [c for c in line if c.text], True
    if label is None:
        return line, False
    first = line[label + 1] if label + 1 < len(line) else None
    fusable = first is not None and first.kind == "value" and _NUMBER.match(first.text) is not None
    if fusable and first is not None and noise.fused and rng.random() < noise.fused:
        style.undetermined.add(first.key)
        text = line[label].text
        glue = "" if len(text) <= _GLUE and rng.random() < 0.3 else " "
        # A value cell still (its key is known), but one that no wrapping may cut.
        fused = _Cell(f"{text}{glue}{first.text}", "value", key=first.key)
        if noise.duplicated and rng.random() < 0.5:
            # `T政规范性文件\tT政规范性文件 3\t6\t97`: the clean copy keeps the label's cell.
            return [*line[: label + 1], fused, *line[label + 2 :]], False
        return [*line[:label], fused, *line[label + 2 :]], False
    if noise.duplicated and rng.random() < noise.duplicated:
        return [*line[: label + 1], line[label], *line[label + 1 :]], False
    return line, False


def furniture(style: _Style, title: str, page: int) -> list[str]:
    """A page footer and the next page's running header, as extractors leave them inside a table."""
    pages = style.rng.randint(page + 1, 40)
    return style.rng.choice(
        (
            [f"{page}/{pages}", f"\f{title}"],
            [f"- {page} -", f"\f{title}"],
            ["", f"第 {page} 页", "\f"],
            [f"— {page} —", "\f"],
        )
    )
