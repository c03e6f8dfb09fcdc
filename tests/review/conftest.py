"""Fixtures for the review store: a real SQLite file in tmp_path, real argon2 (cheap settings)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from argon2 import PasswordHasher

from app.config import Settings
from app.review.flags import url_sha256
from app.review.store import ReviewStore
from app.review.users import User

PASSWORD = "correct horse battery"


class Clock:
    """A clock the test moves by hand (sessions expire, flags land on chosen days)."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def fast_hasher() -> PasswordHasher:
    # Real argon2id, with the cost turned down so the suite stays quick on two cores.
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def review_settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", data_dir=tmp_path / "data")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(
    review_settings: Settings, fast_hasher: PasswordHasher, clock: Clock
) -> Iterator[ReviewStore]:
    opened = ReviewStore.open(review_settings, hasher=fast_hasher, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def people(store: ReviewStore) -> dict[str, User]:
    roles = {"alice": "reviewer", "bob": "reviewer", "carol": "admin", "vic": "viewer"}
    return {
        name: store.users.add(name, PASSWORD, role, actor="test") for name, role in roles.items()
    }


@pytest.fixture
def catalog() -> Iterator[duckdb.DuckDBPyConnection]:
    """A tiny real DuckDB catalog: sample ids r0..r9 with URL and image hashes."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE records (sample_id VARCHAR, url VARCHAR, url_sha256 VARCHAR, "
        "md5 VARCHAR, sha256 VARCHAR)"
    )
    rows = [
        (
            f"r{i}",
            f"https://example.org/{i}.jpg",
            url_sha256(f"https://example.org/{i}.jpg"),
            f"{i:032x}",
            f"{i + 100:064x}",
        )
        for i in range(10)
    ]
    con.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
    yield con
    con.close()


RESOLVE_SQL = {
    "sample_id": "SELECT sample_id FROM records WHERE sample_id IN (SELECT unnest(?))",
    "url_sha256": "SELECT sample_id FROM records WHERE url_sha256 IN (SELECT unnest(?))",
    "md5": "SELECT sample_id FROM records WHERE md5 IN (SELECT unnest(?))",
    "sha256": "SELECT sample_id FROM records WHERE sha256 IN (SELECT unnest(?))",
}


def make_resolver(con: duckdb.DuckDBPyConnection, calls: list[tuple[str, int]] | None = None):
    """resolve(kind, values) -> sample ids, the way the web layer builds it from DuckDB."""

    def resolve(kind: str, values: list[str]) -> list[str]:
        if calls is not None:
            calls.append((kind, len(values)))
        return [row[0] for row in con.execute(RESOLVE_SQL[kind], [values]).fetchall()]

    return resolve
