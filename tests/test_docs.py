"""Settings, commands and docs stay in step: a setting or command without documentation fails."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from app.cli import app as cli_app
from app.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_documented(name):
    assert f"LOUPE_{name.upper()}" in README, f"README.md does not document LOUPE_{name.upper()}"


def _command_names() -> list[str]:
    group = typer.main.get_command(cli_app)
    names = []
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        if sub:
            names.extend(f"{name} {child}" for child in sub)
        else:
            names.append(name)
    return names


@pytest.mark.parametrize("command", _command_names())
def test_every_command_is_documented(command):
    assert f"loupe {command}" in README, f"README.md does not document `loupe {command}`"


def test_readme_opens_with_the_two_commands():
    code_lines = [line.strip() for line in README.splitlines() if line.startswith("make ")]
    assert code_lines[:2] == ["make demo", "make test"]
