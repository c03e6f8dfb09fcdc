"""Signing in: the rate limiter, session cookies, CSRF tokens, role checks, the secret key."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.review.db import Database
from app.review.errors import (
    CsrfError,
    Forbidden,
    LoginFailed,
    LoginRequired,
    RateLimited,
    http_status,
)
from app.review.secret import load_or_create_secret_key
from app.review.sessions import LoginLimiter, require_role, require_viewer
from app.review.store import ReviewStore
from tests.review.conftest import PASSWORD


class Ticker:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    opened = Database.open(tmp_path / "review.sqlite3")
    yield opened
    opened.close()


def limiter_on(db: Database, max_failures: int, window_s: float, clock: Ticker) -> LoginLimiter:
    return LoginLimiter(max_failures, window_s, clock=clock).bound(db, b"test secret")


def test_limiter_per_account(db: Database) -> None:
    tick = Ticker()
    limiter = limiter_on(db, 5, 900, tick)
    for n in range(5):
        limiter.check("alice", f"10.0.0.{n}")
        limiter.failed("alice", f"10.0.0.{n}")
        tick.t += 1
    with pytest.raises(RateLimited) as caught:
        limiter.check("ALICE", "10.9.9.9")  # any address, any spelling of the name
    assert 890 <= caught.value.retry_after_s <= 900
    assert "try again in about 15 minutes" in str(caught.value)
    assert http_status(caught.value) == 429
    limiter.check("bob", "10.9.9.9")
    tick.t += 900
    limiter.check("alice", "10.9.9.9")  # the window has slid past the failures


def test_limiter_per_address(db: Database) -> None:
    limiter = limiter_on(db, 3, 60, Ticker())
    for name in ("a", "b", "c"):
        limiter.failed(name, "192.0.2.7")
    with pytest.raises(RateLimited):
        limiter.check("d", "192.0.2.7")
    limiter.check("d", "192.0.2.8")


def test_success_clears_the_account_but_not_the_address(db: Database) -> None:
    limiter = limiter_on(db, 2, 60, Ticker())
    limiter.failed("alice", "192.0.2.7")
    limiter.failed("alice", "192.0.2.7")
    limiter.succeeded("alice")
    limiter.check("alice", "192.0.2.8")
    with pytest.raises(RateLimited):
        limiter.check("zed", "192.0.2.7")


def test_limiter_table_is_pruned(db: Database) -> None:
    tick = Ticker()
    limiter = limiter_on(db, 5, 60, tick)
    for _ in range(20):  # one account and address: each key keeps its newest 5 rows
        limiter.failed("alice", "10.0.0.1")
    assert limiter.failures() == 10
    for n in range(100):
        limiter.failed(f"user{n}", f"10.2.{n}.1")
    assert limiter.failures() == 210
    tick.t += 61  # the next failure deletes every row older than the window
    limiter.failed("zed", "10.1.1.1")
    assert limiter.failures() == 2


def test_limiter_keeps_no_name_or_address_as_typed(db: Database) -> None:
    limiter = limiter_on(db, 5, 60, Ticker())
    limiter.failed("hunter2-secret", "198.51.100.9")
    keys = [row[0] for row in db.connection().execute("SELECT key FROM login_failures")]
    assert len(keys) == 2 and {k.split(":")[0] for k in keys} == {"account", "address"}
    assert not any("hunter2" in k or "198.51" in k for k in keys)
    # Under another secret the same name is another key: a stolen table reveals nothing.
    other = LoginLimiter(5, 60, clock=Ticker()).bound(db, b"another secret")
    assert other._keys("hunter2-secret", None)[0] not in keys


def test_an_unbound_limiter_refuses_to_count() -> None:
    with pytest.raises(RuntimeError, match="not bound"):
        LoginLimiter().check("alice", None)


def test_limits_hold_across_a_restart_and_between_processes(
    review_settings, fast_hasher, people
) -> None:
    """The limit is in the database: a new ReviewStore on the same state folder (a restart, or
    a second worker) still refuses, with a Retry-After, until the window has passed."""
    limit = review_settings.login_max_failures
    first = ReviewStore.open(review_settings, hasher=fast_hasher)
    second = ReviewStore.open(review_settings, hasher=fast_hasher)  # another worker, at once
    try:
        for _ in range(limit):
            with pytest.raises(LoginFailed):
                first.sessions.login("alice", "wrong password", "198.51.100.1")
        with pytest.raises(RateLimited):
            second.sessions.login("alice", PASSWORD, "198.51.100.2")
    finally:
        first.close()
        second.close()
    restarted = ReviewStore.open(review_settings, hasher=fast_hasher)
    try:
        with pytest.raises(RateLimited) as caught:
            restarted.sessions.login("alice", PASSWORD, "198.51.100.3")
        assert 0 < caught.value.retry_after_s <= review_settings.login_window_s
        with pytest.raises(RateLimited):  # and the address, for any account
            restarted.sessions.login("bob", PASSWORD, "198.51.100.1")
        assert restarted.sessions.login("bob", PASSWORD, "198.51.100.4")[0].user.name == "bob"
    finally:
        restarted.close()


def test_login_is_rate_limited_before_the_password_is_checked(store: ReviewStore, people) -> None:
    for _ in range(5):
        with pytest.raises(LoginFailed):
            store.sessions.login("alice", "wrong password", "198.51.100.1")
    with pytest.raises(RateLimited):
        store.sessions.login("alice", PASSWORD, "198.51.100.2")
    session, _ = store.sessions.login("bob", PASSWORD, "198.51.100.2")
    assert session.user.name == "bob"


def test_failed_logins_never_log_the_password(store: ReviewStore, people, caplog) -> None:
    with caplog.at_level("DEBUG"):
        with pytest.raises(LoginFailed):
            store.sessions.login("alice", "hunter2-secret", "198.51.100.1")
        store.sessions.login("alice", PASSWORD, "198.51.100.1")
    assert "hunter2-secret" not in caplog.text and PASSWORD not in caplog.text


def test_session_cookie_round_trip(store: ReviewStore, people, clock) -> None:
    session, cookie = store.sessions.login("alice", PASSWORD, "198.51.100.1")
    assert cookie != session.token and cookie.count(".") == 2  # itsdangerous: payload.time.sig
    loaded = store.sessions.load(cookie)
    assert loaded is not None and loaded.user.name == "alice"
    assert loaded.csrf_token == session.csrf_token
    (entry,) = store.audit.entries(action="session.login")
    assert entry.actor == "alice" and entry.new["address"] == "198.51.100.1"

    assert store.sessions.load(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert store.sessions.load("garbage") is None
    assert store.sessions.load(None) is None
    assert store.sessions.load("x" * 10_000) is None

    store.sessions.logout(cookie)
    assert store.sessions.load(cookie) is None
    assert store.audit.entries(action="session.logout")


def test_session_expires(store: ReviewStore, people, clock) -> None:
    _, cookie = store.sessions.login("alice", PASSWORD, None)
    clock.advance(seconds=store.sessions.max_age_s + 1)
    assert store.sessions.load(cookie) is None


def test_disabling_ends_sessions(store: ReviewStore, people) -> None:
    _, cookie = store.sessions.login("alice", PASSWORD, None)
    store.users.disable("alice", actor="carol")
    assert store.sessions.load(cookie) is None
    store.users.enable("alice", actor="carol")
    assert store.sessions.load(cookie) is None  # revoked, not merely paused


def test_cookie_signed_with_another_key_is_refused(
    store: ReviewStore, people, review_settings
) -> None:
    _, cookie = store.sessions.login("alice", PASSWORD, None)
    other = ReviewStore(store.db, "another-secret-key-of-enough-length-0123456789")
    assert other.sessions.load(cookie) is None


def test_csrf_token_is_bound_to_its_session(store: ReviewStore, people) -> None:
    alice, _ = store.sessions.login("alice", PASSWORD, None)
    bob, _ = store.sessions.login("bob", PASSWORD, None)
    store.sessions.verify_csrf(alice, alice.csrf_token)
    for bad in (bob.csrf_token, None, "", "x" * 500, alice.csrf_token[:-1]):
        with pytest.raises(CsrfError):
            store.sessions.verify_csrf(alice, bad)
    with pytest.raises(CsrfError):
        store.sessions.verify_csrf(None, alice.csrf_token)
    # Signed-out forms bind the token to a random key the web layer keeps in a cookie.
    token = store.sessions.csrf_token_for("pre-login-key")
    store.sessions.verify_csrf("pre-login-key", token)
    with pytest.raises(CsrfError):
        store.sessions.verify_csrf("another-key", token)


def test_cookie_settings(store: ReviewStore) -> None:
    plain = store.sessions.cookie_settings(secure=False)
    assert plain["httponly"] is True and plain["samesite"] == "lax" and plain["secure"] is False
    assert store.sessions.cookie_settings(secure=True)["secure"] is True


@pytest.mark.parametrize(
    ("who", "role", "outcome"),
    [
        (None, "viewer", LoginRequired),
        ("vic", "viewer", None),
        ("vic", "reviewer", Forbidden),
        ("vic", "admin", Forbidden),
        ("alice", "reviewer", None),
        ("alice", "admin", Forbidden),
        ("carol", "reviewer", None),
        ("carol", "admin", None),
        ("disabled", "viewer", Forbidden),
    ],
)
def test_require_role(store: ReviewStore, people, who, role, outcome) -> None:
    if who == "disabled":
        user = store.users.disable("bob", actor="carol")
    else:
        user = people[who] if who else None
    if outcome is None:
        assert require_role(user, role) is user
    else:
        with pytest.raises(outcome):
            require_role(user, role)


def test_require_viewer(people) -> None:
    assert require_viewer(None, require_login=False) is None
    with pytest.raises(LoginRequired):
        require_viewer(None, require_login=True)
    assert require_viewer(people["vic"], require_login=True) is people["vic"]
    assert http_status(LoginRequired("x")) == 401 and http_status(Forbidden("x")) == 403


def test_secret_key_made_once_with_private_mode(tmp_path: Path) -> None:
    key = load_or_create_secret_key(tmp_path / "state")
    path = tmp_path / "state" / "secret_key"
    assert len(key) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret_key(tmp_path / "state") == key
    assert load_or_create_secret_key(tmp_path / "state", "c" * 40) == "c" * 40
    with pytest.raises(ValueError, match="too short"):
        load_or_create_secret_key(tmp_path / "state", "short")
