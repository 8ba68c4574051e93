"""The ruling lines of a PDF page, from PDFium's path objects.

Real reports draw cell borders as stroked lines, thin filled rectangles, stroked rectangles per
cell, or one path for a whole table; shaded cell backgrounds are wide filled rectangles and draw
no border. Functions called once per object or per character are called through `direct`, which
takes plain integers for handles: ctypes converts those several times faster than typed pointers.
"""

import ctypes
import itertools
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from worker.core.readers.pdf_lines import Rule

# Bounds on what one hostile page can make us do.
_MAX_OBJECTS = 50_000
_MAX_SEGMENTS = 20_000
_MAX_FORM_DEPTH = 8
# A path this thin (points) is a ruling line; a wider filled one is a shaded background.
_THIN = 3.0
# Nearly white strokes and fills draw nothing on a white page.
_WHITE = 245

# An affine map from PDF user space to the page's top-left coordinates: X = a·x + c·y + e, Y = b·x + d·y + f.
Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)

_INT, _UINT, _VOID = ctypes.c_int, ctypes.c_uint, ctypes.c_void_p
_FLOATS4 = struct.Struct("4f")
_FLOATS6 = struct.Struct("6f")
_UINTS4 = struct.Struct("4I")
_INTS2 = struct.Struct("2i")
_FLOATS2 = struct.Struct("2f")


def direct(function: Any, restype: Any, *argtypes: Any) -> Any:
    """A PDFium function of pypdfium2's raw bindings, called with integer handles and addresses."""
    return ctypes.CFUNCTYPE(restype, *argtypes)(handle(function))


def handle(pointer: Any) -> int:
    """The address behind one of pypdfium2's typed handles."""
    return int(ctypes.cast(pointer, _VOID).value or 0)


_GET_OBJECT = direct(pdfium_c.FPDFPage_GetObject, _VOID, _VOID, _INT)
_OBJECT_TYPE = direct(pdfium_c.FPDFPageObj_GetType, _INT, _VOID)
_FORM_COUNT = direct(pdfium_c.FPDFFormObj_CountObjects, _INT, _VOID)
_FORM_OBJECT = direct(pdfium_c.FPDFFormObj_GetObject, _VOID, _VOID, ctypes.c_ulong)
_DRAW_MODE = direct(pdfium_c.FPDFPath_GetDrawMode, _INT, _VOID, _VOID, _VOID)
_STROKE_COLOUR = direct(pdfium_c.FPDFPageObj_GetStrokeColor, _INT, _VOID, _VOID, _VOID, _VOID, _VOID)
_FILL_COLOUR = direct(pdfium_c.FPDFPageObj_GetFillColor, _INT, _VOID, _VOID, _VOID, _VOID, _VOID)
_BOUNDS = direct(pdfium_c.FPDFPageObj_GetBounds, _INT, _VOID, _VOID, _VOID, _VOID, _VOID)
_MATRIX = direct(pdfium_c.FPDFPageObj_GetMatrix, _INT, _VOID, _VOID)
_SEGMENTS = direct(pdfium_c.FPDFPath_CountSegments, _INT, _VOID)
_SEGMENT = direct(pdfium_c.FPDFPath_GetPathSegment, _VOID, _VOID, _INT)
_POINT = direct(pdfium_c.FPDFPathSegment_GetPoint, _INT, _VOID, _VOID, _VOID)
_SEGMENT_TYPE = direct(pdfium_c.FPDFPathSegment_GetType, _INT, _VOID)
_CLOSES = direct(pdfium_c.FPDFPathSegment_GetClose, _INT, _VOID)


class _Scratch:
    """Buffers PDFium writes into, and their addresses."""

    def __init__(self) -> None:
        self.floats = (ctypes.c_float * 6)()
        self.uints = (ctypes.c_uint * 4)()
        self.ints = (ctypes.c_int * 2)()
        base_f, base_u, base_i = (ctypes.addressof(b) for b in (self.floats, self.uints, self.ints))
        self.f = tuple(base_f + 4 * i for i in range(6))
        self.u = tuple(base_u + 4 * i for i in range(4))
        self.i = tuple(base_i + 4 * i for i in range(2))


@dataclass(slots=True)
class _Walk:
    """What reading one page's drawing has found so far, and how much of it there was."""

    rules: list[Rule]
    scratch: _Scratch
    objects: int = 0


def apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    """A point through an affine map."""
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def then(outer: Matrix, inner: Matrix) -> Matrix:
    """The map that applies `inner`, then `outer`."""
    a, b, c, d, e, f = inner
    return (
        outer[0] * a + outer[2] * b,
        outer[1] * a + outer[3] * b,
        outer[0] * c + outer[2] * d,
        outer[1] * c + outer[3] * d,
        outer[0] * e + outer[2] * f + outer[4],
        outer[1] * e + outer[3] * f + outer[5],
    )


def page_rules(page: int, count: int, m: Matrix) -> list[Rule]:
    """The ruling lines drawn on a page (its handle and object count), in top-left coordinates."""
    walk = _Walk([], _Scratch())
    _objects((_GET_OBJECT(page, i) for i in range(count)), m, walk, 0)
    return walk.rules


def _objects(objects: Iterable[int], m: Matrix, walk: _Walk, depth: int) -> None:
    for obj in objects:
        walk.objects += 1
        if walk.objects > _MAX_OBJECTS or not obj:
            return
        kind = _OBJECT_TYPE(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
            _path(obj, m, walk)
        elif kind == pdfium_c.FPDF_PAGEOBJ_FORM and depth < _MAX_FORM_DEPTH:
            # A form's children are in the form's space: its matrix maps them to the page.
            inner = then(m, _matrix(obj, walk.scratch))
            count = _FORM_COUNT(obj)
            _objects((_FORM_OBJECT(obj, i) for i in range(count)), inner, walk, depth + 1)


def _matrix(obj: int, scratch: _Scratch) -> Matrix:
    if not _MATRIX(obj, scratch.f[0]):
        return IDENTITY
    a, b, c, d, e, f = _FLOATS6.unpack_from(scratch.floats)
    return (a, b, c, d, e, f)


def _visible(obj: int, stroke: bool, scratch: _Scratch) -> bool:
    colour = _STROKE_COLOUR if stroke else _FILL_COLOUR
    if not colour(obj, *scratch.u):
        return True
    r, g, b, a = _UINTS4.unpack_from(scratch.uints)
    return bool(a > 0 and min(r, g, b) < _WHITE)


def _path(obj: int, m: Matrix, walk: _Walk) -> None:
    scratch = walk.scratch
    if not _DRAW_MODE(obj, *scratch.i):
        return
    fill, stroke = _INTS2.unpack_from(scratch.ints)
    if not (fill or stroke) or not _visible(obj, bool(stroke), scratch):
        return  # a clipping path, or an invisible one, draws no border
    if not _BOUNDS(obj, *scratch.f[:4]):
        return
    left, bottom, right, top = _FLOATS4.unpack_from(scratch.floats)
    x0, y0 = apply(m, left, bottom)
    x1, y1 = apply(m, right, top)
    rule = _thin(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if rule is not None:
        walk.rules.append(rule)
    else:
        # A large path: one border per piece (a table drawn as one path), or a shaded background.
        _pieces(obj, then(m, _matrix(obj, scratch)), bool(stroke), walk)


def _thin(x0: float, top: float, x1: float, bottom: float) -> Rule | None:
    width, height = x1 - x0, bottom - top
    if height <= _THIN < width:
        return Rule(True, (top + bottom) / 2, x0, x1)
    if width <= _THIN < height:
        return Rule(False, (x0 + x1) / 2, top, bottom)
    return None


def _pieces(obj: int, m: Matrix, stroked: bool, walk: _Walk) -> None:
    """The rulings in a path's subpaths: axis-parallel stroked segments, thin filled shapes."""
    scratch = walk.scratch
    subpaths: list[list[tuple[float, float]]] = []
    for i in range(min(_SEGMENTS(obj), _MAX_SEGMENTS)):
        segment = _SEGMENT(obj, i)
        if not segment or not _POINT(segment, *scratch.f[:2]):
            continue
        point = apply(m, *_FLOATS2.unpack_from(scratch.floats))
        kind = _SEGMENT_TYPE(segment)
        if kind == pdfium_c.FPDF_SEGMENT_LINETO and subpaths:
            subpaths[-1].append(point)
        else:  # a move starts a subpath; after a curve (no ruling in it) one restarts at its end
            subpaths.append([point])
        if _CLOSES(segment):
            subpaths[-1].append(subpaths[-1][0])
    for points in subpaths:
        if stroked:
            for (ax, ay), (bx, by) in itertools.pairwise(points):
                rule = _thin(min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
                if rule is not None:
                    walk.rules.append(rule)
        elif len(points) > 2:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            rule = _thin(min(xs), min(ys), max(xs), max(ys))
            if rule is not None:
                walk.rules.append(rule)
