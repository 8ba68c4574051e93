"""Round trips through the other producers of real documents: Word files printed from known cells,
then converted by LibreOffice into `.doc`, `.odt`, `.rtf` and PDF (LibreOffice's own PDF export,
a second PDF producer beside the reportlab renderer) — each parsed back to exactly those cells.

One soffice call converts every document of a target format, so the test stays fast.
"""

import random
from functools import cache

import pytest

from tests.native.libreoffice import convert, require_soffice
from tests.native.office import fill_template_docx, render_docx
from tests.render import ORGS, Cells, native_blocks, random_cells
from worker.core.document import Limits
from worker.core.forms import TEMPLATES, Template
from worker.core.parse import parse_document
from worker.core.result import Format
from worker.jobs import converter

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPORTS = 2  # per template: small, since every conversion is a LibreOffice run (~2 s)


@cache
def originals() -> dict[str, tuple[Template, Cells, bytes]]:
    """Word reports from random cells: the renderer's docx, and the real national form filled in."""
    rng = random.Random(20261128)
    made: dict[str, tuple[Template, Cells, bytes]] = {}
    for template in TEMPLATES:
        for index in range(REPORTS):
            cells = random_cells(rng, template, blanks=rng.choice(("none", "active", "columns")))
            org, year = rng.choice(ORGS), rng.choice((2021, 2022, 2023) if template == "2021" else (2019, 2020))
            data = render_docx(native_blocks(cells, template, org=org, year=year, rng=rng), rng)
            made[f"r{template}-{index}"] = (template, cells, data)
    cells = random_cells(rng, "2021")
    made["form-2021"] = ("2021", cells, fill_template_docx(cells))
    return made


@cache
def converted(target: str) -> dict[str, bytes]:
    """Every original converted to `target` in one LibreOffice run (keyed by the docx's name)."""
    return convert({f"{name}.docx": data for name, (_, _, data) in originals().items()}, target)


def _check(name: str, data: bytes, expected_format: Format) -> None:
    template, cells, _ = originals()[name]
    parsed = parse_document(data, f"{name}.{expected_format.value}", convert=converter(120), limits=Limits(seconds=120))
    result = parsed.result
    assert result.source.format == expected_format
    assert result.template == template, (name, result.failure)
    wrong = {k: (v, result.cells.get(k)) for k, v in cells.items() if result.cells.get(k) != v}
    assert wrong == {}, f"{name}: cells that differ (expected, got)"
    assert result.status == "valid", [i.message for i in result.issues if i.severity == "error"]
    assert set(parsed.evidence) == {k for k, v in cells.items() if v is not None}


@pytest.mark.parametrize("target", ["doc", "odt", "rtf"])
def test_word_processor_formats_read_through_libreoffice(target: str) -> None:
    require_soffice()
    produced = converted(target)
    expected = {"doc": Format.DOC, "odt": Format.ODT, "rtf": Format.RTF}[target]
    for name in originals():
        _check(name, produced[f"{name}.docx"], expected)


def test_libreoffice_pdfs_read_back() -> None:
    require_soffice()
    produced = converted("pdf")
    for name in originals():
        _check(name, produced[f"{name}.docx"], Format.PDF)
        pages = parse_document(produced[f"{name}.docx"], "x.pdf").result.source.pages
        assert pages is not None and pages >= 2
