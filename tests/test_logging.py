"""Logs: JSON lines, and never a password."""

import json
import logging

import pytest
import structlog

from worker.logging import configure_logging, mask_secrets


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("amqp://guest:guest@localhost:5672/%2F", "amqp://guest:***@localhost:5672/%2F"),
        ("postgresql+psycopg://app:s3cr%40t@db/x", "postgresql+psycopg://app:***@db/x"),
        ("no url here", "no url here"),
        ("amqp://localhost/", "amqp://localhost/"),
    ],
)
def test_mask_secrets(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_structlog_and_stdlib_lines_are_json_without_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    structlog.get_logger("t").info("connecting", url="amqp://u:hunter2@h/")
    logging.getLogger("pika").warning("lost amqp://u:hunter2@h/ during %s", "work")
    try:
        raise RuntimeError("boom amqp://u:hunter2@h/")
    except RuntimeError:
        structlog.get_logger("t").exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines][:2] == ["connecting", "lost amqp://u:***@h/ during work"]
    assert all({"timestamp", "level", "event"} <= line.keys() for line in lines)
    assert "hunter2" not in json.dumps(lines)
    assert "exception" in lines[2]
