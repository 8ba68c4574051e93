"""Alignment on streams of cells: which row gets which values, whatever the line breaks."""

from worker.core.align import align
from worker.core.cells import tokenize_rows
from worker.core.forms import Template

SEVEN = ["1", "2", "3", "4", "5", "6", "21"]


def cells_of(template: Template, *lines: list[str]) -> dict[str, object]:
    alignment = align(template, tokenize_rows([list(line) for line in lines]))
    return {k: (t.value if t is not None and t.value is not None else None) for k, t in alignment.cells.items()}


def row(cells: dict[str, object], prefix: str) -> list[object]:
    return [v for k, v in cells.items() if k.startswith(prefix + ".")]


def test_values_after_the_label_on_its_line() -> None:
    cells = cells_of("2019", ["规章", "1", "2", "3"], ["行政许可", "4", "+5", "6"])
    assert row(cells, "active.regulations") == [1, 2, 3]
    assert row(cells, "active.licensing") == [4, 5, 6]


def test_one_cell_per_line() -> None:
    lines = [["行政处罚"], ["22"], ["0"], ["53"], ["行政强制"], ["1"], ["2"], ["3"]]
    cells = cells_of("2019", *lines)
    assert row(cells, "active.penalty") == [22, 0, 53]
    assert row(cells, "active.coercion") == [1, 2, 3]


def test_a_short_row_never_borrows_from_the_next() -> None:
    cells = cells_of("2021", ["规章", "0", "0"], ["行政规范性文件", "1", "2", "3"])
    assert row(cells, "active.regulations") == [0, 0, None]
    assert row(cells, "active.normative_documents") == [1, 2, 3]


def test_layout_empties_at_the_ends_of_a_line_are_not_cells() -> None:
    cells = cells_of("2019", ["(七)总计", *SEVEN], ["四、结转下年度继续办理", "", "", *SEVEN, "", ""])
    assert row(cells, "applications.carried_forward") == [1, 2, 3, 4, 5, 6, 21]


def test_an_empty_cell_inside_a_row_is_blank() -> None:
    cells = cells_of("2021", ["一、本年新收政府信息公开申请数量", "26", "", "", "", "", "", "26"])
    assert row(cells, "applications.new_received") == [26, None, None, None, None, None, 26]


def test_a_label_split_after_its_numbers() -> None:
    lines = [
        ["1.属于国家秘密", *SEVEN],
        ["", "3.危及“三安全一稳", *SEVEN],
        ["", "定”", "", ""],
        ["4.保护第三方合法权益", *SEVEN],
    ]
    cells = cells_of("2019", *lines)
    assert row(cells, "applications.denied_security_stability") == [1, 2, 3, 4, 5, 6, 21]
    assert row(cells, "applications.denied_third_party") == [1, 2, 3, 4, 5, 6, 21]


def test_labels_detached_from_their_values_pair_in_reading_order() -> None:
    # The shape of a PDF→markdown conversion (corpus real-002): labels first, then their rows.
    lines = [
        ["5.属于三类内部事务信"],
        ["息"],
        ["1.本机关不掌握相关政"],
        ["府信息"],
        ["1", "0", "0", "0", "0", "0", "1"],
        ["6.属于四类过程性信息", "2", "0", "0", "0", "0", "0", "2"],
        ["4", "0", "0", "0", "0", "0", "4"],
    ]
    cells = cells_of("2021", ["(一)予以公开", *SEVEN], *lines)
    assert row(cells, "applications.denied_internal_affairs") == [1, 0, 0, 0, 0, 0, 1]
    assert row(cells, "applications.denied_process_info") == [2, 0, 0, 0, 0, 0, 2]
    assert row(cells, "applications.unable_not_held") == [4, 0, 0, 0, 0, 0, 4]


def test_a_row_before_its_label_waits_for_it() -> None:
    lines = [["(一)予以公开", *SEVEN], ["0"] * 7, ["(二)部分公开(区分处理的,只"], ["计这一情形,不计其他情形)"]]
    assert row(cells_of("2021", *lines), "applications.partially_granted") == [0] * 7


def test_a_whole_row_beats_a_stray_value_before_it() -> None:
    first = ["1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", *SEVEN]
    lines = [first, ["2.申请人逾期未按收费"], ["通知要求缴纳费用"], ["1"], ["0"] * 7]
    assert row(cells_of("2021", *lines), "applications.other_unpaid_fee") == [0] * 7


def test_header_words_are_not_labels() -> None:
    # `总计` and `其他` are column headers of table 三 and also the ends of labels.
    lines = [["自然人", "商业企业", "其他", "总计"], ["一、本年新收政府信息公开申请数量", *SEVEN]]
    cells = cells_of("2021", *lines)
    assert row(cells, "applications.new_received") == [1, 2, 3, 4, 5, 6, 21]
    assert row(cells, "applications.results_total") == [None] * 7
    assert row(cells, "applications.other_misc") == [None] * 7


def test_review_band_after_its_headers() -> None:
    header = ["行政复议", "", "", "", "", "行政诉讼", "", ""]
    band = [str(i) for i in range(16)]  # one extra cell, as in seed 000
    cells = cells_of("2019", ["(七)总计", *SEVEN], header, ["结果维持", "结果纠正", "其他结果"], band)
    assert row(cells, "review_litigation.review") == [0, 1, 2, 3, 4]
    assert row(cells, "review_litigation.litigation_after_review") == [10, 11, 12, 13, 14]


def test_prose_mentioning_review_before_the_tables_is_no_anchor() -> None:
    prose = ["2024年本机关有1件涉及政府信息公开工作的行政复议,该行政复议件未被纠错。"]
    cells = cells_of("2021", prose, ["0"] * 15)
    assert row(cells, "review_litigation.review") == [None] * 5


def test_ocr_junk_after_a_label_is_skipped() -> None:
    cells = cells_of("2021", ["行政处罚", "T政处罚 7"], ["行政事业性收费 0.5"])
    assert cells["active.penalty.decisions"] == 7
    assert float(str(cells["active.fees.amount"])) == 0.5


def test_tables_found() -> None:
    alignment = align("2021", tokenize_rows([["规章", "0", "0", "0"], ["行政许可", "1"]]))
    assert alignment.tables_found == frozenset({"active"})
