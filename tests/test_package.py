"""The package as users install it: the built wheel in a fresh venv, run from outside the checkout."""

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.corpus import CORPUS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_and_runs_its_migrations_and_a_parse(tmp_path: Path) -> None:
    dist, env_dir, outside = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    outside.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dist), str(ROOT)], check=True, timeout=300)
    wheels = list(dist.glob("govreport-*.whl"))
    assert len(wheels) == 1
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    install = [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps", str(wheels[0])]
    subprocess.run(install, check=True, timeout=300)
    # The dependencies come from this venv (appended after the fresh one: its own `worker` wins),
    # so the test needs no package index.
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(target) / "deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    script = env_dir / "bin" / "govreport"
    env = {**os.environ, "GOVREPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'govreport.db'}"}
    env.pop("PYTHONPATH", None)

    def govreport(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args], capture_output=True, text=True, check=False, env=env, cwd=outside, timeout=300
        )

    where = subprocess.run(
        [str(python), "-c", "import worker; print(worker.__file__)"], capture_output=True, text=True, cwd=outside
    )
    assert where.stdout.startswith(target), where.stdout
    upgraded = govreport("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = govreport("db", "current")
    assert current.returncode == 0 and "(empty)" not in current.stdout, current.stdout
    seed = sorted((CORPUS / "seeds").glob("*.txt"))[0]
    parsed = govreport("parse", str(seed))
    assert parsed.returncode == 0, parsed.stderr
    assert seed.name in parsed.stdout + parsed.stderr
