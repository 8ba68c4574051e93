"""Acceptance: every corpus report parses to its hand-checked truth, cell by cell."""

import pytest

from tests.corpus import Case, cases
from tests.schema_check import assert_valid_result
from worker.core import parse_bytes
from worker.core.forms import keys

CASES = cases()


def test_the_corpus_is_there() -> None:
    assert len(CASES) >= 9, "tests/fixtures/corpus lost files"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_cell_status_code_and_meta(case: Case) -> None:
    truth = case.truth
    result = parse_bytes(case.path.read_bytes(), case.path.name)
    assert_valid_result(result)
    assert result.template == truth["template"]
    assert result.meta.organization == truth["meta"]["organization"]
    assert result.meta.year == truth["meta"]["year"]
    if truth.get("expect_failure"):
        assert result.status == "failed"
        assert result.failure is not None
        assert result.failure.reason == truth["expect_failure"]
        assert result.cells == {}
        return
    assert result.status == truth.get("expect_status", "valid")
    assert list(result.cells) == list(keys(truth["template"])), "every key of the template, in order"
    wrong = {k: (v, result.cells[k]) for k, v in truth["cells"].items() if result.cells[k] != v}
    assert wrong == {}, "cells that differ from the truth: (expected, got)"
    errors = sorted({i.code for i in result.issues if i.severity == "error"})
    assert errors == sorted(truth.get("expect_codes", []))
    assert set(truth.get("expect_warnings", [])) <= result.codes()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_null_cells_are_reported_not_zeroed(case: Case) -> None:
    result = parse_bytes(case.path.read_bytes(), case.path.name)
    nulls = {k for k, v in result.cells.items() if v is None}
    reported = {k for i in result.issues if i.code == "W_MISSING_CELL" for k in i.cells}
    assert nulls <= reported | {k for i in result.issues if i.code == "E_MISSING_TABLE" for k in i.cells}


def test_the_seeds_specific_findings() -> None:
    # Spec §1 names what makes each seed hard; these are the outcomes it implies.
    by_name = {c.path.name[:3]: c for c in CASES}
    narrative = parse_bytes(by_name["000"].path.read_bytes(), "000.txt")
    assert "W_NARRATIVE_MISMATCH" in narrative.codes()  # the prose says 1 application, the table 0
    unit = parse_bytes(by_name["004"].path.read_bytes(), "004.txt")
    assert "W_UNIT_UNSTATED" in unit.codes()
    assert unit.source.script == "traditional"
    assert unit.meta.title == "柳北区科学技术局2020年政府信息公开工作年度报告"
    wan = parse_bytes(by_name["002"].path.read_bytes(), "002.txt")
    assert "W_UNIT_UNSTATED" not in wan.codes()  # `1150万` states its unit
