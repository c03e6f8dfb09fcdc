"""Accounts: names, roles (viewer < reviewer < admin), argon2 password hashes, disabling.

Accounts are never deleted (flags and the audit log name them); they are disabled instead.
Passwords never leave this module except as argon2 hashes, and are never logged.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.review import audit
from app.review.db import ROLES, Database
from app.review.errors import Conflict, InvalidInput, NotFound

ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
# argon2 copes with long inputs, but an unbounded field is a cheap way to burn server CPU.
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: str

    def has_role(self, role: str) -> bool:
        """True if this active account's role is ``role`` or above."""
        return not self.disabled and ROLE_RANK[self.role] >= ROLE_RANK[check_role(role)]

    def public(self) -> dict[str, object]:
        """What the audit log and the API may show (no hash, ever)."""
        return {"name": self.name, "role": self.role, "disabled": self.disabled}


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"invalid user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters"
        )
    return password


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
    )


class Users:
    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        # argon2id with the library's RFC 9106 defaults; tests pass cheaper parameters.
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    # --- reading ---------------------------------------------------------------------------
    def find(self, name: str) -> User | None:
        row = self.db.connection().execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else _user(row)

    def get(self, name: str) -> User:
        user = self.find(name)
        if user is None:
            raise NotFound(f"no user named {name!r}")
        return user

    def get_by_id(self, user_id: int) -> User | None:
        row = (
            self.db.connection().execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        )
        return None if row is None else _user(row)

    def list(self) -> list[User]:
        rows = self.db.connection().execute("SELECT * FROM users ORDER BY name").fetchall()
        return [_user(row) for row in rows]

    def count(self) -> int:
        return int(self.db.connection().execute("SELECT count(*) FROM users").fetchone()[0])

    # --- changing --------------------------------------------------------------------------
    def add(self, name: str, password: str, role: str = "viewer", *, actor: str) -> User:
        check_name(name)
        check_role(role)
        password_hash = self.hasher.hash(check_password(password))  # slow: outside the lock
        with self.db.write() as conn:
            try:
                cursor = conn.execute(
                    "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                    (name, role, password_hash, self.db.now()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a user named {name!r} already exists") from None
            row = conn.execute("SELECT * FROM users WHERE id = ?", (cursor.lastrowid,)).fetchone()
            user = _user(row)
            audit.record(
                self.db,
                conn,
                actor=actor,
                action="user.add",
                target=f"user:{user.name}",
                new=user.public(),
            )
        return user

    def _update(self, name: str, *, actor: str, action: str, sets: dict[str, object]) -> User:
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"no user named {name!r}")
            before = _user(row)
            # Column names come from this module's own literals, never from input.
            assignments = ", ".join(f"{column} = ?" for column in sets)
            conn.execute(
                f"UPDATE users SET {assignments} WHERE id = ?",  # noqa: S608
                (*sets.values(), before.id),
            )
            after = _user(conn.execute("SELECT * FROM users WHERE id = ?", (before.id,)).fetchone())
            if action in ("user.disable", "user.password"):
                # Signed-in sessions of the account end at once.
                conn.execute(
                    "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                    (self.db.now(), before.id),
                )
            audit.record(
                self.db,
                conn,
                actor=actor,
                action=action,
                target=f"user:{before.name}",
                previous=before.public(),
                new=after.public(),
            )
        return after

    def disable(self, name: str, *, actor: str) -> User:
        return self._update(name, actor=actor, action="user.disable", sets={"disabled": 1})

    def enable(self, name: str, *, actor: str) -> User:
        return self._update(name, actor=actor, action="user.enable", sets={"disabled": 0})

    def set_role(self, name: str, role: str, *, actor: str) -> User:
        return self._update(name, actor=actor, action="user.role", sets={"role": check_role(role)})

    def set_password(self, name: str, password: str, *, actor: str) -> User:
        password_hash = self.hasher.hash(check_password(password))
        return self._update(
            name, actor=actor, action="user.password", sets={"password_hash": password_hash}
        )

    # --- signing in ------------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> User | None:
        """The active user if the password matches, else None (no reason given, on purpose).

        An unknown name still costs one argon2 verification, so response time does not tell
        which account names exist.
        """
        if len(password) > MAX_PASSWORD_LENGTH or not NAME_PATTERN.match(name):
            self._verify_dummy(password[:MAX_PASSWORD_LENGTH])
            return None
        row = self.db.connection().execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            self._verify_dummy(password)
            return None
        stored = row["password_hash"]
        try:
            self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        user = _user(row)
        if user.disabled:
            return None
        if self.hasher.check_needs_rehash(stored):
            self._rehash(user, password)
        return user

    def _rehash(self, user: User, password: str) -> None:
        new_hash = self.hasher.hash(password)
        with self.db.write() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, user.id))
            audit.record(
                self.db,
                conn,
                actor="system",
                action="user.rehash",
                target=f"user:{user.name}",
                previous={"hash_parameters": "old"},
                new={"hash_parameters": "current"},
            )

    def _verify_dummy(self, password: str) -> None:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash("loupe-no-such-user")
        try:
            self.hasher.verify(self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
