"""The README documents what the code has: every setting, every command."""

import re
from pathlib import Path

from typer.main import get_command

from worker.cli import app
from worker.config import Settings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_settings_table() -> None:
    documented = set(re.findall(r"`(GOVREPORT_[A-Z_]+)`", README))
    settings = {f"GOVREPORT_{name.upper()}" for name in Settings.model_fields}
    secrets_from_files = {"GOVREPORT_AMQP_URL_FILE", "GOVREPORT_DATABASE_URL_FILE"}
    assert settings | secrets_from_files <= documented, sorted(settings | secrets_from_files - documented)


def test_every_command_is_in_the_commands_table() -> None:
    group = get_command(app)
    assert group.commands  # type: ignore[attr-defined]
    for name in group.commands:  # type: ignore[attr-defined]
        assert f"`govreport {name}" in README, name
