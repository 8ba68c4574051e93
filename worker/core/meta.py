"""Title, issuing organ and report year, from the first lines and the prose."""

import re

from worker.core.result import Meta

_TITLE_LINES = 40
_TITLE_MAX = 80
_TITLE_PREFIX = re.compile(r"^\s*(?:标题|题目|名称|正文)\s*[:：]?\s*")
# Report years the form can have: the 2019 form began in 2019; older years name old reports.
_YEAR = re.compile(r"(?<!\d)(199\d|20\d\d)\s*年")
_TITLE_REPORT = re.compile(r"(政府信息公开|政务公开)[^。；;,，]{0,8}?(年度报告|工作报告|年报)")
# Where the organ's name stops: the year, or the words of the report's name.
_ORG_AFTER_YEAR = re.compile(r"^\s*年度?\s*(.*?)\s*(?:政府信息公开|政务公开)")
# A title is Chinese: Latin words, backticks or paths mean a line that talks about a file.
_NOT_TITLE = re.compile(r"[A-Za-z`/\\]")
_SPACES_IN_TEXT = re.compile(r"(?<=[\u4e00-\u9fff\d])\s+(?=[\u4e00-\u9fff\d])")


def extract_meta(lines: list[str]) -> Meta:
    """Meta of a document from its lines of text (normalised, in reading order)."""
    title = find_title(lines)
    organization = organization_of(title) if title else None
    year = _year_in(title) if title else None
    if year is None:
        year = _year_in("\n".join(lines[:200]))
    return Meta(title=title, organization=organization or None, year=year)


def find_title(lines: list[str]) -> str | None:
    """The report's title: an early short line naming the report, joined with its last words
    when a PDF broke it over two lines."""
    for i, line in enumerate(lines[:_TITLE_LINES]):
        candidate = _TITLE_PREFIX.sub("", line).strip()
        if len(candidate) > _TITLE_MAX or not ("政" in candidate or "报告" in candidate):
            continue
        if not _TITLE_REPORT.search(candidate) and i + 1 < len(lines):
            joined = candidate + lines[i + 1].strip()
            if len(joined) <= _TITLE_MAX and _TITLE_REPORT.search(joined):
                candidate = joined
        match = _TITLE_REPORT.search(candidate)
        if match and _YEAR.search(candidate[: match.end()]) and not _NOT_TITLE.search(candidate[: match.end()]):
            return _SPACES_IN_TEXT.sub("", candidate[: match.end()]).strip()
    return None


def organization_of(title: str) -> str | None:
    """The organ as the title prints it: before the year, or between the year and the report."""
    year = _YEAR.search(title)
    if year is None:
        return None
    before = title[: year.start()].strip(" ：:-—")
    if before:
        return before
    after = _ORG_AFTER_YEAR.match(title[year.end() - 1 :])
    return after.group(1).strip() if after and after.group(1).strip() else None


def _year_in(text: str) -> int | None:
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None
