"""`loupe user ...`, `loupe blocklist ...`, `loupe export ...` (reviewers and safety).

Each command opens the review store itself (no state at import time) and turns a domain error
into one sentence on stderr and exit code 2. Passwords are read from a hidden prompt or stdin,
never from the command line (where `ps` and shell history would see them), and never echoed.
"""

from __future__ import annotations

import getpass
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from app.review.errors import ReviewError

user_app = typer.Typer(help="Manage accounts (viewer, reviewer, admin).", no_args_is_help=True)
blocklist_app = typer.Typer(help="Import lists of records never to show.", no_args_is_help=True)
export_app = typer.Typer(help="Export review decisions.", no_args_is_help=True)


PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


class Role(StrEnum):
    viewer = "viewer"
    reviewer = "reviewer"
    admin = "admin"


class Kind(StrEnum):
    auto = "auto"
    sample_id = "sample_id"
    url_sha256 = "url_sha256"
    md5 = "md5"
    sha256 = "sha256"
    url = "url"


class ExportFormat(StrEnum):
    both = "both"
    parquet = "parquet"
    csv = "csv"


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"


def _store():
    from app.config import Settings
    from app.review.store import ReviewStore

    return ReviewStore.open(Settings())


def _fail(command: str, message: object) -> typer.Exit:
    typer.echo(f"loupe {command}: {message}", err=True)
    return typer.Exit(code=2)


def _read_password(command: str, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise _fail(command, "no password on stdin")
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


# --- users -----------------------------------------------------------------------------------
@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Account name (letters, digits, _ . @ -).")],
    role: Annotated[Role, typer.Option("--role", help="viewer, reviewer or admin.")] = Role.viewer,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account; prompts for its password."""
    password = _read_password("user add", password_stdin)
    store = _store()
    try:
        user = store.users.add(name, password, role.value, actor=_actor())
    except ReviewError as error:
        raise _fail("user add", error) from None
    finally:
        store.close()
    typer.echo(f"added {user.name} ({user.role})")


@user_app.command("list")
def user_list() -> None:
    """List accounts with their role and state."""
    store = _store()
    try:
        users = store.users.list()
    finally:
        store.close()
    if not users:
        typer.echo("no accounts yet: add one with `loupe user add NAME --role admin`")
        return
    width = max(len(user.name) for user in users)
    for user in users:
        state = "disabled" if user.disabled else "active"
        typer.echo(f"{user.name:<{width}}  {user.role:<8}  {state:<8}  {user.created_at[:10]}")


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="Account to disable.")]) -> None:
    """Disable an account and end its sessions (accounts are never deleted)."""
    _change_user("user disable", lambda store: store.users.disable(name, actor=_actor()))


@user_app.command("enable")
def user_enable(name: Annotated[str, typer.Argument(help="Account to enable again.")]) -> None:
    """Enable a disabled account."""
    _change_user("user enable", lambda store: store.users.enable(name, actor=_actor()))


@user_app.command("role")
def user_role(
    name: Annotated[str, typer.Argument(help="Account to change.")],
    role: Annotated[Role, typer.Argument(help="viewer, reviewer or admin.")],
) -> None:
    """Change an account's role."""
    _change_user("user role", lambda store: store.users.set_role(name, role.value, actor=_actor()))


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="Account whose password to set.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password (ends the account's sessions)."""
    password = _read_password("user password", password_stdin)
    _change_user(
        "user password", lambda store: store.users.set_password(name, password, actor=_actor())
    )


def _change_user(command: str, change) -> None:
    store = _store()
    try:
        user = change(store)
    except ReviewError as error:
        raise _fail(command, error) from None
    finally:
        store.close()
    state = "disabled" if user.disabled else "active"
    typer.echo(f"{user.name}: {user.role}, {state}")


# --- blocklists ------------------------------------------------------------------------------
@blocklist_app.command("import")
def blocklist_import(
    file: Annotated[
        Path, typer.Argument(help="CSV, TSV, parquet or one value per line (.gz too).")
    ],
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Apply only to this dataset (default: every dataset)."),
    ] = None,
    kind: Annotated[
        Kind,
        typer.Option("--kind", help="What the values are; auto reads the column name or shape."),
    ] = Kind.auto,
    name: Annotated[
        str | None, typer.Option("--name", help="Label shown in lists (default: file name).")
    ] = None,
) -> None:
    """Import SAMPLE_IDs, URL SHA-256s, image MD5/SHA-256s or URLs to hide."""
    store = _store()
    try:
        result = store.blocklists.import_file(
            file, actor=_actor(), dataset=dataset, kind=kind.value, name=name
        )
    except ReviewError as error:
        raise _fail("blocklist import", error) from None
    finally:
        store.close()
    blocklist = result.blocklist
    scope = f"dataset {blocklist.dataset}" if blocklist.dataset else "every dataset"
    if result.already_imported:
        typer.echo(f"{file}: already imported as blocklist #{blocklist.id}; nothing changed")
        return
    column = f" (column {result.column})" if result.column else ""
    typer.echo(
        f"blocklist #{blocklist.id}: {blocklist.entries} {blocklist.kind} entries from {file}"
        f"{column}, applying to {scope}; matching records are hidden as soon as the server "
        "next reads its hidden set"
    )


@blocklist_app.command("list")
def blocklist_list() -> None:
    """List imported blocklists."""
    store = _store()
    try:
        lists = store.blocklists.lists()
    finally:
        store.close()
    if not lists:
        typer.echo("no blocklists imported")
        return
    for item in lists:
        scope = item.dataset or "all datasets"
        typer.echo(
            f"#{item.id}  {item.name}  {item.kind}  {item.entries} entries  {scope}  "
            f"{item.imported_at[:10]} by {item.imported_by}"
        )


# --- exports ---------------------------------------------------------------------------------
@export_app.command("removals")
def export_removals(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files into.")] = Path("."),
    file_format: Annotated[
        ExportFormat, typer.Option("--format", help="parquet, csv or both.")
    ] = ExportFormat.both,
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset", help="Dataset to export (repeatable; default: every flagged one)."
        ),
    ] = None,
    include_csam_urls: Annotated[
        bool,
        typer.Option(
            "--include-csam-urls",
            help="Fill in the URL of suspected-CSAM rows, for a report to the authorities only; "
            "never publish such a file. Logged in the audit log.",
        ),
    ] = False,
) -> None:
    """Write the confirmed removal list (<dataset>-removals.parquet / .csv)."""
    from app.review import exports

    formats = exports.FORMATS if file_format is ExportFormat.both else (file_format.value,)
    store = _store()
    try:
        datasets = list(dataset or []) or exports.datasets_with_flags(store.db)
        if not datasets:
            typer.echo("no flags yet: nothing to export")
            return
        written = exports.export_removals(
            store.db, datasets, out, formats, include_csam_urls=include_csam_urls, actor=_actor()
        )
    except (ReviewError, OSError) as error:
        raise _fail("export removals", error) from None
    finally:
        store.close()
    for name, path, rows in written:
        typer.echo(f"{name}: {rows} confirmed removals -> {path}")
