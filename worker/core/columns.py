"""Value columns of a table from where its values are printed, in any unit of horizontal position.

A table printed without ruling still has columns: the values of one column sit under each other.
Given the horizontal extents of the value cells of a table's lines (PDF points today, character
offsets of space-aligned text tomorrow), this finds the columns as bands and places each value in
the one band it overlaps. A value that overlaps no band, or two, is ambiguous and reported as such:
a wrong column is worse than a missing value.
"""

from collections.abc import Sequence
from dataclasses import dataclass

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


def infer_bands_in_order(lines: Sequence[Sequence[Span]], headers: Sequence[Span] = ()) -> tuple[Span, ...]:
    """`infer_bands` for values that wander within their column (`pdftotext -layout` rounds every
    glyph to a character cell, so `61` and `0` of one column need not overlap): in the lines with
    the most values, the i-th value of each is in the i-th column, so each band spans them all.
    Where those bands would overlap, the lines do not agree on their columns: `infer_bands`."""
    most = max((len(line) for line in lines), default=0)
    full = [line for line in lines if len(line) == most]
    if not most:
        return ()
    bands = [Span(min(line[i].x0 for line in full), max(line[i].x1 for line in full)) for i in range(most)]
    if any(overlaps(a, b) or a.x0 >= b.x0 for a, b in zip(bands, bands[1:], strict=False)):
        return infer_bands(lines, headers)
    spare = [span for line in lines if len(line) < most for span in line]
    bands = _add_unclaimed(bands, _merge([s for s in spare if not any(overlaps(s, b) for b in bands)]))
    for header in sorted(headers, key=lambda s: s.x1 - s.x0):
        if not any(overlaps(header, b) for b in bands):
            bands = _add_unclaimed(bands, [header])
    return tuple(sorted(bands, key=lambda s: s.x0))
