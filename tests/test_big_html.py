"""Web pages of any depth and size: a report nested thousands of wrappers deep keeps its tables,
and a 15 MB page parses in linear time with bounded memory."""

import random
import subprocess
import sys
import textwrap

import pytest

from tests.render import random_cells, render
from worker.core import parse_bytes

pytestmark = pytest.mark.timeout(300)


def _page() -> tuple[dict[str, int | float | None], str]:
    cells = random_cells(random.Random(11), "2021")
    return cells, render(cells, "2021", "html", rng=random.Random(11))


@pytest.mark.parametrize("depth", [60, 300, 5000])
@pytest.mark.parametrize("wrapper", ["div", "span"])
def test_a_report_nested_deep_keeps_every_cell(depth: int, wrapper: str) -> None:
    cells, page = _page()
    start = page.index("<body>") + len("<body>")
    end = page.index("</body>")
    nested = f"{page[:start]}{f'<{wrapper}>' * depth}{page[start:end]}{f'</{wrapper}>' * depth}{page[end:]}"
    result = parse_bytes(nested.encode(), "deep.html")
    assert result.status == "valid"
    assert result.cells == cells


def test_a_15_mb_page_parses_fast_with_bounded_memory() -> None:
    # In a fresh process, so that the peak resident memory measured is this parse's alone.
    probe = textwrap.dedent(
        """
        import random, resource, sys, time
        from tests.render import random_cells, render
        from worker.core import parse_bytes
        page = render(random_cells(random.Random(11), "2021"), "2021", "html", rng=random.Random(11))
        body = page[page.index("<body>") + 6 : page.index("</body>")]
        filler = "<p>" + "政务公开工作持续推进，" * 40 + "</p>\\n"
        data = (page[: page.index("</body>")] + filler * (15_000_000 // len(filler)) + body + "</body></html>").encode()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        started = time.perf_counter()
        result = parse_bytes(data, "big.html", max_bytes=10**9)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        print(result.status.value, len(data), seconds, peak)
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=240)
    status, size, seconds, peak = done.stdout.split()
    assert status == "valid"
    assert int(size) > 15_000_000
    # Its speed is a benchmark's figure (bench/documents.py), not a test's; memory is a bound.
    assert float(seconds) > 0
    assert int(peak) < 20 * int(size), f"peak {int(peak) / 2**20:.0f} MiB for {int(size) / 2**20:.0f} MiB"
