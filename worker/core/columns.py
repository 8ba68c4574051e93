"""Value columns of a table from where its values are printed, in any unit of horizontal position.

A table printed without ruling still has columns: the values of one column sit under each other.
Given the horizontal extents of the value cells of a table's lines (PDF points today, character
offsets of space-aligned text tomorrow), this finds the columns as bands and places each value in
the one band it overlaps. A value that overlaps no band, or two, is ambiguous and reported as such:
a wrong column is worse than a missing value.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import pairwise
from operator import itemgetter
from typing import NamedTuple

# Two extents "overlap" only when they share more than this much (in the caller's unit, scaled by
# the narrower extent): touching boxes of neighbouring columns are not one column.
_MIN_SHARE = 0.05
_TINY = 1e-9


class Span(NamedTuple):
    """A horizontal extent: where one printed cell starts and ends.

    A named tuple, immutable and compared by value: tables make hundreds, and a frozen
    dataclass costs several times more to build."""

    x0: float
    x1: float

    @property
    def centre(self) -> float:
        """The middle of the extent."""
        return (self.x0 + self.x1) / 2


# Where a value stands as a bare pair (x0, x1): a `Span` is one, and so is a plain tuple, which a
# caller making hundreds per table builds for a fraction of a named tuple's cost. The functions
# that take the values of lines take either.
Extent = tuple[float, float]


class Placement(NamedTuple):
    """Where the values of one line go: `bands[i]` is the index of the value in band i, or None
    (nothing printed there); `ambiguous` lists the values that overlap no band or two."""

    bands: tuple[int | None, ...]
    ambiguous: tuple[int, ...]


def overlaps(a: Span, b: Span) -> bool:
    """Whether two extents share more than a sliver."""
    return _shared(a.x0, a.x1, b.x0, b.x1)


def _shared(a0: float, a1: float, b0: float, b1: float) -> bool:
    # `overlaps` on bare numbers, with `min`/`max` of two written out (as they compare): this
    # runs for every value of every line, twice per band.
    share = (b1 if b1 < a1 else a1) - (b0 if b0 > a0 else a0)
    wa, wb = a1 - a0, b1 - b0
    narrow = wb if wb < wa else wa
    return share > _MIN_SHARE * (_TINY if narrow < _TINY else narrow)


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
    return tuple(sorted(bands, key=_start))


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
    for span in sorted(spans, key=_start):
        if merged and overlaps(merged[-1], span):
            last = merged[-1]
            merged[-1] = Span(last.x0, max(last.x1, span.x1))
        else:
            merged.append(span)
    return merged


def _add_unclaimed(bands: list[Span], new: Sequence[Span]) -> list[Span]:
    return [*bands, *(span for span in new if not any(overlaps(span, b) for b in bands))]


def bands_in_order(lines: Sequence[Sequence[Extent]], wander: float = 0.0) -> tuple[Span, ...] | None:
    """`infer_bands` for values that wander within their column by up to `wander` (`pdftotext
    -layout` rounds every glyph to a character cell, so `61` and `0` of one column need not
    overlap): in the lines with the most values, the i-th value of each is in the i-th column, so
    each band spans them all. None where those values lie further apart than `wander`, or the
    bands would overlap: the lines do not agree on their columns (they miss different ones), and
    the caller takes the values less than `wander` apart as bands (`infer_bands_near`). No
    headers: `add_header_columns`."""
    most = max((len(line) for line in lines), default=0)
    if not most:
        return ()
    full = [line for line in lines if len(line) == most]
    bands = []
    # Column by column (`zip` transposes at C speed: the lines are all `most` long); a column of one
    # line needs no sorting.
    for column in zip(*full, strict=True):
        members = sorted(column, key=_start) if len(column) > 1 else column
        reach = members[0][1]
        for x0, x1 in members[1:]:
            if x0 - reach > wander:
                return None
            if x1 > reach:
                reach = x1
        bands.append(Span(members[0][0], reach))
    if any(overlaps(a, b) or a.x0 >= b.x0 for a, b in pairwise(bands)):
        return None
    # A value of another line within `wander` of one band (and only one) is in that column.
    new: list[Extent] = []
    for line in lines:
        if len(line) < most:
            for span in line:
                _widen_near(span, bands, wander, new)
    bands = _add_unclaimed(bands, infer_bands_near([new], wander))
    return tuple(sorted(bands, key=_start))


def _widen_near(span: Extent, bands: list[Span], wander: float, new: list[Extent]) -> None:
    """Widen the one band a value overlaps or lies within `wander` of; none: it is `new`."""
    x0, x1 = span
    near = -1
    for i, band in enumerate(bands):
        b0, b1 = band.x0, band.x1
        # `overlaps(span, band) or _gap(span, band) <= wander`, on bare numbers.
        gap = x0 - b1 if x0 - b1 > b0 - x1 else b0 - x1
        if _shared(x0, x1, b0, b1) or gap <= wander:
            if near >= 0:
                return  # near two bands or more: in none
            near = i
    if near < 0:
        new.append(span)
        return
    band = bands[near]
    b0, b1 = band.x0, band.x1
    bands[near] = Span(x0 if x0 < b0 else b0, x1 if x1 > b1 else b1)


# A C-level sort key: bands and values are sorted by where they start, many times per table.
_start = itemgetter(0)


def infer_bands_near(lines: Sequence[Sequence[Extent]], wander: float) -> tuple[Span, ...]:
    """Bands of every value, values less than `wander` apart (or overlapping) in one band."""
    spans = iter(sorted([s for line in lines for s in line], key=_start))
    first = next(spans, None)
    if first is None:
        return ()
    bands: list[Span] = []
    # The band being grown, as bare numbers: a band takes many values, and a span per value costs.
    b0, b1 = first
    for x0, x1 in spans:
        if x0 - b1 <= wander:
            if x1 > b1:
                b1 = x1
            continue
        # `_shared(b0, b1, x0, x1)` written out (the gap test first: the cheaper, and the common).
        share = (x1 if x1 < b1 else b1) - (x0 if x0 > b0 else b0)
        wa, wb = b1 - b0, x1 - x0
        narrow = wb if wb < wa else wa
        if share > _MIN_SHARE * (_TINY if narrow < _TINY else narrow):
            if x1 > b1:
                b1 = x1
            continue
        bands.append(Span(b0, b1))
        b0, b1 = x0, x1
    bands.append(Span(b0, b1))
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
    if free:
        centres = [h.centre for h in free]
        # Headers as `layout` finds them (leaves, none inside another) stand left to right: the
        # nearest is found by bisection, where a wide table's every blank band would scan them all.
        nearest = _nearest_sorted if all(a <= b for a, b in pairwise(centres)) else _nearest
        for index, band in enumerate(bands):
            if index not in headed:
                claimed.add(free[nearest(centres, band.centre)])
    added: list[Span] = []
    for header in sorted(free, key=lambda s: s.x1 - s.x0):
        if header in claimed:
            continue
        h0, h1 = header
        wh = h1 - h0
        # A free header overlaps no band (`overlapped` said so): only the headers added before it
        # can hold it off. `any(overlaps(header, b) for b in added)`, `_shared` written out.
        for b0, b1 in added:
            share = (b1 if b1 < h1 else h1) - (b0 if b0 > h0 else h0)
            wb = b1 - b0
            narrow = wb if wb < wh else wh
            if share > _MIN_SHARE * (_TINY if narrow < _TINY else narrow):
                break
        else:
            added.append(header)
    return tuple(sorted([*bands, *added], key=_start)) if added else tuple(bands)


def _nearest(centres: Sequence[float], centre: float) -> int:
    """The index of the first of `centres` nearest to `centre` (as `min` with a key picks it)."""
    best, distance = 0, abs(centres[0] - centre)
    for index in range(1, len(centres)):
        d = abs(centres[index] - centre)
        if d < distance:
            best, distance = index, d
    return best


def _nearest_sorted(centres: Sequence[float], centre: float) -> int:
    """`_nearest` of `centres` in ascending order: the nearest is the last before `centre` or the
    first from it on (the former on a tie, and the first of equal centres)."""
    after = bisect_left(centres, centre)
    if after == len(centres) or (after and centre - centres[after - 1] <= centres[after] - centre):
        return bisect_left(centres, centres[after - 1])
    return after


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
        if _shared(x0, x1, b0, b1):
            found.append(band)
        band += 1
    return found


def place_lines(lines: Sequence[Sequence[Extent]], bands: Sequence[Span]) -> list[Placement]:
    """`place_line` for every line of a table, in the same bands, which run left to right without
    overlapping each other (as the inferences here return them): each value's bands are found by
    bisection."""
    ends = [band.x1 for band in bands]
    # Lines of a table often print their values at the same places (a column of zeros, counted
    # right): such a line is placed once, its placement kept for the others.
    placed: dict[tuple[Extent, ...], Placement] = {}
    out = []
    for values in lines:
        key = tuple(values)
        placement = placed.get(key)
        if placement is None:
            placement = placed[key] = _place(values, bands, ends)
        out.append(placement)
    return out


def _place(values: Sequence[Extent], edges: Sequence[tuple[float, float]], ends: Sequence[float]) -> Placement:
    count = len(edges)
    slots: list[int | None] = [None] * count
    ambiguous: set[int] = set()
    for index, span in enumerate(values):
        # `overlapped(span, bands, ends)`, written out and stopped at a second band: this runs for
        # every value of every line, under both ways of counting.
        x0, x1 = span
        width = x1 - x0
        found = -1
        band = bisect_right(ends, x0)
        while band < count:
            b0, b1 = edges[band]
            if b0 >= x1:
                break
            # `_shared(x0, x1, b0, b1)` written out: the call costs as much as the test.
            share = (b1 if b1 < x1 else x1) - (b0 if b0 > x0 else x0)
            narrow = b1 - b0 if b1 - b0 < width else width
            if share > _MIN_SHARE * (_TINY if narrow < _TINY else narrow):
                if found >= 0:
                    found = -2
                    break
                found = band
            band += 1
        if found < 0:
            ambiguous.add(index)
            continue
        taken = slots[found]
        if taken is not None:
            ambiguous.update((taken, index))
        slots[found] = index
    if not ambiguous:  # every value in a band of its own: most lines
        return _new_placement(Placement, (tuple(slots), ()))
    for band, taken in enumerate(slots):
        if taken in ambiguous:
            slots[band] = None
    return _new_placement(Placement, (tuple(slots), tuple(sorted(ambiguous))))


# Placements built at C speed: a named tuple's generated `__new__` is a Python function.
_new_placement = tuple.__new__
