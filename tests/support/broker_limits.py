"""RabbitMQ's message size limit changed for one test, through rabbitmqctl on this machine."""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def _ctl(expression: str) -> str:
    try:
        done = subprocess.run(["rabbitmqctl", "eval", expression], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("rabbitmqctl is not installed here")
    if done.returncode != 0:
        pytest.skip(f"rabbitmqctl cannot change the broker: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def broker_max_message_size(size: int) -> Iterator[None]:
    """RabbitMQ's max_message_size for channels opened meanwhile (RabbitMQ 4 defaults to 16 MiB,
    3.10 to 128 MiB), restored afterwards."""
    before = _ctl("application:get_env(rabbit, max_message_size).")
    assert before.startswith("{ok,") and before.endswith("}"), before
    _ctl(f"application:set_env(rabbit, max_message_size, {size}).")
    try:
        yield
    finally:
        _ctl(f"application:set_env(rabbit, max_message_size, {before[4:-1]}).")
