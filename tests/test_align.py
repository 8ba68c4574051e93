"""Alignment on streams of cells: which row gets which values, whatever the line breaks.

A number goes into a cell only when the layout settles the cell (separators with their empty
cells, columns, or an exact count); otherwise the row's cells are null and the alignment says why.
The classes of damage of issue 8 each have a test here: a label fused with its first value (a),
a short row (b), space-aligned text (c, with `test_cells.py` for the columns), page furniture
inside a row (d) and rows whose label is only half printed (e).
"""

import random
import re

from tests.render import random_cells, render
from worker.core import parse_bytes
from worker.core.align import Alignment, align
from worker.core.cells import text_to_rows, tokenize_rows
from worker.core.forms import Template
from worker.core.labels import candidates

SEVEN = ["1", "2", "3", "4", "5", "6", "21"]


def aligned(template: Template, *lines: list[str]) -> Alignment:
    return align(template, tokenize_rows([list(line) for line in lines]))


def cells_of(template: Template, *lines: list[str]) -> dict[str, object]:
    alignment = aligned(template, *lines)
    return {k: (t.value if t is not None and t.value is not None else None) for k, t in alignment.cells.items()}


def text_cells(template: Template, text: str) -> dict[str, object]:
    return cells_of(template, *text_to_rows(text))


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
    # Two values for three columns, and nothing to say which column is blank: all three are null.
    alignment = aligned("2021", ["规章", "0", "0"], ["行政规范性文件", "1", "2", "3"])
    cells: dict[str, object] = {k: (t.value if t is not None else None) for k, t in alignment.cells.items()}
    assert row(cells, "active.regulations") == [None, None, None]
    assert row(cells, "active.normative_documents") == [1, 2, 3]
    assert alignment.doubts["active.regulations.issued"].startswith("2 values for 3 columns")


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


# ---------------------------------------------------------------- a. a label fused with a value


FUSED = """二、主动公开政府信息情况
第二十条第(一)项
信息内容\t本年制发件数\t本年废止件数\t现行有效件数
规章\t规章 2\t2\t41
T政规范性文件\tT政规范性文件 3\t6\t97
第二十条第(五)项
信息内容\t本年处理决定数量
T政许可\tT政许可 15
"""


def test_a_label_fused_with_its_first_value_after_a_clean_copy() -> None:
    cells = text_cells("2021", FUSED)
    assert row(cells, "active.regulations") == [2, 2, 41]
    assert row(cells, "active.normative_documents") == [3, 6, 97]
    assert row(cells, "active.licensing") == [15]


def test_a_fused_value_lost_never_lets_the_row_take_the_next_rows_value() -> None:
    # The fused `3` is unreadable, and 行政许可's label (`行攻许可`) is not recognised: the 15 after
    # it belongs to no row this alignment knows, least of all to 行政规范性文件.
    lines = [["T政规范性文件 □"], ["6"], ["97"], ["行攻许可"], ["15"]]
    cells = cells_of("2021", ["规章", "0", "0", "0"], *lines)
    assert row(cells, "active.normative_documents") == [None, 6, 97]
    assert 15 not in row(cells, "active.normative_documents")
    assert row(cells, "active.licensing") == [None]


def test_a_fused_row_short_of_a_value_is_null_not_shifted() -> None:
    # One value per line after a fused label, one of them lost: 2 values for 3 columns.
    cells = cells_of("2021", ["规章 12"], ["140"], ["行政规范性文件"], ["1"], ["2"], ["3"])
    assert row(cells, "active.regulations") == [None, None, None]
    assert row(cells, "active.normative_documents") == [1, 2, 3]


def test_ocr_look_alikes_are_read_as_the_label() -> None:
    assert candidates("2021", "T政许可")[0].row == 2  # 行政许可
    assert candidates("2021", "5.要求行政机关确认或重新出具己获取信息")[0].exact


# ---------------------------------------------------------------- b. a short row


def test_a_pipe_row_with_fewer_values_than_columns_is_null_with_a_reason() -> None:
    text = "| 信息内容 | 本年制发件数 | 本年废止件数 | 现行有效件数 |\n|---|---|---|---|\n| 规章 | 12 | 140 |\n"
    text += "| 行政规范性文件 | 1 | 2 | 3 |\n"
    alignment = align("2021", tokenize_rows(text_to_rows(text)))
    assert [alignment.cells[f"active.regulations.{c}"] for c in ("issued", "repealed", "in_force")] == [None] * 3
    assert alignment.doubts["active.regulations.repealed"] == (
        "2 values for 3 columns, and nothing to say which columns they fill"
    )
    assert "active.regulations.issued" not in alignment.where


def test_separators_with_their_empty_cells_settle_a_short_row() -> None:
    # `规章\t0\t0\t\t` (seed 003): the empty cell after the second value is the third column.
    cells = text_cells("2021", "规章\t0\t0\t\t\t\n行政规范性文件\t\t7\t1\n")
    assert row(cells, "active.regulations") == [0, 0, None]
    assert row(cells, "active.normative_documents") == [None, 7, 1]


def test_as_many_values_as_columns_is_proof_enough() -> None:
    # An empty cell too many (a converter's colspan) does not shift the values: the count settles it.
    cells = cells_of("2021", ["一、本年新收政府信息公开申请数量", "64", "0", "", "0", "2", "0", "4", "70"])
    assert row(cells, "applications.new_received") == [64, 0, 0, 2, 0, 4, 70]


# ---------------------------------------------------------------- c. labels apart from their values


def test_values_centred_between_a_wrapped_labels_lines() -> None:
    lines = [
        ["(二)部分公开(区分处理的,只计"],
        ["", "3", "0", "0", "0", "0", "0", "3"],
        ["这一情形,不计其他情形)"],
        ["1.属于国家秘"],
        ["密", "1", "0", "0", "0", "0", "0", "1"],
        ["2.其他法律法", "0", "0", "0", "0", "0", "0", "0"],
        ["规禁止公开"],
    ]
    cells = cells_of("2021", ["(一)予以公开", *SEVEN], *lines)
    assert row(cells, "applications.partially_granted") == [3, 0, 0, 0, 0, 0, 3]
    assert row(cells, "applications.denied_state_secret") == [1, 0, 0, 0, 0, 0, 1]
    assert row(cells, "applications.denied_prohibited_by_law") == [0] * 7


def test_a_row_printed_blank_one_cell_a_line_leaves_the_next_rows_value_to_it() -> None:
    # 行政许可's value printed as nothing: the 5 after 行政处罚 is 行政处罚's, not 行政许可's.
    cells = cells_of("2021", ["行政许可"], ["行政处罚"], ["5"], ["行政强制"], ["0"])
    assert row(cells, "active.licensing") == [None]
    assert row(cells, "active.penalty") == [5]
    assert row(cells, "active.coercion") == [0]


def test_a_line_of_values_whose_label_was_not_recognised_goes_to_no_row() -> None:
    lines = [["5.属于三类内部事务信息", *SEVEN], ["6.属于四类过稈性倍息"], ["9", "0", "0", "0", "0", "0", "9"]]
    lines += [["7.属于行政执法案卷"], ["2", "0", "0", "0", "0", "0", "2"]]
    cells = cells_of("2021", *lines)
    assert row(cells, "applications.denied_enforcement_files") == [2, 0, 0, 0, 0, 0, 2]
    assert 9 not in row(cells, "applications.denied_enforcement_files")


# ---------------------------------------------------------------- d. page furniture inside a row


def test_page_furniture_between_a_label_and_its_values() -> None:
    text = "行政处罚\n- 3 -\n\x0c某某县某某局2022年政府信息公开工作年度报告\n22\n0\n53\n行政强制\n1\n2\n3\n"
    cells = text_cells("2019", text)
    assert row(cells, "active.penalty") == [22, 0, 53]
    assert row(cells, "active.coercion") == [1, 2, 3]


def test_a_repeated_header_inside_a_tall_row() -> None:
    lines = [["(二)部分公开(区分处理的,只计"], ["申请人情况"], ["自然人", "法人或其他组织", "总计"]]
    lines += [["0", "1", "0", "0", "0", "0", "1"], ["这一情形,不计其他情形)"], ["1.属于国家秘密", *SEVEN]]
    cells = cells_of("2021", ["(一)予以公开", *SEVEN], *lines)
    assert row(cells, "applications.partially_granted") == [0, 1, 0, 0, 0, 0, 1]
    assert row(cells, "applications.denied_state_secret") == [1, 2, 3, 4, 5, 6, 21]


# ---------------------------------------------------------------- e. rows whose label is half printed


def test_the_head_of_a_wrapped_numbered_label_names_its_row() -> None:
    assert candidates("2021", '3.危及"三安')[0].row == candidates("2021", '3.危及"三安全一稳定"')[0].row
    lines = [
        ["2.其他法律行政法规禁止公开", *SEVEN],
        ['3.危及"三安'],
        ["7", "0", "0", "0", "0", "0", "7"],
        ['全一稳定"'],
    ]
    cells = cells_of("2021", *lines)
    assert row(cells, "applications.denied_security_stability") == [7, 0, 0, 0, 0, 0, 7]


def test_the_warning_says_why_a_short_rows_cells_are_null() -> None:
    rng = random.Random(3)
    text = render(random_cells(rng, "2021"), "2021", "markdown", rng=rng)
    text = re.sub(r"^\| 规章 \|.*$", "| 规章 | 12 | 140 |", text, count=1, flags=re.MULTILINE)
    result = parse_bytes(text.encode(), "report.md")
    assert [result.cells[f"active.regulations.{c}"] for c in ("issued", "repealed", "in_force")] == [None] * 3
    (warning,) = [i for i in result.issues if "active.regulations.issued" in i.cells]
    assert warning.code == "W_MISSING_CELL"
    assert warning.message.endswith("2 values for 3 columns, and nothing to say which columns they fill")
    assert result.status == "valid"  # table 二 has no identity: the null is the only sign, and it is there


def test_a_label_printed_twice_in_its_cell_is_still_its_label_but_prose_never_is() -> None:
    longest = "申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"
    row = candidates("2021", longest)[0].row
    assert candidates("2021", longest * 2)[0].row == row  # a duplicated label (noise class)
    assert candidates("2021", longest * 4) == ()  # a label's words repeated past any cell: prose
    prose = (
        "进一步完善信息公开制度,严格按照《条例》要求做好政府信息公开工作,"
        "切实保障人民群众的知情权、参与权、表达权和监督权"
    )
    assert candidates("2021", prose) == () and candidates("2019", prose) == ()
