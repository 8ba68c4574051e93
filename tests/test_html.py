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
