"""Hostile files, generated at test time (no big binaries in the repository): random bytes, zip
bombs, PDF bombs and HTML built to hurt a parser. Each is small to build and cheap to write."""

import io
import random
import zipfile

from tests.native.office import build_zip, deflated_zeros, minimal_docx

MIB = 2**20
GIB = 2**30


def random_bytes(size: int, seed: int) -> bytes:
    """`size` bytes of reproducible noise: no format's signature, no encoding decodes them."""
    return random.Random(seed).randbytes(size)


def _zeros_zip(members: int, member_size: int) -> bytes:
    """A zip of `members` members of `member_size` zero bytes each, streamed into the archive so the
    zeros are never held whole (each member deflates about a thousandfold)."""
    out = io.BytesIO()
    chunk = bytes(MIB)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(members):
            with archive.open(f"zeros{index}.bin", "w", force_zip64=True) as member:
                for _ in range(member_size // MIB):
                    member.write(chunk)
    return out.getvalue()


def nested_zip_bomb(inner_members: int = 4, member_size: int = 64 * MIB, copies: int = 8) -> bytes:
    """A zip holding `copies` zips of `inner_members` × `member_size` zeros (2 GiB expanded with
    the defaults, a few hundred kilobytes on disk): no document at all, whatever its name says."""
    inner = _zeros_zip(inner_members, member_size)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(copies):
            archive.writestr(f"layer{index}.zip", inner)
    return out.getvalue()


def docx_bomb(size: int = GIB) -> bytes:
    """A smallest Word package whose `word/document.xml` inflates to `size` zero bytes (a megabyte
    on disk for a gibibyte): a document by its signature and members, a bomb by its content."""
    return build_zip(minimal_docx(deflated_zeros(size)))


def _pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A PDF with a correct cross-reference table around objects numbered from 1 (1 is the catalog)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer_extra, xref)
    return bytes(out)


def pdf_huge_page_count(count: int = 2_000_000_000, kids: int = 2) -> bytes:
    """A page tree whose root claims `count` pages and holds `kids`: a reader trusting /Count would
    allocate for billions of pages."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    refs = b" ".join(b"%d 0 R" % (3 + i) for i in range(kids))
    pages = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, count)
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    return _pdf([catalog, pages, *[page] * kids])


def pdf_deep_nesting(depth: int = 100_000) -> bytes:
    """A page tree nested `depth` levels deep (each /Pages node holds the next) ending in one page,
    plus a page whose resources hold an array nested `depth` deep: both recurse in a naive reader."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    nodes = []
    for level in range(depth):
        number = 2 + level
        parent = b"" if level == 0 else b" /Parent %d 0 R" % (number - 1)
        nodes.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1%s >>" % (number + 1, parent))
    leaf = 2 + depth
    deep_array = b"[" * depth + b"]" * depth
    page = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Deep %s >>" % (leaf - 1, deep_array)
    return _pdf([catalog, *nodes, page])


def html_nested(depth: int = 100_000, tag: str = "div") -> bytes:
    """An HTML page with `depth` unclosed-then-closed elements nested inside each other, and no report."""
    return (
        b"<!DOCTYPE html><html><body>"
        + f"<{tag}>".encode() * depth
        + b"x"
        + f"</{tag}>".encode() * depth
        + b"</body></html>"
    )
