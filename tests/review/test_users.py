"""Accounts: argon2 hashes, verification, roles, disabling, duplicate names, audit rows."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.review.errors import Conflict, InvalidInput, NotFound
from app.review.store import ReviewStore
from tests.review.conftest import PASSWORD


def test_password_is_stored_as_argon2id_only(store: ReviewStore, people) -> None:
    rows = store.db.connection().execute("SELECT name, password_hash FROM users").fetchall()
    assert {row["name"] for row in rows} == {"alice", "bob", "carol", "vic"}
    for row in rows:
        assert row["password_hash"].startswith("$argon2id$")
        assert PASSWORD not in row["password_hash"]
    dumped = "\n".join(str(entry) for entry in store.audit.entries(limit=1000))
    assert PASSWORD not in dumped and "argon2" not in dumped


def test_authenticate(store: ReviewStore, people) -> None:
    user = store.users.authenticate("alice", PASSWORD)
    assert user is not None and user.name == "alice" and user.role == "reviewer"
    assert store.users.authenticate("alice", PASSWORD + "x") is None
    assert store.users.authenticate("nobody", PASSWORD) is None
    assert store.users.authenticate("bad name!", PASSWORD) is None
    assert store.users.authenticate("alice", "x" * 5000) is None


def test_disable_and_enable(store: ReviewStore, people) -> None:
    disabled = store.users.disable("alice", actor="carol")
    assert disabled.disabled and not disabled.has_role("viewer")
    assert store.users.authenticate("alice", PASSWORD) is None
    store.users.enable("alice", actor="carol")
    assert store.users.authenticate("alice", PASSWORD) is not None
    actions = [entry.action for entry in store.audit.entries(target="user:alice")]
    assert actions == ["user.enable", "user.disable", "user.add"]
    disable_row = store.audit.entries(target="user:alice", action="user.disable")[0]
    assert disable_row.actor == "carol"
    assert disable_row.previous == {"name": "alice", "role": "reviewer", "disabled": False}
    assert disable_row.new == {"name": "alice", "role": "reviewer", "disabled": True}


@pytest.mark.parametrize("name", ["alice", "ALICE", "Alice"])
def test_duplicate_name_is_refused(store: ReviewStore, people, name: str) -> None:
    with pytest.raises(Conflict, match="already exists"):
        store.users.add(name, PASSWORD, "viewer", actor="test")


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("", PASSWORD, "viewer", "invalid user name"),
        ("has space", PASSWORD, "viewer", "invalid user name"),
        ("-dash", PASSWORD, "viewer", "invalid user name"),
        ("x" * 65, PASSWORD, "viewer", "invalid user name"),
        ("dave", "short", "viewer", "too short"),
        ("dave", "y" * 1025, "viewer", "too long"),
        ("dave", PASSWORD, "superuser", "unknown role"),
    ],
)
def test_bad_input_is_refused(store: ReviewStore, name, password, role, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.users.add(name, password, role, actor="test")
    assert store.users.count() == 0


def test_roles_rank(store: ReviewStore, people) -> None:
    assert people["carol"].has_role("reviewer") and people["carol"].has_role("viewer")
    assert people["alice"].has_role("reviewer") and not people["alice"].has_role("admin")
    assert people["vic"].has_role("viewer") and not people["vic"].has_role("reviewer")
    changed = store.users.set_role("vic", "reviewer", actor="carol")
    assert changed.has_role("reviewer")


def test_unknown_user(store: ReviewStore) -> None:
    with pytest.raises(NotFound):
        store.users.disable("nobody", actor="test")
    assert store.users.find("nobody") is None


def test_new_password_replaces_old(store: ReviewStore, people) -> None:
    store.users.set_password("bob", "a brand new one", actor="bob")
    assert store.users.authenticate("bob", PASSWORD) is None
    assert store.users.authenticate("bob", "a brand new one") is not None


def test_hash_upgraded_when_parameters_change(store: ReviewStore, people) -> None:
    store.users.hasher = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    assert store.users.authenticate("alice", PASSWORD) is not None
    stored = (
        store.db.connection()
        .execute("SELECT password_hash FROM users WHERE name = 'alice'")
        .fetchone()[0]
    )
    assert "m=16,t=2,p=1" in stored
    assert store.audit.entries(target="user:alice", action="user.rehash")
