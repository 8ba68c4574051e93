"""Real servers for integration tests: reachable, or skipped locally and failed under CI."""

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_HOST = os.environ.get("GOVREPORT_TEST_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("GOVREPORT_TEST_PG_USER", "postgres")


def reachable(host: str, port: int) -> bool:
    """Whether something listens at host:port."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require(host: str, port: int, what: str) -> None:
    """Skip when a server is not running here; under CI a missing server is a failure."""
    if reachable(host, port):
        return
    message = f"{what} is not reachable at {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI must start it")
    pytest.skip(message)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL for one test session, dropped afterwards."""
    import psycopg

    require(PG_HOST, 5432, "PostgreSQL")
    name = f"govreport_test_{uuid.uuid4().hex[:10]}"
    admin = f"host={PG_HOST} user={PG_USER} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def require_tool(name: str, why: str) -> str:
    """The path of a command-line tool a test needs: skipped locally when missing, failed under CI
    (`ops/test.sh` installs what CI needs)."""
    found = shutil.which(name)
    if found is not None:
        return found
    message = f"{name} is not installed ({why})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI must have it")
    pytest.skip(message)
