"""Signing in: session cookies, CSRF tokens, role checks and the login rate limit.

The cookie carries a random session token signed with itsdangerous; the database keeps only the
token's SHA-256, with its user and expiry. Signing lets garbage cookies be refused without a
database read; keeping sessions server-side lets logout and disabling an account end a session
at once (a purely client-side cookie would stay valid until it expired).

A CSRF token is an HMAC of the session token: bound to one session, checked in constant time,
nothing to store. htmx sends it in the ``X-CSRF-Token`` header, plain forms in ``csrf_token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.review import audit
from app.review.db import Database, iso, parse_iso
from app.review.errors import CsrfError, Forbidden, LoginFailed, LoginRequired, RateLimited
from app.review.users import ROLE_RANK, User, Users, check_role

logger = logging.getLogger(__name__)

SESSION_COOKIE = "loupe_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
DEFAULT_MAX_AGE_S = 14 * 24 * 3600
MAX_ADDRESS_LENGTH = 64
MAX_COOKIE_LENGTH = 512


# --- roles -----------------------------------------------------------------------------------
def require_role(user: User | None, role: str) -> User:
    """The user, if signed in, active and at least ``role``; else LoginRequired / Forbidden."""
    check_role(role)
    if user is None:
        raise LoginRequired("sign in to continue")
    if user.disabled:
        raise Forbidden(f"the account {user.name!r} is disabled")
    if ROLE_RANK[user.role] < ROLE_RANK[role]:
        raise Forbidden(f"this needs the {role} role; {user.name} is a {user.role}")
    return user


def require_viewer(user: User | None, require_login: bool) -> User | None:
    """Gate for read-only pages: anonymous viewing is allowed unless ``require_login``."""
    if user is None:
        if require_login:
            raise LoginRequired("sign in to view this site")
        return None
    return require_role(user, "viewer")


# --- rate limit ------------------------------------------------------------------------------
class LoginLimiter:
    """At most ``max_failures`` failed sign-ins per account and per address in a sliding window.

    Failures are rows of the review database's ``login_failures`` table, so the limit holds
    across a restart and between processes (several workers, the CLI): a guesser cannot reset
    it by waiting for a deploy, nor spread guesses over workers. Each failure is one small
    write transaction (an fsync, about a millisecond on a local SSD), paid only after a password
    check that failed — argon2 costs far more — and never once a key is limited: ``check``
    refuses before the password is looked at, so a flood of guesses from one account or address
    stops writing after ``max_failures`` rows. Rows older than the window are deleted as new
    ones are written, and a key keeps at most ``max_failures`` rows, so the table stays small.

    Keys are HMACs of the account name and of the address under the server's secret key: a
    name typed into the login form is often password text, and it must never be stored as
    typed. The clock is the wall clock (Unix seconds): a monotonic clock restarts with the
    machine and differs between processes.

    A limiter is made with the settings (``LoginLimiter(5, 900)``) and bound to a database by
    ``Sessions`` (``bound``); an unbound limiter refuses to count.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 900.0,
        *,
        clock: Callable[[], float] = time.time,
        db: Database | None = None,
        secret: bytes = b"",
    ) -> None:
        self.max_failures = max(1, int(max_failures))
        self.window_s = float(window_s)
        self.clock = clock
        self.db = db
        self._secret = secret

    def bound(self, db: Database, secret: bytes) -> LoginLimiter:
        """This limiter counting in ``db``, its keys made with ``secret`` (itself if bound)."""
        if self.db is not None:
            return self
        return LoginLimiter(
            self.max_failures, self.window_s, clock=self.clock, db=db, secret=secret
        )

    def _database(self) -> Database:
        if self.db is None:
            raise RuntimeError("LoginLimiter is not bound to a database (Sessions binds it)")
        return self.db

    def _key(self, kind: str, value: str) -> str:
        mac = hmac.new(self._secret, f"{kind}\x00{value}".encode(), hashlib.sha256)
        return f"{kind}:{mac.hexdigest()[:32]}"

    def _keys(self, account: str, address: str | None) -> tuple[str, str]:
        return (
            self._key("account", account.strip().casefold()[:128]),
            self._key("address", (address or "unknown")[:MAX_ADDRESS_LENGTH]),
        )

    def check(self, account: str, address: str | None) -> None:
        """Raise RateLimited if either the account or the address is over the limit."""
        now = self.clock()
        conn = self._database().connection()
        for key in self._keys(account, address):
            # The newest max_failures failures in the window: the limit lifts when the oldest
            # of them leaves it.
            rows = conn.execute(
                "SELECT failed_at FROM login_failures WHERE key = ? AND failed_at > ? "
                "ORDER BY failed_at DESC LIMIT ?",
                (key, now - self.window_s, self.max_failures),
            ).fetchall()
            if len(rows) >= self.max_failures:
                retry_after = max(1, int(rows[-1][0] + self.window_s - now + 0.999))
                minutes = max(1, round(retry_after / 60))
                raise RateLimited(
                    "too many failed sign-ins for this account or from this address; "
                    f"try again in about {minutes} minute{'s' if minutes != 1 else ''}",
                    retry_after,
                )

    def failed(self, account: str, address: str | None) -> None:
        now = self.clock()
        with self._database().write() as conn:
            conn.execute("DELETE FROM login_failures WHERE failed_at <= ?", (now - self.window_s,))
            for key in self._keys(account, address):
                conn.execute(
                    "INSERT INTO login_failures (key, failed_at) VALUES (?, ?)", (key, now)
                )
                # A key at the limit needs no older rows than its newest max_failures.
                conn.execute(
                    "DELETE FROM login_failures WHERE key = ? AND rowid NOT IN ("
                    "SELECT rowid FROM login_failures WHERE key = ? "
                    "ORDER BY failed_at DESC LIMIT ?)",
                    (key, key, self.max_failures),
                )

    def succeeded(self, account: str) -> None:
        # Only the account's count is cleared: one good password must not let an address
        # go on guessing other accounts.
        with self._database().write() as conn:
            conn.execute(
                "DELETE FROM login_failures WHERE key = ?", (self._keys(account, None)[0],)
            )

    def failures(self) -> int:
        """Rows in the table (for tests and the docs' figures)."""
        conn = self._database().connection()
        return int(conn.execute("SELECT count(*) FROM login_failures").fetchone()[0])


# --- sessions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    user: User
    token: str  # the raw token; only its hash is stored
    csrf_token: str
    expires_at: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class Sessions:
    def __init__(
        self,
        db: Database,
        users: Users,
        secret_key: str,
        *,
        max_age_s: int = DEFAULT_MAX_AGE_S,
        limiter: LoginLimiter | None = None,
    ) -> None:
        self.db = db
        self.users = users
        self.max_age_s = max_age_s
        self._secret = secret_key.encode("utf-8")
        # Failures are counted in this database, keyed under this secret (see LoginLimiter).
        self.limiter = (limiter or LoginLimiter()).bound(db, self._secret)
        self._serializer = URLSafeTimedSerializer(secret_key, salt="loupe.session")

    # --- CSRF ------------------------------------------------------------------------------
    def csrf_token_for(self, key: str) -> str:
        """Token bound to ``key``: a session's token, or for a signed-out form (the login page)
        a random value the web layer keeps in a cookie of its own."""
        mac = hmac.new(self._secret, b"csrf\x00" + key.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def verify_csrf(self, bound_to: Session | str | None, token: str | None) -> None:
        """Raise CsrfError unless ``token`` was made for this session (or key)."""
        if bound_to is None:
            raise CsrfError("this form has expired; reload the page and try again")
        key = bound_to.token if isinstance(bound_to, Session) else bound_to
        if not token or len(token) > 128:
            raise CsrfError("missing security token; reload the page and try again")
        if not hmac.compare_digest(self.csrf_token_for(key), token):
            raise CsrfError("invalid security token; reload the page and try again")

    # --- signing in and out ----------------------------------------------------------------
    def login(self, name: str, password: str, address: str | None) -> tuple[Session, str]:
        """Check the password and open a session: returns it and the cookie value to set.

        Raises RateLimited (before looking at the password) or LoginFailed.
        """
        self.limiter.check(name, address)
        user = self.users.authenticate(name, password)
        if user is None:
            self.limiter.failed(name, address)
            # The name may be mistyped password text, so it is not logged either.
            logger.warning("failed sign-in from %s", (address or "unknown")[:MAX_ADDRESS_LENGTH])
            raise LoginFailed("wrong name or password")
        self.limiter.succeeded(name)
        return self.create(user, address)

    def create(self, user: User, address: str | None = None) -> tuple[Session, str]:
        token = secrets.token_urlsafe(32)
        now = self.db.clock()
        expires_at = iso(now + timedelta(seconds=self.max_age_s))
        with self.db.write() as conn:
            # Expired sessions are dropped here rather than by a timer.
            conn.execute(
                "DELETE FROM sessions WHERE expires_at < ?", (iso(now - timedelta(days=1)),)
            )
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, address) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    _token_hash(token),
                    user.id,
                    iso(now),
                    expires_at,
                    (address or "")[:MAX_ADDRESS_LENGTH] or None,
                ),
            )
            audit.record(
                self.db,
                conn,
                actor=user.name,
                action="session.login",
                target=f"user:{user.name}",
                new={
                    "address": (address or "")[:MAX_ADDRESS_LENGTH] or None,
                    "expires_at": expires_at,
                },
            )
        session = Session(user, token, self.csrf_token_for(token), expires_at)
        return session, self._serializer.dumps(token)

    def load(self, cookie: str | None) -> Session | None:
        """The live session a cookie names, or None (bad signature, expired, revoked, disabled)."""
        if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
            return None
        try:
            token = self._serializer.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not isinstance(token, str):
            return None
        row = (
            self.db.connection()
            .execute(
                "SELECT user_id, expires_at, revoked_at FROM sessions WHERE token_hash = ?",
                (_token_hash(token),),
            )
            .fetchone()
        )
        if row is None or row["revoked_at"] is not None:
            return None
        if parse_iso(row["expires_at"]) <= self.db.clock():
            return None
        user = self.users.get_by_id(row["user_id"])
        if user is None or user.disabled:
            return None
        return Session(user, token, self.csrf_token_for(token), row["expires_at"])

    def logout(self, cookie: str | None) -> None:
        session = self.load(cookie)
        if session is None:
            return
        with self.db.write() as conn:
            conn.execute(
                "UPDATE sessions SET revoked_at = ? WHERE token_hash = ?",
                (self.db.now(), _token_hash(session.token)),
            )
            audit.record(
                self.db,
                conn,
                actor=session.user.name,
                action="session.logout",
                target=f"user:{session.user.name}",
            )

    def cookie_settings(self, *, secure: bool) -> dict[str, object]:
        """Keyword arguments for Starlette's ``response.set_cookie`` (secure: served over https)."""
        return {
            "key": SESSION_COOKIE,
            "max_age": self.max_age_s,
            "httponly": True,
            "samesite": "lax",
            "secure": secure,
            "path": "/",
        }
