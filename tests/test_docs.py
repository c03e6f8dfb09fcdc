"""Settings, commands and docs stay in step.

docs/settings.md and docs/commands.md are generated from the Settings class and the `loupe`
command: a test fails when either page differs from what its generator prints (and says which
command rewrites it). Settings are described in that one page only. The README is a door
(at most 150 lines, the two commands first), and every relative link in README.md and
docs/*.md lands on a file, and on a heading where it names one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.commands.reference import commands_page
from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_settings_page_is_what_loupe_settings_prints():
    printed = CliRunner().invoke(cli_app, ["settings", "--markdown"])
    assert printed.exit_code == 0, printed.output
    assert _text(DOCS / "settings.md") == printed.output, (
        "docs/settings.md differs from the Settings class: "
        "run `loupe settings --markdown > docs/settings.md`"
    )
    table = CliRunner().invoke(cli_app, ["settings"]).output
    assert table.startswith("| Variable |") and printed.output.endswith(table)


def test_commands_page_is_generated_from_the_command():
    expected = commands_page(typer.main.get_command(cli_app)) + "\n"
    assert _text(DOCS / "commands.md") == expected, (
        "docs/commands.md differs from the `loupe` command: "
        "run `.venv/bin/python scripts/commands_page.py > docs/commands.md`"
    )


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_in_the_settings_page(name):
    assert f"`LOUPE_{name.upper()}`" in _text(DOCS / "settings.md"), (
        f"docs/settings.md does not document LOUPE_{name.upper()}: "
        "run `loupe settings --markdown > docs/settings.md`"
    )


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
def test_every_command_is_in_the_commands_page(command):
    assert f"## `loupe {command}`" in _text(DOCS / "commands.md"), (
        f"docs/commands.md does not document `loupe {command}`: "
        "run `.venv/bin/python scripts/commands_page.py > docs/commands.md`"
    )


SETTING_ROW = re.compile(r"^\|\s*`?LOUPE_[A-Z_]+`?\s*\|", re.MULTILINE)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_settings_are_tabulated_in_one_place(path):
    if path == DOCS / "settings.md":
        return
    rows = SETTING_ROW.findall(_text(path))
    assert not rows, (
        f"{path.relative_to(ROOT)} tabulates settings ({rows[0].strip()} ...): describe a "
        "setting in its Field(description=...) in app/config.py, regenerate docs/settings.md "
        "with `loupe settings --markdown > docs/settings.md`, and link to it"
    )


def test_readme_opens_with_the_two_commands():
    code_lines = [line.strip() for line in README.splitlines() if line.startswith("make ")]
    assert code_lines[:2] == ["make demo", "make test"]


def test_readme_is_a_door():
    lines = README.count("\n")
    assert lines <= 150, f"README.md has {lines} lines: move the detail to a page in docs/"
    for page in ("docs/README.md", "docs/settings.md", "docs/commands.md"):
        assert f"]({page}" in README, f"README.md does not link to {page}"


def test_every_docs_page_is_in_the_index():
    index = _text(DOCS / "README.md")
    missing = [
        p.name for p in DOCS.glob("*.md") if p.name != "README.md" and f"]({p.name}" not in index
    ]
    assert not missing, f"docs/README.md does not list {missing}"


# --- links -------------------------------------------------------------------------------

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\s[^>]*?(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces
    to hyphens (each space, so "a — b" gives "a--b")."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", _text(path))
    found: set[str] = set()
    for heading in HEADING.findall(text):
        base = slug(heading)
        name, n = base, 0
        while name in found:  # GitHub numbers repeated headings: a, a-1, a-2
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found | set(HTML_ANCHOR.findall(text))


def links(path: Path) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", _text(path)))
    return LINK.findall(text) + HTML_LINK.findall(text)


def test_slug_follows_github():
    assert slug("`loupe check-links`") == "loupe-check-links"
    assert (
        slug("Deep pages (target 20 ms): keyset is fine")
        == "deep-pages-target-20-ms-keyset-is-fine"
    )
    assert slug("The renderer: why not a library") == "the-renderer-why-not-a-library"
    assert slug("2026-11-25 — after the third round") == "2026-11-25--after-the-third-round"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_land(path):
    broken = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.relative_to(ROOT)})")
    assert not broken, f"{path.relative_to(ROOT)}: broken links: {broken}"
