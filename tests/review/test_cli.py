"""`loupe user`, `loupe blocklist`, `loupe export` through typer's CliRunner on a real state dir."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from app.commands import review
from app.config import Settings
from app.review.flags import RecordRef
from app.review.store import ReviewStore


@pytest.fixture
def cli() -> typer.Typer:
    # Mounted the way app/cli.py mounts them.
    app = typer.Typer()
    app.add_typer(review.user_app, name="user")
    app.add_typer(review.blocklist_app, name="blocklist")
    app.add_typer(review.export_app, name="export")
    return app


@pytest.fixture
def run(cli: typer.Typer, tmp_path: Path):
    env = {"LOUPE_STATE_DIR": str(tmp_path / "state"), "LOUPE_SECRET_KEY": ""}
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None):
        return runner.invoke(cli, list(args), input=stdin, env=env)

    return invoke


def test_user_add_list_disable(run, tmp_path: Path) -> None:
    result = run(
        "user", "add", "alice", "--role", "reviewer", "--password-stdin", stdin="s3cret-password\n"
    )
    assert result.exit_code == 0, result.output
    assert result.output == "added alice (reviewer)\n"
    assert "s3cret-password" not in result.output

    result = run("user", "add", "bob", stdin="another-password\nanother-password\n")  # prompted
    assert result.exit_code == 0 and "added bob (viewer)" in result.output
    assert "another-password" not in result.output

    result = run("user", "list")
    assert result.exit_code == 0
    lines = [line.split() for line in result.output.splitlines()]
    assert [line[:3] for line in lines] == [
        ["alice", "reviewer", "active"],
        ["bob", "viewer", "active"],
    ]

    assert run("user", "disable", "bob").exit_code == 0
    assert ["bob", "viewer", "disabled"] in [
        line.split()[:3] for line in run("user", "list").output.splitlines()
    ]

    store = ReviewStore.open(Settings(state_dir=tmp_path / "state"))
    try:
        assert store.users.authenticate("alice", "s3cret-password") is not None
        assert store.users.authenticate("bob", "another-password") is None  # disabled
        assert store.audit.entries(action="user.add")[0].actor.startswith("cli")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("user", "add", "alice", "--password-stdin"), "short\n", "too short"),
        (("user", "add", "bad name", "--password-stdin"), "long-enough-pw\n", "invalid user name"),
        (("user", "add", "alice", "--password-stdin"), "\n", "no password on stdin"),
        (("user", "disable", "nobody"), None, "no user named 'nobody'"),
    ],
)
def test_user_errors_are_one_sentence_exit_2(run, args, stdin, message) -> None:
    result = run(*args, stdin=stdin)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_duplicate_user(run) -> None:
    assert run("user", "add", "alice", "--password-stdin", stdin="long-enough-pw\n").exit_code == 0
    result = run("user", "add", "ALICE", "--password-stdin", stdin="long-enough-pw\n")
    assert result.exit_code == 2 and "already exists" in result.output


def test_blocklist_import_and_list(run, tmp_path: Path) -> None:
    path = tmp_path / "removed.csv"
    path.write_text(
        "SAMPLE_ID,URL\n11,https://a.example/1\n12,https://a.example/2\n", encoding="utf-8"
    )
    result = run("blocklist", "import", str(path), "--dataset", "tiny")
    assert result.exit_code == 0, result.output
    assert "2 sample_id entries" in result.output and "column SAMPLE_ID" in result.output
    assert "applying to dataset tiny" in result.output
    assert "already imported" in run("blocklist", "import", str(path), "--dataset", "tiny").output
    listing = run("blocklist", "list").output
    assert "removed.csv" in listing and "sample_id" in listing and "tiny" in listing

    store = ReviewStore.open(Settings(state_dir=tmp_path / "state"))
    try:
        assert store.safety.hidden_sample_ids("tiny") == {"11", "12"}
    finally:
        store.close()


def test_blocklist_import_bad_file(run, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("md5\nnot-a-hash\n", encoding="utf-8")
    result = run("blocklist", "import", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(f"loupe blocklist import: {path}: line 2:")
    result = run("blocklist", "import", str(tmp_path / "missing.txt"))
    assert result.exit_code == 2 and "no such file" in result.output
    result = run("blocklist", "import", str(path), "--kind", "crc")
    assert result.exit_code == 2


def test_export_removals(run, tmp_path: Path, fast_hasher) -> None:
    assert "nothing to export" in run("export", "removals", "--out", str(tmp_path / "out")).output
    store = ReviewStore.open(Settings(state_dir=tmp_path / "state"), hasher=fast_hasher)
    try:
        alice = store.users.add("alice", "long-enough-pw", "reviewer", actor="test")
        bob = store.users.add("bob", "long-enough-pw", "reviewer", actor="test")
        flag = store.flags.flag(
            alice, "tiny", RecordRef("42", "https://a.example/42"), "personal_data"
        )
        store.flags.confirm(flag.flags[0].id, bob)
    finally:
        store.close()

    result = run("export", "removals", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "tiny: 1 confirmed removals" in result.output
    rows = pq.read_table(tmp_path / "out" / "tiny-removals.parquet").to_pylist()
    assert [(r["SAMPLE_ID"], r["flagged_by"], r["confirmed_by"]) for r in rows] == [
        ("42", "alice", "bob")
    ]
    assert (tmp_path / "out" / "tiny-removals.csv").read_text().startswith('"SAMPLE_ID","URL"')

    result = run("export", "removals", "--out", str(tmp_path / "csv-only"), "--format", "csv")
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "csv-only").iterdir()) == ["tiny-removals.csv"]
