"""Which national template a report follows, and whether it is a report at all."""

from worker.core.forms import Template

# Header words only one template prints (spec §2): the columns of 第二十条第(一)项, and the
# three numbered sub-rows of (六)其他处理 in 2021.
_MARKS_2021 = (
    "本年制发件数",
    "本年废止件数",
    "现行有效件数",
    "本年收费金额",
    "申请人无正当理由逾期不补正",
    "申请人逾期未按收费通知",
)
_MARKS_2019 = (
    "本年新制作数量",
    "本年新公开数量",
    "对外公开总数量",
    "上一年项目数量",
    "本年增/减",
    "其他对外管理服务事项",
    "政府集中采购",
    "采购项目数量",
    "采购总金额",
)
# What the tables of the 2019/2021 forms print and the older form (统计表) does not.
_FORM_MARKS = (
    "本年新收政府信息公开申请数量",
    "上年结转政府信息公开申请数量",
    "结转下年度继续办理",
    "第二十条第",
    "予以公开",
    "属于国家秘密",
)
# The pre-2019 form: one statistics table with 指标名称 / 计量单位 columns.
_OLD_FORM_MARKS = ("政府信息公开情况统计表", "指标名称", "计量单位", "受理依申请公开信息总数", "依申请公开信息目录数")
_REPORT_WORDS = ("政府信息公开", "政务公开")
_REPORT_KINDS = ("年度报告", "工作报告", "年报")


def detect_template(text: str, year: int | None) -> Template:
    """The template whose marks the text prints most; the year decides when neither shows."""
    new = sum(1 for mark in _MARKS_2021 if mark in text)
    old = sum(1 for mark in _MARKS_2019 if mark in text)
    if new != old:
        return "2021" if new > old else "2019"
    return "2021" if year is not None and year >= 2021 else "2019"


def prints_form(text: str) -> bool:
    """Whether the text prints words of the 2019/2021 forms' tables."""
    return sum(1 for mark in _FORM_MARKS if mark in text) >= 2


# The six parts every report has (spec §1); a text that merely mentions reports has few of them.
_SECTIONS = (
    "总体情况",
    "主动公开政府信息情况",
    "收到和处理政府信息公开申请情况",
    "行政复议、行政诉讼情况",
    "存在的主要问题",
    "其他需要报告的事项",
)


def looks_like_report(text: str, has_title: bool) -> bool:
    """Whether a text is a government information-disclosure annual report: it names itself one
    and has the report's title or at least two of its six parts."""
    names_itself = any(w in text for w in _REPORT_WORDS) and any(k in text for k in _REPORT_KINDS)
    return names_itself and (has_title or sum(1 for s in _SECTIONS if s in text) >= 2)


def prints_old_form(text: str) -> bool:
    """Whether the text prints the pre-2019 statistics table."""
    return sum(1 for mark in _OLD_FORM_MARKS if mark in text) >= 2
