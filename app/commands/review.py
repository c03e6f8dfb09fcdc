"""`loupe user ...`, `loupe blocklist ...`, `loupe export ...`, `loupe quarantine ...`
(reviewers and safety).

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
quarantine_app = typer.Typer(
    help="Records hidden as look-alikes of confirmed suspected CSAM (ids and URL hashes only).",
    no_args_is_help=True,
)


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
    pdq = "pdq"


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
        typer.Option(
            "--kind",
            help="What the values are; auto reads the column name or shape. PDQ perceptual "
            "hashes have the shape of a SHA-256 (64 hex digits), so a PDQ list needs "
            "--kind pdq or a column named pdq or pdq_hash: it is never guessed.",
        ),
    ] = Kind.auto,
    name: Annotated[
        str | None, typer.Option("--name", help="Label shown in lists (default: file name).")
    ] = None,
    max_distance: Annotated[
        int | None,
        typer.Option(
            "--max-distance",
            min=0,
            max=64,
            help="PDQ lists only: hide pictures within this many bits (Hamming distance) of an "
            "entry. Default 31, PDQ's confident match; unrelated pictures differ by ~128.",
        ),
    ] = None,
) -> None:
    """Import SAMPLE_IDs, URL SHA-256s, image MD5/SHA-256s, URLs or PDQ hashes to hide."""
    store = _store()
    try:
        result = store.blocklists.import_file(
            file,
            actor=_actor(),
            dataset=dataset,
            kind=kind.value,
            name=name,
            max_distance=max_distance,
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
    distance = (
        f" matched within {blocklist.max_distance} bits"
        if blocklist.max_distance is not None
        else ""
    )
    typer.echo(
        f"blocklist #{blocklist.id}: {blocklist.entries} {blocklist.kind} entries from {file}"
        f"{column}{distance}, applying to {scope}; matching records are hidden as soon as the "
        "server next reads its hidden set"
    )
    if blocklist.kind == "pdq":
        typer.echo(
            "PDQ lists match the hashes `loupe embed` computes of each dataset's pictures, and "
            "of pictures the server fetches: a dataset not embedded yet has none to match"
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
        kind = item.kind if item.max_distance is None else f"{item.kind}<={item.max_distance}"
        typer.echo(
            f"#{item.id}  {item.name}  {kind}  {item.entries} entries  {scope}  "
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


# --- quarantine ------------------------------------------------------------------------------
@quarantine_app.command("list")
def quarantine_list(
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only this dataset's records.")
    ] = None,
    released: Annotated[
        bool, typer.Option("--released", help="Also list records an admin released.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most rows to print.")] = 100,
) -> None:
    """List quarantined records (id and URL hash, never the URL or the picture)."""
    store = _store()
    try:
        rows = store.quarantine.entries(
            dataset=dataset, live=None if released else True, limit=limit
        )
        total = store.quarantine.count(dataset=dataset, live=None if released else True)
        pending = [f for f in store.quarantine.pending() if dataset in (None, f.dataset)]
    finally:
        store.close()
    for flag in pending:
        typer.echo(
            f"flag #{flag.id} ({flag.dataset}) is confirmed but its look-alikes were not searched "
            "yet: they are, the next time the server or a command opens the dataset"
        )
    if not rows:
        typer.echo(
            "nothing quarantined" + ("" if released else " (--released lists released ones)")
        )
        return
    for row in rows:
        evidence = (
            f"pdq {row.distance} bits" if row.reason == "pdq" else f"knn cosine {row.similarity}"
        )
        state = (
            "quarantined"
            if row.live
            else f"released {row.released_at[:16]} by {row.released_by}: {row.release_reason}"
        )
        typer.echo(
            f"{row.dataset}  {row.sample_id}  url_sha256 {row.url_sha256 or '-'}  {evidence}  "
            f"flag #{row.source_flag}  {row.created_at[:16]}  {state}"
        )
    if total > len(rows):
        typer.echo(f"... {total - len(rows)} more (--limit)")


@quarantine_app.command("release")
def quarantine_release(
    dataset: Annotated[str, typer.Argument(help="The record's dataset.")],
    sample_id: Annotated[str, typer.Argument(help="The quarantined record's SAMPLE_ID.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is released (kept in the audit log).")
    ],
    admin: Annotated[
        str, typer.Option("--as", help="The admin account releasing it (for the audit log).")
    ],
) -> None:
    """Release one quarantined record (admins): it is shown again, the reason is logged."""
    store = _store()
    try:
        user = store.users.find(admin)
        if user is None:
            raise _fail("quarantine release", f"no account named {admin!r}")
        rows = store.quarantine.release(dataset, sample_id, user, reason)
    except ReviewError as error:
        raise _fail("quarantine release", error) from None
    finally:
        store.close()
    flags = ", ".join(f"#{row.source_flag}" for row in rows)
    typer.echo(
        f"{dataset}/{sample_id} released from the quarantine of flag {flags}; it is shown again "
        "unless something else hides it"
    )
