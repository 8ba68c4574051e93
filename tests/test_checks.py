"""The checks of spec §4: each rule, its code and severity, and nulls skipped, never zeroed."""

import pytest

from worker.core.checks import check_cells, check_cross_year, check_template_year
from worker.core.forms import APPLICANT_COLUMNS, RESULT_ROWS, Template, keys
from worker.core.result import CellValue

ALL = ("active", "applications", "review_litigation")


def zeros(template: Template) -> dict[str, CellValue]:
    return dict.fromkeys(keys(template), 0)


def codes(template: Template, cells: dict[str, CellValue], found: tuple[str, ...] = ALL) -> list[str]:
    return [i.code.value for i in check_cells(template, cells, found)]


@pytest.mark.parametrize("template", ["2019", "2021"])
def test_a_consistent_report_has_no_issue(template: Template) -> None:
    cells = zeros(template)
    for column in (*APPLICANT_COLUMNS, "total"):
        value = 6 if column == "total" else 1
        for row in ("new_received", "granted", "results_total"):
            cells[f"applications.{row}.{column}"] = value
    cells["review_litigation.review.upheld"] = cells["review_litigation.review.total"] = 2
    assert codes(template, cells) == []


def test_identity() -> None:
    cells = zeros("2021")
    cells["applications.new_received.research"] = 1
    cells["applications.new_received.total"] = 1
    found = codes("2021", cells)
    assert found.count("E_IDENTITY") == 2  # research and total
    issue = next(i for i in check_cells("2021", cells, ALL) if i.code == "E_IDENTITY")
    assert issue.severity == "error"
    assert "applications.carried_forward.research" in issue.cells


def test_row_total() -> None:
    cells = zeros("2019")
    cells["applications.rejected_duplicate.total"] = 3
    assert "E_ROW_TOTAL" in codes("2019", cells)


def test_results_total_uses_the_templates_result_rows() -> None:
    for template in ("2019", "2021"):
        cells = zeros(template)
        last = RESULT_ROWS[template][-1]
        cells[f"applications.{last}.legal_service"] = 1
        cells[f"applications.{last}.total"] = 1
        assert codes(template, cells).count("E_RESULTS_TOTAL") == 2


def test_review_total() -> None:
    cells = zeros("2021")
    cells["review_litigation.litigation_direct.pending"] = 1
    assert codes("2021", cells) == ["E_REVIEW_TOTAL"]


def test_negative_except_in_change_columns() -> None:
    cells = zeros("2019")
    cells["active.licensing.change"] = -3
    assert codes("2019", cells) == []
    cells["active.licensing.decisions"] = -1
    assert codes("2019", cells) == ["E_NEGATIVE"]


def test_nulls_are_skipped_and_reported() -> None:
    cells = zeros("2021")
    cells["applications.new_received.commercial"] = None
    cells["applications.results_total.commercial"] = 5  # would break identity if null were 0
    found = codes("2021", cells)
    assert "W_MISSING_CELL" in found
    assert "E_IDENTITY" not in found
    assert "E_RESULTS_TOTAL" in found  # results rows are all there: that rule still runs


def test_missing_table_is_an_error_and_its_cells_are_not_warned() -> None:
    cells = {k: (None if k.startswith("review_litigation") else 0) for k in keys("2019")}
    found = codes("2019", cells, ("active", "applications"))
    assert found == ["E_MISSING_TABLE"]


def test_template_year() -> None:
    assert [i.code for i in check_template_year("2019", 2022)] == ["W_TEMPLATE_YEAR"]
    assert [i.code for i in check_template_year("2021", 2020)] == ["W_TEMPLATE_YEAR"]
    assert check_template_year("2021", 2021) == []
    assert check_template_year("2019", None) == []


def test_cross_year() -> None:
    now = {"applications.carried_over.total": 2, "applications.carried_over.natural_person": None}
    before = {"applications.carried_forward.total": 3, "applications.carried_forward.natural_person": 1}
    issues = check_cross_year(now, before, 2022)
    assert [(i.code, i.cells) for i in issues] == [("W_CROSS_YEAR", ["applications.carried_over.total"])]
    assert issues[0].severity == "warning"
