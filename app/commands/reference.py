"""docs/commands.md, generated from the `loupe` command itself.

The page is what ``loupe COMMAND --help`` prints, for every command, as Markdown: each
command's help text, its usage line and a table of its arguments and options (from
``get_help_record``, the same call ``--help`` makes, so defaults and ranges are the ones the
command enforces). Generated rather than written because hand-kept lists drifted: the
README's lacked `loupe quarantine list --limit` and cut `loupe demo`'s summary in half.
Typer's own ``utils docs`` cuts summaries to ~45 characters and writes HTML entities.
``tests/test_docs.py`` compares the page with this function's output;
``scripts/commands_page.py`` writes it. The group is passed in (``app.cli`` assembles it and
sits above this package).
"""

from __future__ import annotations

import re
from typing import Any

HEADER = """\
# Commands

<!-- Generated from the `loupe` command (app/cli.py, app/commands/) by
`.venv/bin/python scripts/commands_page.py > docs/commands.md`; tests/test_docs.py fails when
this page and the command differ. Change a command's help text, not this page. -->

Every `loupe` command with its arguments and options, as `loupe COMMAND --help` prints them
(every command also takes `--help`). Settings — environment variables `LOUPE_*` such as
`LOUPE_DATA_DIR` — apply to every command: see [settings](settings.md). How the commands fit
together: [datasets](datasets.md) (`ingest`, `demo`, `datasets`), [search](search.md) (`embed`,
`index`, `model`), [images](images.md) (`check-links`), [review and
safety](review-and-safety.md) (`user`, `blocklist`, `export`, `quarantine`),
[development](development.md) (`serve`, `settings`).
"""


def _slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _paragraphs(text: str | None) -> str:
    """A docstring's paragraphs with each one's lines joined (they were wrapped for code)."""
    if not text:
        return ""
    blocks = re.split(r"\n\s*\n", text.strip())
    joined = (" ".join(line.strip() for line in block.splitlines()) for block in blocks)
    return _text("\n\n".join(joined))


def _text(text: str) -> str:
    """Help text as Markdown prose: `<dataset>` would otherwise be taken for an HTML tag."""
    return text.replace("<", "\\<")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _walk(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """(name path, command) for the command and every sub-command, in the order registered."""
    found = [(path, command)]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if not sub.hidden:
            found.extend(_walk(sub, [*path, name]))
    return found


def _usage(command: Any, ctx: Any, path: list[str]) -> str:
    pieces = command.collect_usage_pieces(ctx)
    pieces = [re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), piece) for piece in pieces]
    return " ".join([*path, *pieces])


def _params_table(command: Any, ctx: Any) -> list[str]:
    rows = []
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None or param.name == "help":
            continue
        name, meaning = record
        rows.append(f"| `{_cell(name)}` | {_cell(_text(' '.join(meaning.split())))} |")
    if not rows:
        return []
    return ["| argument or option | meaning |", "| --- | --- |", *rows, ""]


def commands_page(group: Any, name: str = "loupe") -> str:
    """The Markdown page of every command of ``group`` (a Typer app's click group)."""
    context_class = type(group).context_class
    commands = [(path, cmd) for path, cmd in _walk(group, [name]) if len(path) > 1]
    lines = [HEADER, "| command | what it does |", "| --- | --- |"]
    for path, command in commands:
        if getattr(command, "commands", None):
            continue  # a group: its sub-commands are listed
        title = " ".join(path)
        summary = _paragraphs(command.help).split("\n\n")[0]
        lines.append(f"| [`{title}`](#{_slug(title)}) | {_cell(summary)} |")
    lines.append("")
    for path, command in commands:
        title = " ".join(path)
        level = "#" * len(path)  # `loupe ingest` is ##, `loupe user add` ###
        ctx = context_class(command, info_name=path[-1])
        lines += [f"{level} `{title}`", "", _paragraphs(command.help), ""]
        if getattr(command, "commands", None):
            continue
        lines += ["```", _usage(command, ctx, path), "```", ""]
        lines += _params_table(command, ctx)
    return "\n".join(lines).rstrip("\n")
