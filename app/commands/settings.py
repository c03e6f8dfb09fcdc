"""`loupe settings`: every setting, its environment variable, default and meaning.

``--markdown`` prints docs/settings.md itself, the one place settings are described:
``tests/test_docs.py`` fails when the page and this command's output differ.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.config import settings_table

PAGE_HEADER = """\
# Settings

<!-- Generated from the Settings class (app/config.py) by
`loupe settings --markdown > docs/settings.md`; tests/test_docs.py fails when this page and
the class differ. Change a setting's description there, not this page. -->

Every setting is an environment variable with the prefix `LOUPE_`, read when the server or a
command starts (pydantic-settings): `LOUPE_REQUIRE_LOGIN=true loupe serve`. Booleans are
`true` or `false`; lists are JSON (`LOUPE_CLASSROOM_WORDS='["word", "two words"]'`). A
`LOUPE_` variable that names no setting stops the start with the names it is closest to, so
a typo never leaves a default in force ([security](security.md#settings)). `loupe settings`
prints this table; the container sets a few of them itself ([container](container.md)).
"""


def settings_page() -> str:
    """docs/settings.md: a fixed header and the settings table."""
    return f"{PAGE_HEADER}\n{settings_table()}"


def settings(
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown",
            help="Print the whole page docs/settings.md (header and table), not only the table.",
        ),
    ] = False,
) -> None:
    """Print every setting (environment variable, default, meaning) as a Markdown table."""
    typer.echo(settings_page() if markdown else settings_table())
