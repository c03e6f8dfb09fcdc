"""Print docs/commands.md: every `loupe` command and option, from the command itself.

    .venv/bin/python scripts/commands_page.py > docs/commands.md

tests/test_docs.py fails when docs/commands.md differs from what this prints.
"""

from __future__ import annotations

import typer.main

from app.cli import app
from app.commands.reference import commands_page

if __name__ == "__main__":
    print(commands_page(typer.main.get_command(app)))
