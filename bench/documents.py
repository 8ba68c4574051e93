"""How fast native documents (PDF, Word, spreadsheets) parse on one process, and whether a parsing
process keeps flat memory over many PDFs.

Run from the checkout: `.venv/bin/python bench/documents.py [--seconds S] [--memory-rounds N]`.
It prints figures, never asserts. The goal stated beside them (issue 7): a 5-page text PDF parsed
in at most 2x what PDFium alone takes to open it and give every character with its box, and a
parsing process's memory flat over 1,000 PDFs in a row.
"""

import argparse
import platform
import random
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium

ROOT = Path(__file__).resolve().parent.parent
# As a script only bench/ is on the path: make `worker` and `tests` importable from the checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.native.office import render_docx, render_xlsx  # noqa: E402  (needs the path set above)
from tests.native.pdf import render_pdf  # noqa: E402
from tests.render import native_blocks, random_cells, render  # noqa: E402
from worker.core import parse_bytes  # noqa: E402

HUAIAN = ROOT / "tests" / "fixtures" / "corpus" / "native" / "huaian-2024.pdf"
GOAL_RATIO = 2.0


def pdfium_floor(data: bytes, _name: str) -> int:
    """What PDFium alone does for a PDF: open it, and give every page's text and character boxes."""
    document = pdfium.PdfDocument(data)
    chars = 0
    try:
        for index in range(len(document)):
            page = document[index]
            text_page = page.get_textpage()
            count = text_page.count_chars()
            text_page.get_text_range()
            for char in range(count):
                text_page.get_charbox(char)
            chars += count
            text_page.close()
            page.close()
    finally:
        document.close()
    return chars


def per_second(function: Callable[[bytes, str], object], samples: list[tuple[str, bytes]], seconds: float) -> float:
    """Documents per second over repeated passes for about `seconds`."""
    done, started = 0, time.perf_counter()
    while True:
        for name, data in samples:
            function(data, name)
        done += len(samples)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def rendered(kind: str, count: int, seed: int) -> list[tuple[str, bytes]]:
    """Reports rendered from random cells as real documents of one kind."""
    rng = random.Random(seed)
    samples = []
    for index in range(count):
        template = rng.choice(("2019", "2021"))
        blocks = native_blocks(random_cells(rng, template), template, rng=rng)
        if kind == "pdf":
            data = render_pdf(blocks, ruled=index % 2 == 0, rng=rng)
        elif kind == "docx":
            data = render_docx(blocks, rng)
        else:
            data = render_xlsx(blocks, rng)
        samples.append((f"r{index}.{kind}", data))
    return samples


def big_html() -> bytes:
    """A 15 MB web page: a report's page with 15 MB of prose before its tables."""
    page = render(random_cells(random.Random(11), "2021"), "2021", "html", rng=random.Random(11))
    filler = "<p>" + "政务公开工作持续推进，" * 40 + "</p>\n"
    head, body = page[: page.index("<body>") + 6], page[page.index("<body>") + 6 :]
    return (head + filler * (15_000_000 // len(filler)) + body).encode()


def rss_mib() -> float:
    """This process's resident memory now, in MiB (Linux)."""
    with Path("/proc/self/statm").open() as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def memory_run(data: bytes, rounds: int) -> list[tuple[int, float]]:
    """Parse one PDF `rounds` times in a row; the resident memory every tenth of the way."""
    marks = []
    step = max(1, rounds // 10)
    for round_ in range(1, rounds + 1):
        parse_bytes(data, "huaian-2024.pdf")
        if round_ % step == 0:
            marks.append((round_, rss_mib()))
    return marks


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per figure")
    parser.add_argument("--memory-rounds", type=int, default=1000, help="PDFs parsed in a row for the memory figure")
    args = parser.parse_args()
    print(
        f"govreport document benchmark: one process, ~{args.seconds:g} s per figure, Python {platform.python_version()}"
    )
    huaian = [(HUAIAN.name, HUAIAN.read_bytes())]
    floor = per_second(pdfium_floor, huaian, args.seconds)
    parse = per_second(parse_bytes, huaian, args.seconds)
    ratio = floor / parse
    print(
        f"huaian-2024.pdf (6 pages): parse {parse:.1f}/s ({1000 / parse:.1f} ms), PDFium alone {floor:.1f}/s "
        f"({1000 / floor:.1f} ms): {ratio:.2f}x PDFium; goal <= {GOAL_RATIO:g}x: {_met(ratio <= GOAL_RATIO)}"
    )
    for kind in ("pdf", "docx", "xlsx"):
        samples = rendered(kind, 20, seed=7)
        rate = per_second(parse_bytes, samples, args.seconds)
        extra = ""
        if kind == "pdf":
            alone = per_second(pdfium_floor, samples, args.seconds)
            extra = f", PDFium alone {alone:.1f}/s: {alone / rate:.2f}x PDFium"
        size = sum(len(d) for _, d in samples) / len(samples) / 1024
        print(f"rendered {kind} (20 reports, {size:.0f} KB each): parse {rate:.1f} reports/s{extra}")
    big = big_html()
    started = time.perf_counter()
    parse_bytes(big, "big.html", max_bytes=10**9)
    seconds = time.perf_counter() - started
    print(f"a {len(big) / 1e6:.1f} MB web page: {seconds:.2f} s, {len(big) / 1e6 / seconds:.1f} MB/s (goal >= 5 MB/s)")
    marks = memory_run(HUAIAN.read_bytes(), args.memory_rounds)
    print(
        f"memory over {args.memory_rounds} parses of huaian-2024.pdf (round: RSS MiB): "
        + ", ".join(f"{r}: {m:.0f}" for r, m in marks)
    )
    growth = marks[-1][1] - marks[0][1]
    print(f"growth from the first tenth to the end: {growth:+.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
