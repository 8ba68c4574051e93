"""The core imports no I/O library: it is checked by importing it with those libraries blocked."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
BLOCKED = ["pika", "sqlalchemy", "sqlmodel", "watchdog", "psycopg", "alembic", "structlog", "typer"]

PROBE = f"""
import builtins, importlib.abc, sys, os
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('blocked in the core: ' + name)
        return None
sys.meta_path.insert(0, Block())
def no_open(*args, **kwargs):
    raise AssertionError('the core opened a file')
import worker.core, worker.core.parse, worker.core.present
builtins.open = no_open
from worker.core import parse_bytes
r = parse_bytes('某局2021年政府信息公开工作年度报告'.encode(), 'x.txt')
print(r.status.value)
"""


def test_core_imports_and_runs_with_io_libraries_blocked() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "invalid"


def test_core_source_names_no_io() -> None:
    offenders = []
    for source in (ROOT / "worker" / "core").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for word in ("os.environ", "import os", "pathlib", "import logging", "print(", "subprocess"):
            if word in text:
                offenders.append(f"{source.name}: {word}")
        # The builtin open(); a method `.open(` of an in-memory archive reads no file.
        if re.search(r"(?<![.\w])open\(", text):
            offenders.append(f"{source.name}: open(")
    assert offenders == []
