"""The report as blocks in reading order (title, prose, table grids) and the prose every shape
prints around its tables; `tests/render_grid.py` builds the grids."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from tests.render_cells import Cells
from tests.render_grid import (
    _REVIEW,
    Grid,
    _active_grid,
    _app_key,
    _applications_grid,
    _Cell,
    _review_grid,
    _Style,
)
from worker.core import forms
from worker.core.forms import Template

_APPS = forms.TABLE_APPLICATIONS


# ---------------------------------------------------------------- the document


@dataclass(frozen=True, slots=True)
class _Block:
    """A piece of the report in reading order."""

    kind: Literal["title", "heading", "para", "table"]
    text: str = ""
    grid: tuple[tuple[_Cell, ...], ...] = ()
    table: str = ""


HEADINGS = (
    "一、总体情况",
    "二、主动公开政府信息情况",
    "三、收到和处理政府信息公开申请情况",
    "四、政府信息公开行政复议、行政诉讼情况",
    "五、存在的主要问题及改进情况",
    "六、其他需要报告的事项",
)


def title_of(org: str, year: int) -> str:
    """The title line of a report."""
    return f"{org}{year}年政府信息公开工作年度报告"


def _period(year: int) -> str:
    return f"所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。"


def _total(cells: Cells, key: str) -> int:
    value = cells[key]
    assert value is not None, f"{key} is blank: the narrative needs it"
    return int(value)


def _overview(cells: Cells, org: str, year: int, rng: random.Random) -> list[str]:
    """Section 一; it states the received and review counts exactly as table 三 and 四 have them."""
    received = _total(cells, _app_key("new_received", "total"))
    handled = [_total(cells, _app_key(r, "total")) for r in ("carried_over", "results_total", "carried_forward")]
    review = _total(cells, f"{_REVIEW}.review.total")
    litigation = sum(_total(cells, f"{_REVIEW}.{g}.total") for g in forms.REVIEW_GROUPS[1:])
    if received or rng.random() < 0.5:
        applications = (
            f"本年度共收到政府信息公开申请{received}件，上年结转{handled[0]}件，"
            f"办结{handled[1]}件，结转下年度继续办理{handled[2]}件。"
        )
    else:
        applications = "本年度未收到政府信息公开申请。"
    return [
        f"{year}年，{org}坚持以习近平新时代中国特色社会主义思想为指导，"
        "认真贯彻落实《中华人民共和国政府信息公开条例》，扎实推进政务公开各项工作。",
        f"（一）主动公开。全年通过政府门户网站主动公开政府信息{rng.randint(20, 3000)}条，"
        f"政策解读{rng.randint(1, 40)}篇。",
        f"（二）依申请公开。{applications}",
        "（三）政府信息管理。严格落实公开属性源头认定和保密审查机制，做到应公开尽公开。",
        "（四）平台建设。持续优化政府网站信息公开专栏，及时更新政府信息公开指南和目录。",
        f"（五）监督保障。全年因政府信息公开工作被申请行政复议{review}件，被提起行政诉讼{litigation}件。",
    ]


def _document(cells: Cells, template: Template, org: str, year: int, style: _Style) -> list[_Block]:
    """The report: title, prose 一, tables 二 三 四, prose 五 六."""

    def table(name: str, grid: Grid) -> _Block:
        return _Block("table", grid=tuple(tuple(row) for row in grid), table=name)

    rng = style.rng
    return [
        _Block("title", title_of(org, year)),
        _Block("para", f"本报告根据《中华人民共和国政府信息公开条例》要求编制，{_period(year)}"),
        _Block("heading", HEADINGS[0]),
        *(_Block("para", p) for p in _overview(cells, org, year, rng)),
        _Block("heading", HEADINGS[1]),
        table(forms.TABLE_ACTIVE, _active_grid(style, cells, template)),
        _Block("heading", HEADINGS[2]),
        table(_APPS, _applications_grid(style, cells, template)),
        _Block("heading", HEADINGS[3]),
        table(_REVIEW, _review_grid(style, cells, template)),
        _Block("heading", HEADINGS[4]),
        _Block("para", "（一）存在的主要问题。政策解读形式还不够丰富，信息公开的及时性有待进一步提高。"),
        _Block("para", "（二）改进措施。进一步加强业务培训，规范信息发布审核流程，提升政务公开质效。"),
        _Block("heading", HEADINGS[5]),
        _Block("para", rng.choice(("无。", "本年度未收取信息处理费。", "无"))),
    ]


def _grid(block: _Block) -> Grid:
    return [list(row) for row in block.grid]


# ---------------------------------------------------------------- text lines


def _ragged(rng: random.Random, sep: str) -> str:
    """Extra empty cells some extractors leave at the end of a line."""
    return rng.choice(("", "", sep, sep * 2, sep * 4))


def _prose_lines(blocks: Iterable[_Block], table: Callable[[_Block], list[str]], deco: Callable[[_Block], str]) -> str:
    lines: list[str] = []
    for block in blocks:
        lines.extend(table(block) if block.kind == "table" else [deco(block)])
    return "\n".join(lines) + "\n"
