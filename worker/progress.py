"""A progress bar for long commands, on stderr and only on a terminal, that log lines do not tear.

Log lines come from this process and from the parsing processes, which write to the same stderr
(file descriptor 2) on their own. While the bar shows, descriptor 2 is a pipe: a thread reads it
line by line and prints each line whole above the bar (rich's live display moves the bar down), and
the bar itself writes to the terminal through a copy of the original descriptor. When stderr is not
a terminal nothing changes: no bar, no escape codes, the log lines as they are.
"""

import os
import select
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

Advance = Callable[[int], None]
_STDERR = 2


def on_terminal() -> bool:
    """Whether stderr is a terminal (a person is watching)."""
    return os.isatty(_STDERR)


@contextmanager
def progress_bar(label: str, total: int, *, enabled: bool = True) -> Iterator[Advance]:
    """A bar counting to `total`, shown while the block runs, if `enabled` and stderr is a terminal;
    yields the function that advances it."""
    if not (enabled and on_terminal()):
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    sys.stderr.flush()
    terminal = os.fdopen(os.dup(_STDERR), "w", encoding="utf-8", errors="replace")
    console = Console(file=terminal)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        # The bar's own redirection would send this process's stdout to the terminal too.
        redirect_stdout=False,
        redirect_stderr=False,
    )
    try:
        with bar, _lines_above(console):
            task = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task, n)
    finally:
        terminal.close()


@contextmanager
def _lines_above(console: "Console") -> Iterator[None]:
    """Descriptor 2 becomes a pipe whose lines are printed whole through `console`."""
    read, write = os.pipe()
    saved = os.dup(_STDERR)
    os.dup2(write, _STDERR)
    os.close(write)
    done = threading.Event()
    reader = threading.Thread(target=_relay, args=(read, console, done), name="stderr-lines", daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, _STDERR)
        os.close(saved)
        # Processes started meanwhile (the parsing pool's server) may hold the pipe open for ever:
        # the reader drains what was written and stops, it does not wait for the end of the pipe.
        done.set()
        reader.join()
        os.close(read)


def _relay(read: int, console: "Console", done: threading.Event) -> None:
    pending = b""
    while True:
        ready, _, _ = select.select([read], [], [], 0.05)
        if not ready:
            if done.is_set():
                break
            continue
        chunk = os.read(read, 65536)
        if not chunk:  # every writer closed it
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            _print(console, line)
    if pending:
        _print(console, pending)


def _print(console: "Console", line: bytes) -> None:
    with suppress(Exception):  # a line that cannot be shown must not stop the ones after it
        console.out(line.decode("utf-8", errors="replace"), highlight=False)


def _nothing(_count: int) -> None:
    """No bar: nothing to advance."""
