"""The review store: everything writable in Loupe behind one object.

``ReviewStore.open(settings)`` is what the app's lifespan (and each CLI command) calls; the
parts are plain attributes so routes read as ``store.flags.confirm(...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher

from app.config import Settings
from app.review.audit import AuditLog
from app.review.blocklist import Blocklists
from app.review.db import DB_FILE_NAME, Database, utc_now
from app.review.flags import Flags, HiddenCallback
from app.review.quarantine import Quarantine
from app.review.safety import Safety
from app.review.secret import load_or_create_secret_key
from app.review.sessions import DEFAULT_MAX_AGE_S, LoginLimiter, Sessions
from app.review.users import Users


def review_db_path(state_dir: Path) -> Path:
    return Path(state_dir) / DB_FILE_NAME


class ReviewStore:
    def __init__(
        self,
        db: Database,
        secret_key: str,
        *,
        hasher: PasswordHasher | None = None,
        limiter: LoginLimiter | None = None,
        session_max_age_s: int = DEFAULT_MAX_AGE_S,
    ) -> None:
        self.db = db
        # One callback list shared by Flags and Safety: register once, hear about every hide.
        self.on_hidden: list[HiddenCallback] = []
        self.audit = AuditLog(db)
        self.users = Users(db, hasher)
        self.flags = Flags(db, self.on_hidden)
        self.blocklists = Blocklists(db)
        self.safety = Safety(db, self.blocklists, self.on_hidden)
        self.quarantine = Quarantine(db)
        self.sessions = Sessions(
            db, self.users, secret_key, max_age_s=session_max_age_s, limiter=limiter
        )

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> ReviewStore:
        """Create ``state_dir``, the database and the secret key on first use."""
        state_dir = Path(settings.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        db = Database.open(review_db_path(state_dir), clock=clock)
        configured = settings.secret_key.get_secret_value() if settings.secret_key else None
        secret = load_or_create_secret_key(state_dir, configured)
        limiter = LoginLimiter(settings.login_max_failures, settings.login_window_s)
        return cls(
            db,
            secret,
            hasher=hasher,
            limiter=limiter,
            session_max_age_s=settings.session_max_age_s,
        )

    def add_hidden_listener(self, callback: HiddenCallback) -> None:
        """Run ``callback(dataset, sample_ids)`` after records become hidden (delete thumbnails)."""
        self.on_hidden.append(callback)

    def close(self) -> None:
        self.db.close()
