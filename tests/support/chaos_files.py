"""The files the chaos harness drops: valid, invalid and failing reports in text, HTML, PDF and Word,
duplicates under other names, files written slowly and files replaced by another version, and the
writing of them into the inbox the way real writers do."""

import hashlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.native.office import render_docx
from tests.native.pdf import render_pdf
from tests.render import (
    ENCODINGS,
    INJECTABLE,
    ORGS,
    YEARS,
    Cells,
    Shape,
    encode,
    inject,
    native_blocks,
    random_cells,
    render,
)
from worker.core.forms import Template

Writing = Literal["rename", "direct", "slow"]
TEXT_SHAPES: tuple[Shape, ...] = ("tab", "pipe", "cell_per_line", "pdf", "layout", "markdown")
# Pauses of a slow writer: shorter than the watcher's quiet period (the harness sets 0.5 s), as a
# writer that pauses longer is indistinguishable from one that finished.
SLOW_PAUSE = (0.02, 0.15)
SLOW_CHUNKS = (3, 8)


def sha256(data: bytes) -> str:
    """The content's identity, as the pipeline computes it."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Drop:
    """One file to drop: its path in the inbox, its bytes, what it is, how it is written, and the
    bytes that replace it once its first version was handed over (None: never replaced)."""

    path: str
    data: bytes
    kind: str
    writing: Writing
    then: bytes | None = None

    @property
    def contents(self) -> list[bytes]:
        """Every version the file has, in order."""
        return [self.data] if self.then is None else [self.data, self.then]


class Maker:
    """Distinct report files of every kind, drawn from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seen: set[str] = set()
        self.made: list[bytes] = []

    def _unique(self, make: Callable[[], tuple[bytes, str]]) -> tuple[bytes, str]:
        """A content never made before (the renderers may repeat a small report by chance)."""
        while True:
            data, extension = make()
            digest = sha256(data)
            if digest not in self.seen:
                self.seen.add(digest)
                self.made.append(data)
                return data, extension

    def _cells_and_template(self, invalid: bool) -> tuple[Cells, Template, str, int]:
        template: Template = self.rng.choice(("2019", "2021"))
        cells = random_cells(self.rng, template)
        if invalid:
            cells = inject(cells, template, self.rng.choice(INJECTABLE), self.rng)
        return cells, template, self.rng.choice(ORGS), self.rng.choice(YEARS[template])

    def report(self, fmt: str, *, invalid: bool) -> tuple[bytes, str]:
        """A report (valid, or with a check error injected) in one format: txt, html, pdf, docx."""

        def make() -> tuple[bytes, str]:
            cells, template, org, year = self._cells_and_template(invalid)
            rng = self.rng
            if fmt == "txt":
                text = render(cells, template, rng.choice(TEXT_SHAPES), org=org, year=year, rng=rng)
                return encode(text, rng.choice(ENCODINGS)), ".txt"
            if fmt == "html":
                text = render(cells, template, "html", org=org, year=year, rng=rng)
                return encode(text, rng.choice(("utf-8", "gb18030"))), rng.choice((".html", ".htm"))
            shape: Shape = "pdf" if fmt == "pdf" else "html"
            blocks = native_blocks(cells, template, shape=shape, org=org, year=year, rng=rng)
            if fmt == "pdf":
                return render_pdf(blocks, ruled=rng.random() < 0.5, rng=rng), ".pdf"
            return render_docx(blocks, rng), ".docx"

        return self._unique(make)

    def failing(self) -> tuple[bytes, str, str]:
        """A file that cannot be a report: empty, binary junk, prose, a truncated PDF or Word file."""
        what = self.rng.choice(("empty", "junk", "prose", "truncated-pdf", "truncated-docx"))
        if what == "empty":
            return b"", ".txt", what  # every empty file is the same content: duplicates by nature

        def make() -> tuple[bytes, str]:
            rng = self.rng
            if what == "junk":
                return rng.randbytes(rng.randint(100, 5000)), rng.choice((".pdf", ".docx", ".txt"))
            if what == "prose":
                words = "".join(rng.choice("今天天气很好我们去公园散步看书喝茶") for _ in range(rng.randint(50, 400)))
                return words.encode("utf-8"), ".txt"
            fmt = "pdf" if what == "truncated-pdf" else "docx"
            data, extension = self.report(fmt, invalid=False)
            return data[: rng.randint(200, max(201, len(data) // 2))], extension

        data, extension = self._unique(make)
        return data, extension, what


def plan(count: int, seed: int) -> list[Drop]:
    """`count` files to drop: about 55 % valid reports, 15 % invalid, 12 % failing, 10 % duplicates
    of an earlier file under another name, 8 % replaced by another version (two files each)."""
    maker = Maker(seed)
    rng = maker.rng
    drops: list[Drop] = []
    written = 0
    while written < count:
        roll = rng.random()
        writing: Writing = rng.choices(("rename", "direct", "slow"), (0.6, 0.25, 0.15))[0]
        folder = rng.choice(("", "", "", "a/", "b/c/"))
        if roll < 0.10 and drops:
            original = rng.choice(drops)
            name = f"{folder}dup{len(drops):05}{Path(original.path).suffix}"
            drops.append(Drop(name, original.data, f"duplicate of {original.kind}", writing))
        elif roll < 0.22:
            data, extension, what = maker.failing()
            drops.append(Drop(f"{folder}f{len(drops):05}{extension}", data, f"failing-{what}", writing))
        else:
            fmt = rng.choices(("txt", "html", "pdf", "docx"), (0.35, 0.25, 0.25, 0.15))[0]
            invalid = rng.random() < 0.2
            data, extension = maker.report(fmt, invalid=invalid)
            kind = f"{'invalid' if invalid else 'valid'}-{fmt}"
            then = None
            if roll > 0.92 and written + 1 < count:
                then, _ = maker.report(fmt, invalid=rng.random() < 0.2)
                kind += " replaced"
            drops.append(Drop(f"{folder}r{len(drops):05}{extension}", data, kind, writing, then))
        written += len(drops[-1].contents)
    return drops


def kinds(drops: list[Drop]) -> Counter[str]:
    """How many files of each kind (for the harness's printout)."""
    return Counter(drop.kind.split(" ")[0].split("-")[0] for drop in drops) + Counter(
        "replaced" for drop in drops if drop.then is not None
    )


def write(inbox: Path, path: str, data: bytes, writing: Writing, rng: random.Random) -> None:
    """Write a file into the inbox: renamed into place from a hidden name (as a careful copier does),
    written in place at once, or appended in chunks with pauses, closing the file each time (as an
    NFS client or a slow upload does)."""
    target = inbox / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if writing == "rename":
        hidden = target.with_name(f".{target.name}.part")
        hidden.write_bytes(data)
        os.replace(hidden, target)
        return
    if writing == "direct" or len(data) < 2:
        target.write_bytes(data)
        return
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(*SLOW_CHUNKS) - 1)))
    start = 0
    for end in [*cuts, len(data)]:
        with target.open("ab" if start else "wb") as handle:
            handle.write(data[start:end])
        start = end
        if end < len(data):
            time.sleep(rng.uniform(*SLOW_PAUSE))
