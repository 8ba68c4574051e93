"""Word documents: read from the package XML into lines of cells that read like HTML tables.

Hand-written `document.xml` pins each construct (merges, grid offsets, content controls, nested and
split tables, hidden and deleted text); reports printed with python-docx, and the real national 2021
form filled in, must parse back to exactly their cells; hostile packages fail as unreadable.
"""

import random
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.native.libreoffice import convert, require_soffice
from tests.native.office import (
    TEMPLATE_2021,
    build_zip,
    deflated,
    deflated_zeros,
    fill_template_docx,
    mangle,
    minimal_docx,
)
from tests.native.office import render_docx as render
from tests.render import BLANKS, INJECTABLE, ORGS, YEARS, Blanks, Cells, Shape, inject, native_blocks, random_cells
from tests.schema_check import assert_valid_result
from tests.test_roundtrip import Case, assert_cells, assert_injected, assert_valid
from worker.core import parse_bytes
from worker.core.document import Extracted, Limits, Where
from worker.core.errors import ReportFailure
from worker.core.forms import TEMPLATES, Template, keys
from worker.core.parse import parse_document
from worker.core.readers.docx import join_pieces, read_docx
from worker.core.result import FailureReason, Format, ParseResult

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def docx(body: str, *, namespace: str = W) -> bytes:
    """A Word package whose body is the given WordprocessingML."""
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    document = f"{head}<w:document {namespace}><w:body>{body}</w:body></w:document>"
    return build_zip(minimal_docx(document.encode()))


def p(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def tc(text: str = "", props: str = "") -> str:
    return f"<w:tc><w:tcPr>{props}</w:tcPr>{p(text)}</w:tc>"


def tr(*cells: str, props: str = "") -> str:
    return f"<w:tr><w:trPr>{props}</w:trPr>{''.join(cells)}</w:tr>"


def tbl(*rows: str) -> str:
    return f"<w:tbl><w:tblPr/>{''.join(rows)}</w:tbl>"


def span(n: int) -> str:
    return f'<w:gridSpan w:val="{n}"/>'


RESTART = '<w:vMerge w:val="restart"/>'
CONTINUE = "<w:vMerge/>"


def read(body: str) -> Extracted:
    return read_docx(docx(body), Limits())


def places(extracted: Extracted) -> list[list[tuple[int | None, int | None, int | None]]]:
    return [[(w.table, w.row, w.column) if w else (None, None, None) for w in line] for line in extracted.where]


def tables(extracted: Extracted) -> list[int]:
    """The table number of each line that is a table row."""
    return [w[0].table for w in extracted.where if w and w[0] is not None and w[0].table is not None]


# ---------------------------------------------------------------------------------------- text


def test_paragraphs_are_lines_of_one_cell_with_their_paragraph_number() -> None:
    extracted = read(p("标题") + "<w:p/>" + p("正文"))
    assert extracted.rows == [["标题"], ["正文"]]
    assert extracted.where == [[Where(line=1)], [Where(line=3)]]
    assert extracted.pages is None


def test_runs_join_tabs_are_spaces_and_breaks_split_lines() -> None:
    body = (
        "<w:p><w:r><w:t>行政</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>许可</w:t></w:r>"
        "<w:r><w:tab/><w:t>12</w:t><w:br/><w:t xml:space='preserve'> 第二行 </w:t></w:r></w:p>"
    )
    assert read(body).rows == [["行政许可 12"], ["第二行"]]


def test_what_is_not_printed_in_the_body_is_left_out() -> None:
    body = (
        "<w:p><w:r><w:t>看得见</w:t></w:r>"
        "<w:r><w:rPr><w:vanish/></w:rPr><w:t>隐藏</w:t></w:r>"
        "<w:r><w:rPr><w:vanish w:val='0'/></w:rPr><w:t>不隐藏</w:t></w:r>"
        "<w:del><w:r><w:delText>删除</w:delText></w:r></w:del>"
        "<w:ins><w:r><w:t>插入</w:t></w:r></w:ins>"
        "<w:moveFrom><w:r><w:t>移走</w:t></w:r></w:moveFrom>"
        "<w:r><w:fldChar w:fldCharType='begin'/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r>"
        "<w:r><w:fldChar w:fldCharType='separate'/></w:r><w:r><w:t>7</w:t></w:r>"
        "<w:r><w:fldChar w:fldCharType='end'/></w:r>"
        "<w:hyperlink><w:r><w:t>链接</w:t></w:r></w:hyperlink>"
        "<w:r><w:drawing><wp:inline xmlns:wp='http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing'>"
        "<w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent></wp:inline></w:drawing></w:r>"
        "</w:p>"
    )
    assert read(body).rows == [["看得见不隐藏插入7链接"]]


def test_content_controls_and_custom_xml_are_read_where_they_stand() -> None:
    body = (
        "<w:sdt><w:sdtPr/><w:sdtContent>" + p("控件段落") + "</w:sdtContent></w:sdt>"
        "<w:customXml><w:p><w:sdt><w:sdtContent><w:r><w:t>行内控件</w:t></w:r></w:sdtContent></w:sdt></w:p></w:customXml>"
        + tbl(
            "<w:sdt><w:sdtContent>"
            + tr(tc("a"), "<w:sdt><w:sdtContent>" + tc("b") + "</w:sdtContent></w:sdt>")
            + "</w:sdtContent></w:sdt>"
        )
    )
    assert read(body).rows == [["控件段落"], ["行内控件"], ["a", "b"]]


@pytest.mark.parametrize(
    ("pieces", "joined"),
    [
        (["商业", "企业"], "商业企业"),
        (["ABC", "DEF"], "ABC DEF"),
        (["12", "34"], "12 34"),
        (["（一）", "予以公开"], "（一）予以公开"),
        (["1.", "属于"], "1.属于"),
        (["  a\tb\n", "", "\u3000"], "a b"),
    ],
)
def test_pieces_of_a_cell_are_glued_as_the_html_reader_glues_them(pieces: list[str], joined: str) -> None:
    assert join_pieces(pieces) == joined


def test_a_cell_of_several_paragraphs_is_one_raw_cell() -> None:
    cell = "<w:tc><w:p><w:r><w:t>商业</w:t></w:r></w:p><w:p><w:r><w:t>企业</w:t><w:br/><w:t>A</w:t></w:r></w:p></w:tc>"
    assert read(tbl(tr(cell, tc("1")))).rows == [["商业企业A", "1"]]


def test_a_strict_ooxml_document_reads_like_a_transitional_one() -> None:
    strict = 'xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"'
    body = p("严格") + tbl(tr(tc("a", span(2)), tc("b")), tr(tc("", RESTART), tc("c")))
    extracted = read_docx(docx(body, namespace=strict), Limits())
    assert extracted.rows == [["严格"], ["a", "b"], ["", "c"]]
    assert places(extracted)[1] == [(1, 1, 1), (1, 1, 3)]


def test_the_main_part_is_found_through_the_package_relationships() -> None:
    members = minimal_docx(b"<x/>")
    document = f"<w:document {W}><w:body>{p('在别处')}</w:body></w:document>".encode()
    renamed = {
        "[Content_Types].xml": members["[Content_Types].xml"],
        "_rels/.rels": deflated(
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="r" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            b'officeDocument" Target="/word/document2.xml"/></Relationships>'
        ),
        "word/document2.xml": deflated(document),
    }
    assert read_docx(build_zip(renamed), Limits()).rows == [["在别处"]]


# ---------------------------------------------------------------------------------------- tables


def test_merged_cells_expand_as_html_spans_do() -> None:
    body = tbl(
        tr(tc("head", span(3) + RESTART), tc("x")),
        tr(tc("", span(3) + CONTINUE), tc("y")),
        tr(tc("a", RESTART), tc("b", span(2)), tc("z")),
        tr(tc("", CONTINUE), tc("1"), tc("2"), tc("3")),
    )
    extracted = read(body)
    assert extracted.rows == [["head", "x"], ["", "", "", "y"], ["a", "b", "z"], ["", "1", "2", "3"]]
    assert places(extracted) == [
        [(1, 1, 1), (1, 1, 4)],
        [(1, 2, 1), (1, 2, 2), (1, 2, 3), (1, 2, 4)],
        [(1, 3, 1), (1, 3, 2), (1, 3, 4)],
        [(1, 4, 1), (1, 4, 2), (1, 4, 3), (1, 4, 4)],
    ]


def test_grid_before_leaves_empty_cells_and_grid_after_nothing() -> None:
    body = tbl(
        tr(tc("a"), tc("b"), tc("c")),
        tr(tc("1"), tc("2"), props='<w:gridBefore w:val="1"/>'),
        tr(tc("x"), props='<w:gridAfter w:val="2"/>'),
    )
    extracted = read(body)
    assert extracted.rows == [["a", "b", "c"], ["", "1", "2"], ["x"]]
    assert places(extracted)[1] == [(1, 2, 1), (1, 2, 2), (1, 2, 3)]


def test_a_legacy_horizontal_merge_is_one_cell() -> None:
    body = tbl(tr(tc("合并", '<w:hMerge w:val="restart"/>'), tc("", "<w:hMerge/>"), tc("c")))
    extracted = read(body)
    assert extracted.rows == [["合并", "c"]]
    assert places(extracted) == [[(1, 1, 1), (1, 1, 3)]]


def test_hostile_spans_are_clamped() -> None:
    extracted = read(tbl(tr(tc("a", span(10**9)), tc("b")), tr(tc("c"), props='<w:gridBefore w:val="-5"/>')))
    assert extracted.rows == [["a", "b"], ["c"]]
    assert places(extracted)[0] == [(1, 1, 1), (1, 1, 65)]


def test_a_table_of_tables_is_layout_and_its_inner_tables_are_grids() -> None:
    inner = tbl(tr(tc("1"), tc("2")))
    outer = tbl(tr(f"<w:tc>{p('左栏')}{inner}</w:tc>", tc("右栏")))
    extracted = read(p("前") + outer + p("后"))
    assert extracted.rows == [["前"], ["左栏"], ["1", "2"], ["右栏"], ["后"]]
    assert places(extracted)[2] == [(1, 1, 1), (1, 1, 2)]


def test_a_table_split_by_empty_paragraphs_continues() -> None:
    first = tbl(tr(tc("h1"), tc("h2"), tc("h3")), tr(tc("a"), tc("1"), tc("2")))
    second = tbl(tr(tc("b"), tc("3"), tc("4")))
    extracted = read(first + "<w:p/><w:p><w:r><w:t> </w:t></w:r></w:p>" + second + p("后") + tbl(tr(tc("x"))))
    assert extracted.rows == [["h1", "h2", "h3"], ["a", "1", "2"], ["b", "3", "4"], ["后"], ["x"]]
    assert tables(extracted) == [1, 1, 1, 2]
    assert places(extracted)[2] == [(1, 3, 1), (1, 3, 2), (1, 3, 3)]


def test_a_table_split_inside_a_merged_cell_continues_whatever_its_width() -> None:
    first = tbl(tr(tc("组", RESTART), tc("a"), tc("1")))
    second = tbl(tr(tc("", CONTINUE), tc("b", span(2)), tc("2"), tc("3")))
    extracted = read(first + "<w:p/>" + second)
    assert extracted.rows == [["组", "a", "1"], ["", "b", "2", "3"]]
    assert places(extracted)[1] == [(1, 2, 1), (1, 2, 2), (1, 2, 4), (1, 2, 5)]


def test_tables_apart_stay_apart() -> None:
    same_width_with_text = tbl(tr(tc("a"), tc("1"))) + p("二、") + tbl(tr(tc("b"), tc("2")))
    assert tables(read(same_width_with_text)) == [1, 2]
    other_width = tbl(tr(tc("a"), tc("1"))) + "<w:p/>" + tbl(tr(tc("b"), tc("2"), tc("3")))
    assert tables(read(other_width)) == [1, 2]


# ---------------------------------------------------------------------------------------- the national form


def test_the_blank_national_form_is_not_a_valid_report() -> None:
    data = TEMPLATE_2021.read_bytes()
    result = parse_bytes(data, "政务公开年报模版.docx")
    assert_valid_result(result)
    assert result.source.format == Format.DOCX
    assert result.status == "invalid"
    missing = [issue.message for issue in result.issues if issue.code == "E_MISSING_TABLE"]
    assert len(missing) == 3, missing  # 二, 三 and 四: a table with no number in it counts as missing
    assert result.template == "2021"
    assert set(result.cells.values()) == {None}


def test_the_blank_form_reads_with_its_merged_cells() -> None:
    extracted = read_docx(TEMPLATE_2021.read_bytes(), Limits())
    assert ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"] in extracted.rows
    assert ["行政许可", ""] in extracted.rows
    header = next(row for row in extracted.rows if "商业企业" in row)
    assert header == ["", "", "", "", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", ""]
    granted = next(i for i, row in enumerate(extracted.rows) if "（一）予以公开" in row)
    assert extracted.rows[granted] == ["三、本年度办理结果", "（一）予以公开", *[""] * 7]
    assert extracted.rows[granted + 1][0] == ""
    assert extracted.where[granted][2] == Where(table=2, row=6, column=4)  # after a 1-column and a 2-column cell
    assert [""] * 15 in extracted.rows


def _no_breaks(extracted: Extracted) -> None:
    for row, where in zip(extracted.rows, extracted.where, strict=True):
        assert len(row) == len(where)
        for cell in row:
            assert "\t" not in cell and "\n" not in cell and "\r" not in cell


def _evidence_holds(data: bytes, filename: str, extracted: Extracted) -> None:
    """Each number's evidence names a cell of the document that prints that number."""
    parsed = parse_document(data, filename)
    printed = {
        w: cell
        for row, where in zip(extracted.rows, extracted.where, strict=True)
        for cell, w in zip(row, where, strict=True)
    }
    for key, value in parsed.result.cells.items():
        if value is None:
            continue
        where = parsed.evidence[key]
        assert where in printed, (key, where)
        digits = printed[where].replace(",", "").translate(str.maketrans("０１２３４５６７８９", "0123456789"))
        assert str(abs(value)).removesuffix(".0") in digits or printed[where] == "无", (key, printed[where], value)


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    template=st.sampled_from(TEMPLATES),
    blanks=st.sampled_from(BLANKS),
    shape=st.sampled_from(("html", "pdf")),
)
def test_a_word_report_parses_back_to_its_cells(seed: int, template: Template, blanks: Blanks, shape: Shape) -> None:
    rng = random.Random(seed)
    cells = random_cells(rng, template, blanks=blanks)
    org, year = rng.choice(ORGS), rng.choice(YEARS[template])
    data = render(native_blocks(cells, template, shape=shape, org=org, year=year, rng=rng), rng)
    result = parse_bytes(data, "report.docx")
    assert_valid_result(result)
    assert result.source.format == Format.DOCX
    assert_valid(result, Case(cells, template, "html", org, year, ""))
    extracted = read_docx(data, Limits())
    _no_breaks(extracted)
    _evidence_holds(data, "report.docx", extracted)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, template=st.sampled_from(TEMPLATES), code=st.sampled_from(INJECTABLE))
def test_a_wrong_number_in_a_word_report_is_never_valid(seed: int, template: Template, code: str) -> None:
    rng = random.Random(seed)
    valid = random_cells(rng, template)
    cells = inject(valid, template, code, rng)
    org, year = rng.choice(ORGS), rng.choice(YEARS[template])
    data = render(native_blocks(cells, template, org=org, year=year, rng=rng), rng)
    assert_injected(parse_bytes(data, "report.docx"), Case(cells, template, "html", org, year, ""), valid, code)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, blanks=st.sampled_from(BLANKS), null=st.sampled_from(("", "—", "/")))
def test_the_filled_national_form_parses_back_to_its_cells(seed: int, blanks: Blanks, null: str) -> None:
    rng = random.Random(seed)
    cells = random_cells(rng, "2021", blanks=blanks)
    org, year = rng.choice(ORGS), rng.choice(YEARS["2021"])
    data = fill_template_docx(cells, org=org, year=year, null=null)
    result = parse_bytes(data, "年报.docx")
    assert_valid(result, Case(cells, "2021", "html", org, year, ""))
    _evidence_holds(data, "年报.docx", read_docx(data, Limits()))


@settings(max_examples=10, deadline=None)
@given(seed=seeds, code=st.sampled_from(INJECTABLE))
def test_a_wrong_number_in_the_national_form_is_never_valid(seed: int, code: str) -> None:
    rng = random.Random(seed)
    valid = random_cells(rng, "2021")
    cells = inject(valid, "2021", code, rng)
    result = parse_bytes(fill_template_docx(cells, year=2023), "年报.docx")
    assert_injected(result, Case(cells, "2021", "html", "某某县某某局", 2023, ""), valid, code)


def test_every_cell_of_the_form_is_mapped() -> None:
    cells: Cells = {key: i + 1 for i, key in enumerate(keys("2021"))}
    result = parse_bytes(fill_template_docx(cells), "年报.docx")
    assert_cells(result, cells)  # distinct numbers: no two keys share a cell of the form


@pytest.mark.slow
def test_word_files_saved_again_by_libreoffice_parse_back_to_their_cells() -> None:
    """LibreOffice writes its own docx idioms (merges, runs, properties): one soffice call for all."""
    require_soffice()
    documents: dict[str, bytes] = {}
    cases: dict[str, Case] = {}
    for seed in range(4):
        rng = random.Random(seed)
        template: Template = TEMPLATES[seed % 2]
        cells = random_cells(rng, template, blanks=BLANKS[seed])
        org, year = rng.choice(ORGS), rng.choice(YEARS[template])
        documents[f"report{seed}.docx"] = render(native_blocks(cells, template, org=org, year=year, rng=rng), rng)
        cases[f"report{seed}.docx"] = Case(cells, template, "html", org, year, "")
    cells = random_cells(random.Random(9), "2021", blanks="both")
    documents["form.docx"] = fill_template_docx(cells, year=2023)
    cases["form.docx"] = Case(cells, "2021", "html", "某某县某某局", 2023, "")
    for name, data in convert(documents, "docx").items():
        assert data != documents[name]
        assert_valid(parse_bytes(data, name), cases[name])


# ---------------------------------------------------------------------------------------- hostile files


def _failed(data: bytes) -> ParseResult:
    result = parse_bytes(data, "report.docx")
    assert_valid_result(result)
    assert result.status == "failed"
    return result


def test_a_docx_bomb_is_refused_quickly_with_bounded_memory() -> None:
    bomb = build_zip(minimal_docx(deflated_zeros(2**30)))
    tracemalloc.start()
    started = time.perf_counter()
    result = _failed(bomb)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.failure is not None and result.failure.reason == FailureReason.UNREADABLE
    assert "word/document.xml" in result.failure.message
    assert elapsed < 1.0
    assert peak < 16 * 2**20


def test_a_docx_bomb_that_lies_about_its_size_is_refused() -> None:
    bomb = build_zip(minimal_docx(deflated_zeros(2**30)), declared={"word/document.xml": 4096})
    result = _failed(bomb)
    assert result.failure is not None and result.failure.reason == FailureReason.UNREADABLE


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_truncated_docx_is_unreadable(cut: int) -> None:
    data = TEMPLATE_2021.read_bytes()
    result = _failed(data[: int(len(data) * cut)])
    assert result.failure is not None and result.failure.reason == FailureReason.UNREADABLE


def test_a_corrupt_document_part_is_unreadable() -> None:
    members = minimal_docx(b"<w:document")
    result = _failed(build_zip(members))
    assert result.failure is not None and result.failure.reason == FailureReason.UNREADABLE
    with pytest.raises(ReportFailure) as raised:
        read_docx(build_zip(members), Limits())
    assert "not well-formed" in raised.value.message


def test_an_entity_bomb_in_the_document_is_never_expanded() -> None:
    entities = '<!ENTITY a "lol">' + "".join(f'<!ENTITY {c} "{f"&{chr(ord(c) - 1)};" * 10}">' for c in "bcdefghij")
    body = f"<w:document {W}><w:body>{p('&j;')}</w:body></w:document>"
    document = f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]>{body}'
    started = time.perf_counter()
    result = _failed(build_zip(minimal_docx(document.encode())))
    assert result.failure is not None and result.failure.reason == FailureReason.UNREADABLE
    assert time.perf_counter() - started < 1.0


@pytest.fixture(scope="module")
def report_docx() -> bytes:
    rng = random.Random(11)
    return render(native_blocks(random_cells(rng, "2021", blanks="both"), "2021", rng=rng), rng)


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_a_mangled_document_is_read_or_refused_never_a_crash(report_docx: bytes, seed: int) -> None:
    data = mangle(report_docx, random.Random(seed), ("word/document.xml",))
    try:
        extracted = read_docx(data, Limits())
    except ReportFailure as failure:
        assert failure.reason == FailureReason.UNREADABLE
    else:
        _no_breaks(extracted)


def test_a_document_without_a_body_is_unreadable() -> None:
    with pytest.raises(ReportFailure) as raised:
        read_docx(build_zip(minimal_docx(f"<w:document {W}/>".encode())), Limits())
    assert raised.value.reason == FailureReason.UNREADABLE


def test_too_many_cells_or_too_long_is_refused() -> None:
    data = TEMPLATE_2021.read_bytes()
    with pytest.raises(ReportFailure) as raised:
        read_docx(data, Limits(max_cells=100))
    assert raised.value.reason == FailureReason.TOO_LARGE
    with pytest.raises(ReportFailure) as raised:
        read_docx(data, Limits(seconds=0.0, started=time.monotonic() - 1))
    assert raised.value.reason == FailureReason.UNREADABLE
    assert "longer" in raised.value.message


def test_parsing_a_report_takes_milliseconds() -> None:
    rng = random.Random(5)
    cells = random_cells(rng, "2021")
    for data in (render(native_blocks(cells, "2021", rng=rng), rng), fill_template_docx(cells)):
        parse_bytes(data, "warm.docx")
        started = time.perf_counter()
        for _ in range(5):
            parse_bytes(data, "report.docx")
        assert (time.perf_counter() - started) / 5 < 0.5
