"""The web-page shape: a CMS page around the report, tables with spans as Word leaves them."""

from __future__ import annotations

import html

from tests.render_document import _Block
from tests.render_grid import _Cell, _Style


def _html_escape(style: _Style, text: str) -> str:
    text = html.escape(text, quote=False)
    if style.rng.random() < 0.3:
        text = text.replace("“", "&ldquo;").replace("”", "&rdquo;")
    return text


def _html_text(style: _Style, cell: _Cell) -> str:
    """Cell content with the markup Word and CMS editors leave in it."""
    rng = style.rng
    text = _html_escape(style, cell.text)
    if cell.kind == "value":
        if not cell.text:
            return rng.choice(("", "&nbsp;", "<p>&nbsp;</p>", "<o:p> </o:p>"))
        centred = f'<p align="center"><span style="font-size:14px">{text}</span></p>'
        return rng.choice((text, text, f"&nbsp;{text}", f"<p>{text}</p>", centred))
    if not cell.text:
        return rng.choice(("", "&nbsp;"))
    if cell.kind == "head" and len(cell.text) == 4 and rng.random() < 0.3:
        return "<br/>".join(cell.text)  # pingtan's vertical headers: 结<br/>果<br/>维<br/>持
    if len(cell.text) >= 4 and rng.random() < 0.2:
        half = len(cell.text) // 2
        head, tail = _html_escape(style, cell.text[:half]), _html_escape(style, cell.text[half:])
        return rng.choice((f"<p>{head}</p><p>{tail}</p>", f"<span>{head}</span><span>{tail}</span>"))
    return text


def _html_table(style: _Style, block: _Block) -> str:
    rows = []
    for row in block.grid:
        tds = []
        for cell in row:
            colspan = f' colspan="{cell.colspan}"' if cell.colspan > 1 else ""
            rowspan = f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else ""
            tds.append(f"<td{colspan}{rowspan}>{_html_text(style, cell)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    attrs = style.rng.choice(('border="1" cellspacing="0"', 'style="BORDER-COLLAPSE:collapse" border="1"'))
    return f"<table {attrs}><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


_MENU = ("首页", "政务公开", "办事服务", "互动交流", "数据开放")
_NAV = "".join(f'<li><a href="/{i}/">{name}</a></li>' for i, name in enumerate(_MENU))


def _html_meta_table(org: str, year: int, title: str) -> str:
    """The CMS's document-properties table that precedes the report on many portals (real-013)."""
    return (
        '<table class="table_content"><tr><td>名称</td><td colspan="3">' + title + "</td></tr>"
        f"<tr><td>索引号</td><td>014314799/{year + 1}-00002</td><td>分类</td><td>信息公开年报</td></tr>"
        f"<tr><td>发布机构</td><td>{org}</td><td>公开日期</td><td>{year + 1}-01-17</td></tr></table>"
    )


def render_html(style: _Style, blocks: list[_Block], org: str, year: int) -> str:
    """The whole report as a crawled web page."""
    title = blocks[0].text
    body: list[str] = []
    for block in blocks[1:]:
        if block.kind == "table":
            body.append(_html_table(style, block))
        elif block.kind == "heading":
            heading = (f"<p><strong>{block.text}</strong></p>", f"<h3>{block.text}</h3>", f"<p>{block.text}</p>")
            body.append(style.rng.choice(heading))
        else:
            body.append(f"<p>{html.escape(block.text, quote=False)}</p>")
    meta = _html_meta_table(org, year, title) if style.rng.random() < 0.5 else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<title>{title}_政府信息公开年报_{org}</title>
<style>table {{ border-collapse: collapse; }} td {{ padding: 4px; }}</style>
<script type="text/javascript">var websiteId = "e1db2778"; function time() {{ return 1; }}</script>
</head>
<body>
<div class="header"><nav class="menu"><ul>{_NAV}</ul></nav></div>
<div class="crumb">当前位置：<a href="/">首页</a> &gt; 政务公开 &gt; 政府信息公开年报</div>
{meta}
<div class="article">
<h1 class="article_title">{title}</h1>
<div class="article_extend"><span>来源：{org}</span> <span>时间：{year + 1}-01-20 09:30</span></div>
<div class="article_content">
{chr(10).join(body)}
</div>
</div>
<div class="footer">主办单位：{org}　网站标识码：3213220001</div>
</body>
</html>
"""
