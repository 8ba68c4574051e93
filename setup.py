"""Ships `migrations/` (kept at the top of the repository) inside the package as `worker/migrations`,
so that an installed `govreport db upgrade` finds them; everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["worker*"]), "worker.migrations", "worker.migrations.versions"],
    package_dir={"worker.migrations": "migrations"},
)
