"""HTML: tables become grids with spans expanded; the page around them becomes prose lines."""

from worker.core.html import html_to_rows, looks_like_html

PAGE = """<!doctype html><html><head><title>某局2022年政府信息公开工作年度报告_门户网站</title>
<script>var x = "<table><tr><td>1</td></tr></table>";</script><style>td{}</style></head>
<body><div class="nav"><a>首页</a><a>政务公开</a></div>
<p>一、总体情况</p><p>正文<br>第二行</p>
<table><tr><td rowspan="2">(三)不予公开</td><td>1.属于国家秘密</td><td>1</td><td colspan="2">2</td><td>3</td></tr>
<tr><td>2.其他法律行政法规禁止公开</td><td>4</td><td colspan="2">5</td><td>6</td></tr>
<tr><td colspan="2"><p>商业</p><p>企业</p></td><td></td><td>&nbsp;</td><td><o:p> </o:p></td><td>7</td></tr></table>
<p>结尾</p></body></html>"""


def test_spans_comments_scripts_and_prose() -> None:
    rows = html_to_rows(PAGE)
    assert rows[0] == ["某局2022年政府信息公开工作年度报告_门户网站"]
    assert ["一、总体情况"] in rows
    assert ["正文"] in rows and ["第二行"] in rows
    assert ["(三)不予公开", "1.属于国家秘密", "1", "2", "3"] in rows
    # The rowspan leaves an empty cell, so the second row keeps its columns; a colspan is one cell.
    assert ["", "2.其他法律行政法规禁止公开", "4", "5", "6"] in rows
    assert ["商业企业", "", "", "", "7"] in rows
    assert rows[-1] == ["结尾"]
    assert not any("var x" in cell for row in rows for cell in row)


def test_a_layout_table_around_the_report_is_read_as_prose() -> None:
    page = "<table><tr><td><p>标题</p><table><tr><td>规章</td><td>0</td></tr></table></td></tr></table>"
    assert html_to_rows(page) == [["标题"], ["规章", "0"]]


def test_hostile_spans_are_clamped() -> None:
    page = '<table><tr><td rowspan="1000000" colspan="99999">x</td></tr><tr><td>y</td></tr></table>'
    rows = html_to_rows(page)
    assert rows[0] == ["x"] and rows[1][-1] == "y" and len(rows[1]) <= 65


def test_empty_and_odd_documents() -> None:
    assert html_to_rows("<html></html>") == []
    assert html_to_rows('<?xml version="1.0" encoding="gbk"?><html><body><p>中</p></body></html>') == [["中"]]


def test_sniffing() -> None:
    assert looks_like_html("<!DOCTYPE html><html>")
    assert looks_like_html("文字<p>段落</p>")
    assert not looks_like_html("规章\t0\t0\t0\n行政许可 | 1 |")


# Cells with markup inside, as word processors and CMS editors print them, and the text each reads as.
_CELLS = {
    "<p><span>12</span></p>": "12",
    "<p><span> 12 </span></p>": "12",
    "<p>商业</p><p>企业</p>": "商业企业",
    "<div><p>行政</p><p>许可</p></div>": "行政许可",
    "<p><span>1</span>2</p>": "12",
    "<p>a</p>b": "a b",
    "<p><script>x</script></p>": "",
    " <p>12</p>": "12",
    "<span><p>1</p><p>2</p></span>": "1 2",
    "<b>3</b>": "3",
    "<p><br></p>": "",
    "<p>12<br>34</p>": "12 34",
    "<p><span><b>行政</b></span></p><p>许可</p>": "行政许可",
    "<div><div><p><span>0</span></p></div></div>": "0",
    "<p><style>x</style>5</p>": "5",
    "<p>5<style>x</style></p>": "5",
    "<span>1</span><span>2</span>": "12",
    "<p>\n 7 \n</p>": "7",
}


def test_a_cells_text_whatever_markup_wraps_it() -> None:
    page = "<table><tr>" + "".join(f"<td>{cell}</td>" for cell in _CELLS) + "</tr></table>"
    assert html_to_rows(page) == [list(_CELLS.values())]


def test_a_repeated_span_attribute_counts_once_as_first_printed() -> None:
    page = '<table><tr><td rowspan="2" rowspan="3" colspan="2">x</td><td>y</td></tr><tr><td>z</td></tr></table>'
    assert html_to_rows(page) == [["x", "y"], ["", "", "z"]]
