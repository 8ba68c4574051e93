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
    logging.getLogger("sqlalchemy.pool").warning("lost amqp://u:hunter2@h/ during %s", "work")
    try:
        raise RuntimeError("boom amqp://u:hunter2@h/")
    except RuntimeError:
        structlog.get_logger("t").exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines][:2] == ["connecting", "lost amqp://u:***@h/ during work"]
    assert all({"timestamp", "level", "event"} <= line.keys() for line in lines)
    assert "hunter2" not in json.dumps(lines)
    assert "exception" in lines[2]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("amqps://h/vh?password=hunter2&heartbeat=5", "amqps://h/vh?password=***&heartbeat=5"),
        ("postgresql://h/db?user=app&password=hunter2", "postgresql://h/db?user=app&password=***"),
        ("host=db user=app password='hunter 2' sslmode=require", "host=db user=app password=*** sslmode=require"),
        ("dbname=x PASSWORD=hunter2", "dbname=x PASSWORD=***"),
    ],
)
def test_mask_secrets_in_parameters(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_library_loggers_are_quiet_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG")
    logging.getLogger("sqlalchemy.engine").info("Created channel=1")
    logging.getLogger("watchdog.observers").debug("in_event")
    structlog.get_logger("worker.t").debug("ours")
    logging.getLogger("sqlalchemy.engine").warning("connection lost")
    events = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
    assert events == ["ours", "connection lost"]
    configure_logging("INFO", library_level="DEBUG")
    logging.getLogger("sqlalchemy.engine").debug("frame")
    logging.getLogger("sqlalchemy.engine").info("Created channel=1")
    assert [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()] == ["Created channel=1"]
