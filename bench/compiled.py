"""`bench/parse.py` on the pure core compiled with mypyc, from unchanged source.

Run from the checkout: `.venv/bin/python bench/compiled.py [bench/parse.py's options]`, e.g.
`--seconds 1.5`. It answers one question for the team: how near a compiled core comes to the goal
of ≤ 3× the floor. It copies `worker/`, `bench/` and `tests/` into a temporary directory,
compiles the core's modules there (mypyc is part of mypy, a development dependency; it needs a C
compiler and Python's headers: `apt-get install build-essential python3-dev`), and runs
`bench/parse.py` there with the options given. The checkout itself is never touched, and nothing
compiled is ever installed: the product runs the Python core.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The pure core's modules on a parse's path. Not compiled: the pydantic models (`result`, whose
# metaclass mypyc cannot build) and the document readers (their time is PDFium's and calamine's).
MODULES = (
    "align",
    "cells",
    "checks",
    "columns",
    "decode",
    "forms",
    "html",
    "labels",
    "layout",
    "layout_columns",
    "meta",
    "narrative",
    "normalize",
    "pairing",
    "parse",
    "template",
)
_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify

modules = sys.argv.pop(1).split(",")
setup(name="govreport-compiled-core", packages=[], py_modules=[], ext_modules=mypycify(modules, opt_level="3"))
"""


def build(where: Path) -> None:
    """Compile the core's modules in `where`, beside their sources (an extension module is
    imported in preference to its `.py`)."""
    (where / "setup_mypyc.py").write_text(_SETUP, encoding="utf-8")
    sources = ",".join(f"worker/core/{name}.py" for name in MODULES)
    command = [sys.executable, "setup_mypyc.py", sources, "build_ext", "--inplace", "-j", "2"]
    done = subprocess.run(command, cwd=where, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"mypyc failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")


def compiled_in(where: Path) -> list[str]:
    """The core's modules that import as extension modules from `where` (checked, not assumed)."""
    probe = (
        "import importlib, sys; sys.path.insert(0, '.');"
        f"names = {list(MODULES)!r};"
        "print(' '.join(n for n in names if importlib.import_module('worker.core.' + n).__file__.endswith('.so')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=where, capture_output=True, text=True, check=True)  # noqa: S603
    return done.stdout.split()


def main(argv: list[str]) -> int:
    """Copy, compile, check what got compiled, run the benchmark with `argv`."""
    with tempfile.TemporaryDirectory(prefix="govreport-compiled-") as temporary:
        where = Path(temporary)
        for part in ("worker", "bench", "tests"):
            shutil.copytree(ROOT / part, where / part, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        shutil.copy(ROOT / "pyproject.toml", where)  # mypyc type-checks first, with mypy's settings
        build(where)
        compiled = compiled_in(where)
        missing = sorted(set(MODULES) - set(compiled))
        if missing:
            sys.exit(f"not compiled: {', '.join(missing)}")
        print(f"the core compiled with mypyc ({len(compiled)} modules of worker/core: {' '.join(compiled)})")
        sys.stdout.flush()
        command = [sys.executable, "bench/parse.py", *argv]
        return subprocess.run(command, cwd=where, check=False).returncode  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
