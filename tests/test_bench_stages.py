"""`bench/stages.py` times what a parse really runs: its stages are the parse's own, disjoint, and
leave the parse as it was. (Its figures are the benchmark's; no test times anything.)"""

import inspect
import re
from collections import Counter

import worker.core.parse as parse_module
from bench.parse import SampleStream, rendered_samples
from bench.stages import STAGES, measure, timed_stages
from worker.core import parse_bytes

PARSE_SOURCE = inspect.getsource(parse_module)


def test_every_stage_is_a_name_the_parse_calls() -> None:
    for name in STAGES:
        assert callable(getattr(parse_module, name)), name
        assert re.search(rf"(?<![\w.]){re.escape(name)}\(", PARSE_SOURCE), f"worker.core.parse never calls {name}"


def test_the_stages_are_disjoint_and_cover_the_parse() -> None:
    stream = SampleStream(rendered_samples(1, 5, pad_to=4096), lambda i: rendered_samples(1, 5, pad_to=4096, chunk=i))
    figures = measure(stream, 2)
    stages = figures["stages_us"]
    assert figures["reports"] == 2 * len(stream.first)
    # Every text shape and HTML meet these stages; the readers of their own shape too.
    for name in ("decode", "normalize", "align", "check_cells", "html_to_extracted", "read_space_aligned"):
        assert stages[name] > 0, name
    # Stages timed inside one another would count twice and sum past the parse.
    assert 0 < stages["other"] < figures["parse_us"]
    assert figures["floor_us"] > 0


def test_timing_leaves_results_and_the_module_as_they_were() -> None:
    originals = {name: getattr(parse_module, name) for name in STAGES}
    samples = rendered_samples(1, 9)
    plain = [parse_bytes(s.data, s.name) for s in samples]
    spent: Counter[str] = Counter()
    with timed_stages(spent):
        timed = [parse_bytes(s.data, s.name) for s in samples]
    assert timed == plain
    assert spent["align"] > 0
    assert {name: getattr(parse_module, name) for name in STAGES} == originals
