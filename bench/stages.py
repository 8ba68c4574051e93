"""Where a parse's CPU time goes, stage by stage, against the floor of `bench/parse.py`.

Run from the checkout: `.venv/bin/python bench/stages.py [--passes N] [--shape SHAPE] [--json]`.
It prints figures, never asserts. For the 10 KB rendered reports of `bench/parse.py` (fresh ones in
every pass, as there) it times each stage `parse_bytes` runs (the functions `worker.core.parse`
calls: decoding, normalising, splitting, tokenizing, aligning, checking, building the result) in
CPU time, and prints per report: the stage's microseconds, its share of the parse, and the parse's
ratio to the floor (decoding, OpenCC and NFKC) were that stage to cost nothing. That last column
says how far making one stage cheaper can go towards the goal of ≤ 3× the floor.

Timing a stage costs about half a microsecond per call, ~20 calls per report: `other` (what runs
between the stages: hashing the bytes, the source's fields, the evidence) carries it.
"""

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import worker.core.parse as parse_module  # noqa: E402  (needs the path set above)
from bench.parse import (  # noqa: E402
    GOAL_BYTES,
    SampleStream,
    clear_text_caches,
    paired_pass,
    rendered_samples,
    shape_of,
)
from worker.core import parse_bytes  # noqa: E402

# The stages as `worker.core.parse` names them: none calls another through these names, so their
# times never overlap.
STAGES = (
    "sniff",
    "decode",
    "normalize",
    "read_space_aligned",
    "text_to_numbered_rows",
    "html_to_extracted",
    "tokenize_lines",
    "tokenize_placed",
    "_plain",
    "extract_meta",
    "detect_template",
    "align",
    "_cells",
    "check_cells",
    "explain_missing",
    "check_template_year",
    "_prose",
    "check_narrative",
    "ParseResult",
)
GOAL_RATIO = 3.0


@contextmanager
def timed_stages(spent: Counter[str]) -> Iterator[None]:
    """Each stage's CPU nanoseconds added to `spent` while inside; the stages restored after."""
    originals = {name: getattr(parse_module, name) for name in STAGES}

    def timed(name: str, stage: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time_ns()
            try:
                return stage(*args, **kwargs)
            finally:
                spent[name] += time.process_time_ns() - started

        return run

    for name, stage in originals.items():
        setattr(parse_module, name, timed(name, stage))
    try:
        yield
    finally:
        for name, stage in originals.items():
            setattr(parse_module, name, stage)


def measure(stream: SampleStream, passes: int) -> dict[str, Any]:
    """Stage times per report over `passes` fresh chunks, each followed by the floor over it."""
    clear_text_caches()
    for sample in stream.chunk(0):  # the warm-up: what a long-running worker has seen (labels)
        parse_bytes(sample.data, sample.name)
    spent: Counter[str] = Counter()
    parse_s = floor_s = 0.0
    reports = 0
    ratios = []
    for index in range(1, passes + 1):
        samples = stream.chunk(index)
        with timed_stages(spent):  # the floor calls no stage: only the parse pass is split up
            parsed, floor = paired_pass(samples)
        parse_s, floor_s, reports = parse_s + parsed, floor_s + floor, reports + len(samples)
        ratios.append(parsed / floor)
    stages = {name: spent[name] / reports / 1000 for name in STAGES if spent[name]}
    total, floor_us = parse_s / reports * 1e6, floor_s / reports * 1e6
    stages["other"] = total - sum(stages.values())
    return {
        "reports": reports,
        "parse_us": total,
        "floor_us": floor_us,
        "ratio": total / floor_us,
        "ratio_median_by_pass": statistics.median(ratios),
        "stages_us": dict(sorted(stages.items(), key=lambda item: -item[1])),
    }


def print_figures(figures: dict[str, Any], label: str) -> None:
    """The figures as a table people read."""
    total, floor = figures["parse_us"], figures["floor_us"]
    print(f"govreport parse stages: {label}, {figures['reports']} reports, CPU time, Python {sys.version.split()[0]}")
    print(
        f"parse {total:.1f} µs/report (stages timed), floor {floor:.1f} µs: {figures['ratio']:.2f}× "
        f"(median by pass {figures['ratio_median_by_pass']:.2f}×); goal ≤ {GOAL_RATIO:g}× = {GOAL_RATIO * floor:.1f} µs"
    )
    print(f"{'stage':24}{'µs/report':>10}{'share':>8}{'× floor without it':>20}")
    for name, micros in figures["stages_us"].items():
        print(f"{name:24}{micros:10.1f}{100 * micros / total:7.1f}%{(total - micros) / floor:19.2f}×")


def main(argv: list[str] | None = None) -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=8, help="fresh chunks to time (default 8)")
    parser.add_argument("--count", type=int, default=20, help="rendered reports per shape in a chunk")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered reports")
    parser.add_argument("--shape", help="only the reports of this shape (tab, layout, html, …)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    def chunk(index: int) -> list[Any]:
        samples = rendered_samples(args.count, args.seed, pad_to=GOAL_BYTES, chunk=index)
        return [s for s in samples if args.shape is None or shape_of(s) == args.shape]

    stream = SampleStream(chunk(0), chunk)
    if not stream.first:
        parser.error(f"no rendered report has the shape {args.shape!r}")
    figures = measure(stream, args.passes)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print_figures(figures, f"10 KB reports, {args.shape or 'every shape'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
