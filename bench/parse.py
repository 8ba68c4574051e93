"""How fast `parse_bytes` reads reports on one process, against decoding and OpenCC alone.

Run from the checkout: `.venv/bin/python bench/parse.py [--json] [--seconds S] [--files PATH...]`.
It prints figures, never asserts: the goal (≥500 reports/s for 10 KB reports) is stated beside them.

What a figure means: the time of a long-running worker reading reports it has not seen before.
The core caches work keyed by text (a cell's tokens, a label's candidates): labels recur in every
report, prose hardly ever does. So no sample is parsed twice in one figure: the rendered sets are
drawn in chunks (`--count` reports of each shape, a new seed per chunk, prose padding drawn anew),
one chunk per pass, rendering not timed. Each figure starts with the core's text caches emptied and
one untimed warm-up chunk (what the worker has seen before: the labels); the decode+OpenCC floor
runs over the very chunks its parse figure ran over. The fixed sets (corpus, --files) cannot be
renewed: their text caches are emptied before every pass instead, so each pass reads them cold.
"""

import argparse
import codecs
import json
import platform
import random
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import opencc

ROOT = Path(__file__).resolve().parent.parent
# As a script only bench/ is on the path: make `worker` and `tests` importable from the checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.render import SHAPES, random_cells, render  # noqa: E402  (needs the path set above)
from worker.core import parse_bytes  # noqa: E402
from worker.core.forms import Template  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "corpus"
GOAL_PER_SECOND = 500
GOAL_BYTES = 10 * 1024
# At least this many paired passes (`paired_ratios`): a median of fewer says little.
_PAIRED_PASSES = 7
# One shared converter, as the parser keeps one: building it costs far more than a conversion.
T2S = opencc.OpenCC("t2s")


@dataclass(frozen=True, slots=True)
class Sample:
    """One file to parse: where it came from and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Timing:
    """How long a pass over a set took, repeated for a while."""

    reports: int
    seconds: float
    # CPU time of this process over the same passes: on a shared machine wall-clock time swings
    # with the other processes, CPU time much less.
    cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        """Reports per second."""
        return self.reports / self.seconds

    @property
    def cpu_per_second(self) -> float:
        """Reports per CPU second."""
        return self.reports / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    @property
    def cpu_ms(self) -> float:
        """Mean CPU milliseconds per report."""
        return 1000 * self.cpu_seconds / self.reports

    @property
    def mean_ms(self) -> float:
        """Mean milliseconds per report."""
        return 1000 * self.seconds / self.reports


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of one set of files; the parse ones are None when the parser could not run."""

    name: str
    files: int
    mean_kb: float
    decode_opencc_ms: float
    reports_per_s: float | None = None
    mb_per_s: float | None = None
    mean_ms: float | None = None
    per_s_at_10kb: float | None = None
    parse_over_decode_opencc: float | None = None
    # The same figures by CPU time (best pass), and per shape of rendered report.
    cpu_ms: float | None = None
    cpu_reports_per_s: float | None = None
    decode_opencc_cpu_ms: float | None = None
    cpu_parse_over_decode_opencc: float | None = None
    # Decoding and OpenCC alone (no NFKC), best pass, and the parse over it.
    decode_t2s_cpu_ms: float | None = None
    cpu_parse_over_decode_t2s: float | None = None
    shapes_cpu_ms: dict[str, float] = field(default_factory=dict)
    # Parse over the floor pass by pass, each parse pass followed at once by the floor over the
    # same reports: the median and the range of those ratios (see `paired_ratios`).
    paired_median: float | None = None
    paired_range: tuple[float, float] | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def corpus_samples() -> list[Sample]:
    """Every report of the corpus (seeds and real), not its truth files."""
    paths = sorted(p for p in CORPUS.glob("*/*") if p.is_file())
    return [Sample(p.name, p.read_bytes()) for p in paths]


def file_samples(paths: Sequence[Path]) -> list[Sample]:
    """The files given on the command line."""
    return [Sample(p.name, p.read_bytes()) for p in paths]


def _prose_clauses() -> list[str]:
    """The clauses of the prose of the corpus's text reports, to pad rendered reports with."""
    clauses: set[str] = set()
    for path in sorted(CORPUS.glob("*/*.txt")):
        for line in path.read_text(errors="replace").splitlines():
            if len(line) > 60 and not re.search(r"[|\t:：]| {2}|http", line):
                clauses.update(c.strip() for c in re.split(r"[,，。;；]", line))
    # Not a clause that opens like a heading (`一、`, `（二）`, `3.`): padding is body text; nor one in
    # traditional characters (some reports of the corpus are): a report is printed in one script.
    return sorted(c for c in clauses if len(c) >= 6 and not _HEADING.match(c) and T2S.convert(c) == c)


_HEADING = re.compile(r"[（(]?[一二三四五六七八九十\d]+[、.．）)]")
# Prose of the corpus as clauses: a padding line joins clauses drawn at random, so its lines are
# new text in every report, as real reports' prose is (a repeated line would hit the core's caches).
_CLAUSES = _prose_clauses()


def rendered_samples(count: int, seed: int, pad_to: int | None = None, chunk: int = 0) -> list[Sample]:
    """`count` rendered reports of each shape, padded with prose to `pad_to` bytes if given.

    `chunk` > 0 draws another set of reports from the same seed (the benchmark's later passes).
    """
    rng = random.Random(seed if chunk == 0 else f"{seed}/{chunk}")
    samples = []
    for shape in SHAPES:
        for i in range(count):
            template: Template = ("2019", "2021")[i % 2]
            text = render(random_cells(rng, template), template, shape, rng=rng)
            if pad_to is not None:
                text = _pad_with_prose(text, shape, pad_to, rng)
            samples.append(Sample(f"rendered-{shape}-{i}", text.encode("utf-8")))
    return samples


def _prose_line(rng: random.Random) -> str:
    """A line of body text: clauses of the corpus's prose drawn at random, 60 to 200 characters."""
    clauses = [rng.choice(_CLAUSES)]
    goal = rng.randint(60, 200)
    while sum(len(c) + 1 for c in clauses) < goal:
        clauses.append(rng.choice(_CLAUSES))
    return "，".join(clauses) + "。"


def _pad_with_prose(text: str, shape: str, size: int, rng: random.Random) -> str:
    """More prose where a report has it (after its last part), up to about `size` bytes."""
    extra: list[str] = []
    length = len(text.encode())
    while length < size:
        extra.append(_prose_line(rng))
        length += len(extra[-1].encode()) + 1
    if shape == "html":
        return text.replace("</body>", "".join(f"<p>{p}</p>" for p in extra) + "</body>")
    return text + "\n" + "\n".join(extra) + "\n"


def decode(data: bytes) -> str:
    """Decode as the parser's first stage does: BOM first, then UTF-8, then GB18030."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def decode_and_convert(data: bytes, _filename: str) -> str:
    """The floor of any parse: decode, Traditional→Simplified, width folding."""
    return unicodedata.normalize("NFKC", T2S.convert(decode(data)))


def decode_and_opencc(data: bytes, _filename: str) -> str:
    """The floor without its width folding: most of the floor is NFKC over the whole text (a
    full-width comma anywhere makes `unicodedata` rebuild all of it), which the parser avoids;
    this part every parse pays as it is."""
    return str(T2S.convert(decode(data)))


class SampleStream:
    """A set's samples pass after pass: fresh rendered chunks, or the same fixed files again."""

    def __init__(self, first: list[Sample], renew: Callable[[int], list[Sample]] | None = None) -> None:
        self.first = first
        self.renew = renew
        self._chunks = [first]

    @property
    def fixed(self) -> bool:
        """Whether every pass reads the same samples (their text caches are emptied before each)."""
        return self.renew is None

    def chunk(self, index: int) -> list[Sample]:
        """The samples of pass `index` (0: the warm-up), rendered once and kept for later figures."""
        if self.renew is None:
            return self.first
        while len(self._chunks) <= index:
            self._chunks.append(self.renew(len(self._chunks)))
        return self._chunks[index]

    def of_shape(self, shape: str) -> "SampleStream":
        """The rendered reports of one shape, chunk by chunk."""
        first = [s for s in self.first if shape_of(s) == shape]
        if self.fixed:
            return SampleStream(first)
        return SampleStream(first, lambda index: [s for s in self.chunk(index) if shape_of(s) == shape])


def text_caches() -> list[Any]:
    """The core's caches keyed by text (cells, labels, lines), to empty before a figure.

    The small caches (a few entries, keyed by template) hold tables built once per process: kept.
    """
    found: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if name == "worker.core" or name.startswith("worker.core."):
            for value in vars(module).values():
                parameters = getattr(value, "cache_parameters", None)
                if callable(parameters):
                    size = parameters()["maxsize"]
                    if size is None or size > 64:
                        found[id(value)] = value
    return list(found.values())


def clear_text_caches() -> None:
    """Empty the core's text caches: what follows reads its samples as new reports."""
    for cache in text_caches():
        cache.cache_clear()


@dataclass(frozen=True, slots=True)
class Run:
    """The passes of one figure: their total time, their count of reports and the fastest pass."""

    timing: Timing
    best: Timing
    passes: int
    bytes: int


def time_passes(
    function: Callable[[bytes, str], object], stream: SampleStream, seconds: float, passes: int | None = None
) -> Run:
    """Run `function` pass after pass (a new chunk each) for about `seconds`, or `passes` passes.

    Untimed: emptying the text caches, the warm-up chunk, rendering the chunks.
    """
    clear_text_caches()
    for sample in stream.chunk(0):
        function(sample.data, sample.name)
    reports, size, elapsed, cpu_total, best, best_reports, done = 0, 0, 0.0, 0.0, float("inf"), 1, 0
    while (elapsed < seconds) if passes is None else (done < passes):
        samples = stream.chunk(done + 1)
        if stream.fixed:
            clear_text_caches()
        started, cpu = time.perf_counter(), time.process_time()
        for sample in samples:
            function(sample.data, sample.name)
        cpu_pass = time.process_time() - cpu
        elapsed += time.perf_counter() - started
        cpu_total += cpu_pass
        reports += len(samples)
        size += sum(len(sample.data) for sample in samples)
        done += 1
        if cpu_pass / len(samples) < best / best_reports:
            best, best_reports = cpu_pass, len(samples)
    return Run(Timing(reports, elapsed, cpu_total), Timing(best_reports, best, best), done, size)


def paired_ratios(stream: SampleStream, passes: int) -> list[float]:
    """Parse CPU time over the floor's, pass by pass: each parse pass followed at once by the floor
    over the same reports. The best passes of two separate runs (`time_passes`) may fall in
    different spells of a shared machine's load, which then moves their ratio by a third; a parse
    pass and the floor pass right after it share their spell.

    Untimed, as in `time_passes`: emptying the text caches, the warm-up chunk.
    """
    clear_text_caches()
    for sample in stream.chunk(0):
        parse_bytes(sample.data, sample.name)
    ratios = []
    for done in range(passes):
        samples = stream.chunk(done + 1)
        if stream.fixed:
            clear_text_caches()
        parsed, floor = paired_pass(samples)
        if floor > 0:
            ratios.append(parsed / floor)
    return ratios


def paired_pass(samples: list[Sample]) -> tuple[float, float]:
    """CPU seconds of one parse pass over `samples`, then of the floor over the same samples."""
    cpu = time.process_time()
    for sample in samples:
        parse_bytes(sample.data, sample.name)
    parsed = time.process_time() - cpu
    cpu = time.process_time()
    for sample in samples:
        decode_and_convert(sample.data, sample.name)
    return parsed, time.process_time() - cpu


def shape_of(sample: Sample) -> str | None:
    """The shape of a rendered report (`rendered-<shape>-<i>`), None for other files."""
    parts = sample.name.split("-")
    return parts[1] if len(parts) == 3 and parts[0] == "rendered" else None


def cpu_by_shape(stream: SampleStream, seconds: float) -> dict[str, float]:
    """Best-pass CPU milliseconds per report of each shape of rendered report."""
    shapes = list(dict.fromkeys(shape for shape in map(shape_of, stream.first) if shape is not None))
    share = seconds / max(len(shapes), 1)
    return {shape: time_passes(parse_bytes, stream.of_shape(shape), share).best.cpu_ms for shape in shapes}


def statuses(samples: list[Sample]) -> dict[str, int]:
    """How many samples end valid, invalid or failed (and why): a fast failure is no benchmark."""
    counts: Counter[str] = Counter()
    for sample in samples:
        result = parse_bytes(sample.data, sample.name)
        reason = f"/{result.failure.reason.value}" if result.failure is not None else ""
        counts[f"{result.status.value}{reason}"] += 1
    return dict(sorted(counts.items()))


def measure(name: str, stream: SampleStream, seconds: float) -> Figures:
    """The figures of one set: parse, decode+OpenCC alone over the same samples, and their ratio."""
    samples = stream.first
    total = sum(len(s.data) for s in samples)
    mean_kb = total / len(samples) / 1024
    try:
        counts = statuses(samples)
        run = time_passes(parse_bytes, stream, seconds)
        shapes = cpu_by_shape(stream, seconds)
    except NotImplementedError as error:
        # The parser's stub: report it. Any other exception is a parser bug and keeps its traceback.
        floor = time_passes(decode_and_convert, stream, seconds).timing
        return Figures(name, len(samples), mean_kb, floor.mean_ms, error=f"{type(error).__name__}: {error}")
    # The floor over the very passes the parse ran over (fixed sets: repeated, it caches nothing).
    floor_run = time_passes(decode_and_convert, stream, seconds, None if stream.fixed else run.passes)
    bare = time_passes(decode_and_opencc, stream, seconds, None if stream.fixed else run.passes).best
    ratios = paired_ratios(stream, max(run.passes, _PAIRED_PASSES))
    parse, parse_cpu, floor, floor_cpu = run.timing, run.best, floor_run.timing, floor_run.best
    bytes_per_s = run.bytes / parse.seconds
    return Figures(
        name=name,
        files=len(samples),
        mean_kb=mean_kb,
        reports_per_s=parse.per_second,
        mb_per_s=bytes_per_s / 2**20,
        mean_ms=parse.mean_ms,
        # Parse cost grows with size: scale the rate to what it would be at the goal's 10 KB.
        per_s_at_10kb=bytes_per_s / GOAL_BYTES,
        decode_opencc_ms=floor.mean_ms,
        parse_over_decode_opencc=parse.mean_ms / floor.mean_ms,
        cpu_ms=parse_cpu.cpu_ms,
        cpu_reports_per_s=parse_cpu.cpu_per_second,
        decode_opencc_cpu_ms=floor_cpu.cpu_ms,
        cpu_parse_over_decode_opencc=parse_cpu.cpu_ms / floor_cpu.cpu_ms,
        decode_t2s_cpu_ms=bare.cpu_ms,
        cpu_parse_over_decode_t2s=parse_cpu.cpu_ms / bare.cpu_ms,
        shapes_cpu_ms=shapes,
        paired_median=statistics.median(ratios) if ratios else None,
        paired_range=(min(ratios), max(ratios)) if ratios else None,
        statuses=counts,
        error=None,
    )


def _number(value: float | None, digits: int) -> str:
    """A figure for the table, `-` when there is none."""
    return "-" if value is None else f"{value:,.{digits}f}"


def _pad(text: str, width: int) -> str:
    """Right-align in `width`, or left-align in `-width`."""
    return text.ljust(-width) if width < 0 else text.rjust(width)


# The table's columns: title, width (negative: left-aligned), and the cell of a set's figures.
COLUMNS: tuple[tuple[str, int, Callable[[Figures], str]], ...] = (
    ("set", -10, lambda f: f.name),
    ("files", 5, lambda f: str(f.files)),
    ("mean KB", 8, lambda f: _number(f.mean_kb, 1)),
    ("reports/s", 10, lambda f: _number(f.reports_per_s, 0)),
    ("MB/s", 7, lambda f: _number(f.mb_per_s, 2)),
    ("ms/report", 10, lambda f: _number(f.mean_ms, 3)),
    ("@10KB/s", 8, lambda f: _number(f.per_s_at_10kb, 0)),
    ("dec+cc ms", 10, lambda f: _number(f.decode_opencc_ms, 3)),
    ("parse/dec+cc", 12, lambda f: _number(f.parse_over_decode_opencc, 1)),
    ("cpu ms", 7, lambda f: _number(f.cpu_ms, 3)),
    ("cpu rep/s", 9, lambda f: _number(f.cpu_reports_per_s, 0)),
    ("cpu/dec+cc", 10, lambda f: _number(f.cpu_parse_over_decode_opencc, 1)),
)


def print_table(figures: list[Figures], notes: list[str], seconds: float) -> None:
    """The figures as a table a person reads, with the goal beside them."""
    print(f"govreport parse benchmark: one process, ~{seconds:g} s per figure, Python {platform.python_version()}")
    print(f"goal: >= {GOAL_PER_SECOND} reports/s for {GOAL_BYTES // 1024} KB reports")
    print(" ".join(_pad(title, width) for title, width, _ in COLUMNS))
    for f in figures:
        print(" ".join(_pad(cell(f), width) for _, width, cell in COLUMNS))
    for f in figures:
        if f.error:
            print(f"{f.name}: parse_bytes failed: {f.error}")
        else:
            met = "met" if (f.per_s_at_10kb or 0) >= GOAL_PER_SECOND else "NOT met"
            print(f"{f.name}: goal {met} at 10 KB; results {f.statuses}")
            if f.decode_t2s_cpu_ms is not None and f.cpu_parse_over_decode_t2s is not None:
                print(
                    f"{f.name}: the floor without NFKC (decoding and OpenCC alone): CPU ms {f.decode_t2s_cpu_ms:.3f}, "
                    f"parse {f.cpu_parse_over_decode_t2s:.1f}× that"
                )
            if f.paired_median is not None and f.paired_range is not None:
                low, high = f.paired_range
                print(
                    f"{f.name}: parse over the floor pass by pass (each parse pass, then the floor over its "
                    f"reports): median {f.paired_median:.2f}× (passes {low:.2f}–{high:.2f})"
                )
            if f.shapes_cpu_ms:
                shapes = "  ".join(f"{shape} {ms:.3f}" for shape, ms in f.shapes_cpu_ms.items())
                print(f"{f.name}: CPU ms per report by shape (best pass): {shapes}")
    for note in notes:
        print(f"note: {note}")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--files", nargs="+", type=Path, metavar="PATH", help="bench these files")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per figure (default 3)")
    parser.add_argument("--count", type=int, default=20, help="rendered reports per shape")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered reports")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every set and print the figures; 1 when parse_bytes could not be timed."""
    args = parse_arguments(argv)
    notes: list[str] = []
    if args.files:
        sets = {"files": SampleStream(file_samples(args.files))}
    else:
        count, seed = args.count, args.seed
        sets = {
            "corpus": SampleStream(corpus_samples()),
            "rendered": SampleStream(
                rendered_samples(count, seed), lambda chunk: rendered_samples(count, seed, chunk=chunk)
            ),
            "10kb": SampleStream(
                rendered_samples(count, seed, pad_to=GOAL_BYTES),
                lambda chunk: rendered_samples(count, seed, pad_to=GOAL_BYTES, chunk=chunk),
            ),
        }
    figures = [measure(name, stream, args.seconds) for name, stream in sets.items() if stream.first]
    if args.json:
        goal = {"reports_per_s": GOAL_PER_SECOND, "report_bytes": GOAL_BYTES}
        print(
            json.dumps(
                {
                    "goal": goal,
                    "seconds": args.seconds,
                    "sets": [asdict(f) for f in figures],
                    "notes": notes,
                },
                ensure_ascii=False,
            )
        )
    else:
        print_table(figures, notes, args.seconds)
    return 1 if any(f.error for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
