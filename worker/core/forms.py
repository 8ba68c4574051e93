"""The two national templates as data: rows in printed order, their labels and their columns.

The canonical keys (`table.row.column`) are the contract of spec §2; a test checks that the keys
generated here equal `fields.json`, in order.
"""

from dataclasses import dataclass, field
from typing import Literal

Template = Literal["2019", "2021"]
TEMPLATES: tuple[Template, ...] = ("2019", "2021")

APPLICANT_COLUMNS = (
    "natural_person",
    "commercial",
    "research",
    "social_welfare",
    "legal_service",
    "other_org",
)
APPLICATION_COLUMNS = (*APPLICANT_COLUMNS, "total")
REVIEW_GROUPS = ("review", "litigation_direct", "litigation_after_review")
REVIEW_COLUMNS = ("upheld", "corrected", "other", "pending", "total")

TABLE_ACTIVE = "active"
TABLE_APPLICATIONS = "applications"
TABLE_REVIEW = "review_litigation"
TABLES = (TABLE_ACTIVE, TABLE_APPLICATIONS, TABLE_REVIEW)
TABLE_NAMES = {TABLE_ACTIVE: "二", TABLE_APPLICATIONS: "三", TABLE_REVIEW: "四"}


@dataclass(frozen=True, slots=True)
class Row:
    """One printed row of a table: the labels it may be printed with and the keys of its cells."""

    table: str
    name: str
    labels: tuple[str, ...]
    columns: tuple[str, ...]
    amount_column: str | None = None
    # The canonical cell keys of this row in printed column order, and how many values it prints.
    keys: tuple[str, ...] = field(init=False)
    width: int = field(init=False)

    def __post_init__(self) -> None:
        if self.table == TABLE_REVIEW:
            keys = tuple(f"{TABLE_REVIEW}.{g}.{c}" for g in REVIEW_GROUPS for c in REVIEW_COLUMNS)
        else:
            keys = tuple(f"{self.table}.{self.name}.{c}" for c in self.columns)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "width", len(keys))


def _active(name: str, labels: tuple[str, ...], columns: tuple[str, ...], amount: bool = False) -> Row:
    return Row(TABLE_ACTIVE, name, labels, columns, "amount" if amount else None)


def _app(name: str, *labels: str) -> Row:
    return Row(TABLE_APPLICATIONS, name, labels, APPLICATION_COLUMNS)


_ACTIVE_2019 = (
    _active("regulations", ("规章",), ("made", "published", "total_published")),
    _active("normative_documents", ("规范性文件", "行政规范性文件"), ("made", "published", "total_published")),
    _active("licensing", ("行政许可",), ("previous", "change", "decisions")),
    _active("other_services", ("其他对外管理服务事项",), ("previous", "change", "decisions")),
    _active("penalty", ("行政处罚",), ("previous", "change", "decisions")),
    _active("coercion", ("行政强制",), ("previous", "change", "decisions")),
    _active("fees", ("行政事业性收费",), ("previous", "change")),
    _active("procurement", ("政府集中采购",), ("projects", "amount"), amount=True),
)

_ACTIVE_2021 = (
    _active("regulations", ("规章",), ("issued", "repealed", "in_force")),
    _active("normative_documents", ("行政规范性文件", "规范性文件"), ("issued", "repealed", "in_force")),
    _active("licensing", ("行政许可",), ("decisions",)),
    _active("penalty", ("行政处罚",), ("decisions",)),
    _active("coercion", ("行政强制",), ("decisions",)),
    _active("fees", ("行政事业性收费",), ("amount",), amount=True),
)

_APPS_HEAD = (
    _app("new_received", "一、本年新收政府信息公开申请数量"),
    _app("carried_over", "二、上年结转政府信息公开申请数量"),
    _app("granted", "(一)予以公开"),
    _app("partially_granted", "(二)部分公开(区分处理的,只计这一情形,不计其他情形)"),
    _app("denied_state_secret", "1.属于国家秘密"),
    _app("denied_prohibited_by_law", "2.其他法律行政法规禁止公开", "2.其他法律法规禁止公开"),
    _app("denied_security_stability", "3.危及“三安全一稳定”"),
    _app("denied_third_party", "4.保护第三方合法权益"),
    _app("denied_internal_affairs", "5.属于三类内部事务信息"),
    _app("denied_process_info", "6.属于四类过程性信息"),
    _app("denied_enforcement_files", "7.属于行政执法案卷"),
    _app("denied_query_matters", "8.属于行政查询事项"),
    _app("unable_not_held", "1.本机关不掌握相关政府信息"),
    _app("unable_needs_creation", "2.没有现成信息需要另行制作"),
    _app("unable_unclear", "3.补正后申请内容仍不明确"),
    _app("rejected_petition", "1.信访举报投诉类申请"),
    _app("rejected_duplicate", "2.重复申请"),
    _app("rejected_publication", "3.要求提供公开出版物"),
    _app("rejected_excessive", "4.无正当理由大量反复申请"),
    _app("rejected_confirmation", "5.要求行政机关确认或重新出具已获取信息"),
)
_APPS_TAIL = (
    _app("results_total", "(七)总计"),
    _app("carried_forward", "四、结转下年度继续办理"),
)
_OTHER_2019 = (_app("other", "(六)其他处理"),)
_OTHER_2021 = (
    _app("other_no_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"),
    _app("other_unpaid_fee", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"),
    _app("other_misc", "3.其他"),
)
_REVIEW = (Row(TABLE_REVIEW, "all", ("行政复议",), REVIEW_COLUMNS),)

ROWS: dict[Template, tuple[Row, ...]] = {
    "2019": (*_ACTIVE_2019, *_APPS_HEAD, *_OTHER_2019, *_APPS_TAIL, *_REVIEW),
    "2021": (*_ACTIVE_2021, *_APPS_HEAD, *_OTHER_2021, *_APPS_TAIL, *_REVIEW),
}

# Rows whose cells add up to `results_total` (spec §4, E_RESULTS_TOTAL): granted … other*.
RESULT_ROWS: dict[Template, tuple[str, ...]] = {
    t: tuple(
        r.name
        for r in ROWS[t]
        if r.table == TABLE_APPLICATIONS
        and r.name not in ("new_received", "carried_over", "results_total", "carried_forward")
    )
    for t in TEMPLATES
}


def keys(template: Template) -> tuple[str, ...]:
    """Every canonical cell key of a template, in the order of `fields.json`."""
    return tuple(k for row in ROWS[template] for k in row.keys)


def table_keys(template: Template, table: str) -> tuple[str, ...]:
    """The canonical keys of one table of a template."""
    return tuple(k for row in ROWS[template] if row.table == table for k in row.keys)


def amount_keys(template: Template) -> tuple[str, ...]:
    """Keys whose values are money amounts in 万元 (decimals), not counts."""
    return tuple(f"{r.table}.{r.name}.{r.amount_column}" for r in ROWS[template] if r.amount_column)


def is_change_key(key: str) -> bool:
    """Whether a key is a signed `change` column, the one place a negative number is allowed."""
    return key.endswith(".change")
