"""Value columns of a table from where its values are printed, in any unit of horizontal position.

A table printed without ruling still has columns: the values of one column sit under each other.
Given the horizontal extents of the value cells of a table's lines (PDF points today, character
offsets of space-aligned text tomorrow), this finds the columns as bands and places each value in
the one band it overlaps. A value that overlaps no band, or two, is ambiguous and reported as such:
a wrong column is worse than a missing value.
"""

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

# Two extents "overlap" only when they share more than this much (in the caller's unit, scaled by
# the narrower extent): touching boxes of neighbouring columns are not one column.
_MIN_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Span:
    """A horizontal extent: where one printed cell starts and ends."""

    x0: float
    x1: float

    @property
    def centre(self) -> float:
        """The middle of the extent."""
        return (self.x0 + self.x1) / 2


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the values of one line go: `bands[i]` is the index of the value in band i, or None
    (nothing printed there); `ambiguous` lists the values that overlap no band or two."""

    bands: tuple[int | None, ...]
    ambiguous: tuple[int, ...]


def overlaps(a: Span, b: Span) -> bool:
    """Whether two extents share more than a sliver."""
    share = min(a.x1, b.x1) - max(a.x0, b.x0)
    return share > _MIN_SHARE * max(min(a.x1 - a.x0, b.x1 - b.x0), 1e-9)


def infer_bands(lines: Sequence[Sequence[Span]], headers: Sequence[Span] = ()) -> tuple[Span, ...]:
    """The value columns of one table, left to right.

    `lines` holds the extents of the values of each line (numbers and blank marks); `headers` the
    extents of header cells above the values. The lines with the most values define the bands; a
    value of another line, or a header cell, that overlaps no band is a column those lines left
    blank; a header overlapping several bands spans them and says nothing.
    """
    most = max((len(line) for line in lines), default=0)
    bands = _merge([span for line in lines if len(line) == most for span in line])
    spare = [span for line in lines if len(line) < most for span in line]
    bands = _add_unclaimed(bands, _merge([s for s in spare if not any(overlaps(s, b) for b in bands)]))
    # Narrow headers first: a blank column's own header claims its band before a header spanning
    # several columns could look like the header of one.
    for header in sorted(headers, key=lambda s: s.x1 - s.x0):
        if not any(overlaps(header, b) for b in bands):
            bands = _add_unclaimed(bands, [header])
    return tuple(sorted(bands, key=lambda s: s.x0))


def place(span: Span, bands: Sequence[Span]) -> int | None:
    """The index of the one band a value overlaps; None when it overlaps none or several."""
    found = None
    for index, band in enumerate(bands):
        if overlaps(span, band):
            if found is not None:
                return None
            found = index
    return found


def place_line(values: Sequence[Span], bands: Sequence[Span]) -> Placement:
    """Place every value of one line; two values in one band are both ambiguous."""
    slots: list[int | None] = [None] * len(bands)
    ambiguous: set[int] = set()
    for index, span in enumerate(values):
        band = place(span, bands)
        if band is None:
            ambiguous.add(index)
            continue
        taken = slots[band]
        if taken is not None:
            ambiguous.update((taken, index))
        slots[band] = index
    for band, taken in enumerate(slots):
        if taken in ambiguous:
            slots[band] = None
    return Placement(tuple(slots), tuple(sorted(ambiguous)))


def _merge(spans: Sequence[Span]) -> list[Span]:
    """Overlapping extents as one band each."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.x0):
        if merged and overlaps(merged[-1], span):
            last = merged[-1]
            merged[-1] = Span(last.x0, max(last.x1, span.x1))
        else:
            merged.append(span)
    return merged


def _add_unclaimed(bands: list[Span], new: Sequence[Span]) -> list[Span]:
    return [*bands, *(span for span in new if not any(overlaps(span, b) for b in bands))]


def infer_bands_in_order(lines: Sequence[Sequence[Span]], wander: float = 0.0) -> tuple[Span, ...]:
    """`infer_bands` for values that wander within their column by up to `wander` (`pdftotext
    -layout` rounds every glyph to a character cell, so `61` and `0` of one column need not
    overlap): in the lines with the most values, the i-th value of each is in the i-th column, so
    each band spans them all. Where those values lie further apart than `wander`, or the bands
    would overlap, the lines do not agree on their columns (they miss different ones): the values
    less than `wander` apart make a band (`infer_bands_near`). No headers: `add_header_columns`."""
    most = max((len(line) for line in lines), default=0)
    if not most:
        return ()
    full = [line for line in lines if len(line) == most]
    bands = []
    for i in range(most):
        members = sorted((line[i] for line in full), key=lambda s: s.x0)
        reach = members[0].x1
        for span in members[1:]:
            if span.x0 - reach > wander:
                return infer_bands_near(lines, wander)
            reach = max(reach, span.x1)
        bands.append(Span(members[0].x0, reach))
    if any(overlaps(a, b) or a.x0 >= b.x0 for a, b in pairwise(bands)):
        return infer_bands_near(lines, wander)
    # A value of another line within `wander` of one band (and only one) is in that column.
    new: list[Span] = []
    for span in (s for line in lines if len(line) < most for s in line):
        near = [i for i, b in enumerate(bands) if overlaps(span, b) or _gap(span, b) <= wander]
        if len(near) == 1:
            band = bands[near[0]]
            bands[near[0]] = Span(min(band.x0, span.x0), max(band.x1, span.x1))
        elif not near:
            new.append(span)
    bands = _add_unclaimed(bands, infer_bands_near([new], wander))
    return tuple(sorted(bands, key=lambda s: s.x0))


def infer_bands_near(lines: Sequence[Sequence[Span]], wander: float) -> tuple[Span, ...]:
    """Bands of every value, values less than `wander` apart (or overlapping) in one band."""
    bands: list[Span] = []
    for span in sorted((s for line in lines for s in line), key=lambda s: s.x0):
        if bands and (overlaps(bands[-1], span) or span.x0 - bands[-1].x1 <= wander):
            last = bands[-1]
            bands[-1] = Span(last.x0, max(last.x1, span.x1))
        else:
            bands.append(span)
    return tuple(bands)


def _gap(a: Span, b: Span) -> float:
    return max(b.x0 - a.x1, a.x0 - b.x1)


def add_header_columns(bands: Sequence[Span], headers: Sequence[Span]) -> tuple[Span, ...]:
    """The bands (left to right, not overlapping), and a band for every header that no band
    claims: a column left blank in every line. A band claims the headers it overlaps or,
    overlapping none, the header nearest to it (values right- or left-aligned in a wide column can
    miss their centred header); a header over several columns overlaps their bands and adds
    nothing. Narrow headers first, as `infer_bands`."""
    if not headers:
        return tuple(bands)
    ends = [band.x1 for band in bands]
    headed: set[int] = set()
    free: list[Span] = []
    for header in headers:
        under = overlapped(header, bands, ends)
        headed.update(under)
        if not under:
            free.append(header)
    claimed: set[Span] = set()
    for index, band in enumerate(bands):
        if free and index not in headed:
            claimed.add(min(free, key=lambda h: abs(h.centre - band.centre)))
    out = list(bands)
    for header in sorted(free, key=lambda s: s.x1 - s.x0):
        if header not in claimed and not any(overlaps(header, b) for b in out):
            out.append(header)
    return tuple(sorted(out, key=lambda s: s.x0))


def overlapped(span: Span, bands: Sequence[Span], ends: Sequence[float]) -> list[int]:
    """The indices of the bands (left to right, not overlapping; `ends` their right ends) that a
    span overlaps, as `overlaps` says."""
    found = []
    x0, x1 = span.x0, span.x1
    band = bisect_right(ends, x0)
    while band < len(bands):
        b0, b1 = bands[band].x0, bands[band].x1
        if b0 >= x1:
            break
        # `overlaps`, inlined: this runs for every value of every line.
        if min(x1, b1) - max(x0, b0) > _MIN_SHARE * max(min(x1 - x0, b1 - b0), 1e-9):
            found.append(band)
        band += 1
    return found


def place_sorted(values: Sequence[Span], bands: Sequence[Span]) -> Placement:
    """`place_line` for bands that run left to right without overlapping each other (as the
    inferences here return them), finding each value's bands by bisection."""
    ends = [band.x1 for band in bands]
    slots: list[int | None] = [None] * len(bands)
    ambiguous: set[int] = set()
    for index, span in enumerate(values):
        found = overlapped(span, bands, ends)
        if len(found) != 1:
            ambiguous.add(index)
            continue
        taken = slots[found[0]]
        if taken is not None:
            ambiguous.update((taken, index))
        slots[found[0]] = index
    for band, taken in enumerate(slots):
        if taken in ambiguous:
            slots[band] = None
    return Placement(tuple(slots), tuple(sorted(ambiguous)))
