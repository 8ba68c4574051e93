"""The accuracy benchmark's machinery on a small sample: damaged reports are never silently wrong.

`bench/accuracy.py` renders reports in every shape with every class of damage (fused and
duplicated labels, short rows, wrapped labels with centred values in `-layout` text, blanks printed
as nothing, page furniture inside a row, OCR look-alikes, Traditional script), a share with an
injected error, and parses them. Any report called valid with a wrong number, or any error code on
a report without an injected error, fails this test; the full run (N = 20,000) is the benchmark's.
"""

from bench.accuracy import Summary, evaluate, make_case, measure, report

N = 1400
SEED = 7


def test_no_silent_error_and_no_false_alarm() -> None:
    summary = measure(N, SEED, processes=2)
    assert summary.reports == N
    assert summary.silent_errors == 0, report(summary)
    assert summary.false_alarms == 0, report(summary)
    # Not the goals of the full run, but far from them means something broke.
    assert summary.cells_right_pct >= 99.5, report(summary)
    assert summary.caught_pct >= 95.0, report(summary)


def test_a_case_is_the_same_for_its_seed_and_index() -> None:
    assert make_case(11, 3) == make_case(11, 3)
    first, again = Summary(), Summary()
    first.add(evaluate(make_case(11, 3)))
    again.add(evaluate(make_case(11, 3)))
    assert first.figures() == again.figures() | {"seconds": first.seconds}
