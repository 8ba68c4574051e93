"""The prose's figures against the tables; title, organ and year from the first lines."""

import pytest

from worker.core.meta import extract_meta, find_title, organization_of
from worker.core.narrative import check_narrative

CELLS = {
    "applications.new_received.total": 34,
    "review_litigation.review.total": 1,
    "review_litigation.litigation_direct.total": 0,
    "review_litigation.litigation_after_review.total": 0,
}


@pytest.mark.parametrize(
    "prose",
    [
        "全年收到政府信息公开申请 34 件，上年结转2件。",
        "本年度全区共收到34件申请，及时依法依规办结。",
        "2023年度我局共收到依申请信息公开34件，及时回复申请人",
        "2024 年市科委有 1 件涉及政府信息公开工作的行政复议，该行政复议件未被纠错。",
        "涉及的行政诉讼数为 0 件。",
        "本机关全年新增政务微博100条。",
    ],
)
def test_agreeing_prose_says_nothing(prose: str) -> None:
    assert check_narrative(prose, CELLS) == []


@pytest.mark.parametrize(
    ("prose", "key"),
    [
        ("2020年,我局接到要求公开政府信息申请1件,经审查", "applications.new_received.total"),
        ("2019年我社没有收到公开政府信息申请。", "applications.new_received.total"),
        ("全年收到政府信息公开申请三十件。", "applications.new_received.total"),
        ("因政府信息公开申请行政复议2件", "review_litigation.review.total"),
        ("行政诉讼案件 3 件", "review_litigation.litigation_direct.total"),
    ],
)
def test_contradicting_prose_is_a_warning(prose: str, key: str) -> None:
    (issue,) = check_narrative(prose, CELLS)
    assert (issue.code, issue.severity, issue.cells[0]) == ("W_NARRATIVE_MISMATCH", "warning", key)


def test_lawsuits_in_prose_count_both_kinds() -> None:
    cells = {**CELLS, "review_litigation.litigation_after_review.total": 2}
    assert check_narrative("被提起行政诉讼2件", cells) == []
    assert len(check_narrative("被提起行政诉讼1件", cells)) == 1


def test_a_null_cell_is_not_contradicted() -> None:
    assert check_narrative("收到申请5件", {"applications.new_received.total": None}) == []


@pytest.mark.parametrize(
    ("lines", "title", "organization", "year"),
    [
        (["向阳区2020年政府信息公开工作年度报告", "正文"], "向阳区2020年政府信息公开工作年度报告", "向阳区", 2020),
        (
            ["正文", "2024 年上海市科委政府信息公开工作", "年度报告"],
            "2024年上海市科委政府信息公开工作年度报告",
            "上海市科委",
            2024,
        ),
        (
            ["柳北区科学技术局2020年政府信息", "公开工作年度报告"],
            "柳北区科学技术局2020年政府信息公开工作年度报告",
            "柳北区科学技术局",
            2020,
        ),
        (
            ["标题: 平潭综合实验区2018年度政府信息公开工作年度报告"],
            "平潭综合实验区2018年度政府信息公开工作年度报告",
            "平潭综合实验区",
            2018,
        ),
        (
            ["沭阳县发展和改革局2023年政府信息公开年度报告-沭阳县发改局"],
            "沭阳县发展和改革局2023年政府信息公开年度报告",
            "沭阳县发展和改革局",
            2023,
        ),
        (["一、总体情况", "2020年,我局严格按照原则"], None, None, 2020),
        (["一、总体情况", "我局严格按照原则"], None, None, None),
    ],
)
def test_meta(lines: list[str], title: str | None, organization: str | None, year: int | None) -> None:
    meta = extract_meta(lines)
    assert (meta.title, meta.organization, meta.year) == (title, organization, year)


def test_prose_naming_the_report_is_not_a_title() -> None:
    long_line = "根据《中华人民共和国政府信息公开条例》要求，现公布本机关2023年政府信息公开工作年度报告。" * 2
    assert find_title([long_line]) is None
    assert organization_of("2023年政府信息公开工作年度报告") is None


def test_years_outside_the_forms_are_ignored() -> None:
    assert extract_meta(["1950年的文件"]).year is None
