"""Documents that take long to parse: a valid report inside a 15 MB web page (as in test_big_html)."""

import random

from tests.render import random_cells, render


def big_html(size: int = 15_000_000) -> bytes:
    """A valid 2021 report after about `size` bytes (UTF-8) of narrative paragraphs."""
    page = render(random_cells(random.Random(11), "2021"), "2021", "html", rng=random.Random(11))
    body = page[page.index("<body>") + 6 : page.index("</body>")]
    filler = "<p>" + "政务公开工作持续推进，" * 40 + "</p>\n"
    repeat = size // len(filler.encode())
    return (page[: page.index("</body>")] + filler * repeat + body + "</body></html>").encode()
