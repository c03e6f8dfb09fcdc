"""Helpers shared by the reviewers' web tests: a real app on the tiny dataset with four people."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.review.sessions import SESSION_COOKIE
from app.review.store import ReviewStore

PASSWORD = "correct horse battery"
# Real argon2id, cost turned down so the suite stays quick on two cores.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PEOPLE = {
    "alice": "reviewer",
    "bob": "reviewer",
    "carol": "admin",
    "vic": "viewer",
    "fiona": "reviewer",  # raises the flags others decide on
    "gus": "reviewer",
}


def add_people(store: ReviewStore) -> None:
    store.users.hasher = FAST_HASHER
    for name, role in PEOPLE.items():
        if store.users.find(name) is None:
            store.users.add(name, PASSWORD, role, actor="test")


@contextmanager
def review_client(settings: Settings) -> Iterator[tuple[TestClient, FastAPI]]:
    app = create_app(settings)
    with TestClient(app) as client:
        add_people(app.state.workspace.review)
        yield client, app


def sign_in(client: TestClient, app: FastAPI, name: str | None) -> str:
    """Give ``client`` a session of ``name`` (None: signed out); returns its CSRF token.

    Sessions are opened through the store (the login form itself has its own tests), so a
    table of a hundred requests does not pay for a hundred password checks.
    """
    client.cookies.clear()
    if name is None:
        return anonymous_token(client)
    store: ReviewStore = app.state.workspace.review
    session, cookie = store.sessions.create(store.users.get(name))
    client.cookies.set(SESSION_COOKIE, cookie)
    return session.csrf_token


def anonymous_token(client: TestClient) -> str:
    """The token a signed-out visitor's login form carries (and its cookie, set on the client)."""
    return csrf_from(client.get("/login").text)


def csrf_from(html: str) -> str:
    field = BeautifulSoup(html, "html.parser").select_one("input[name=csrf_token]")
    assert field is not None, "no csrf_token field on the page"
    return field["value"]


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")
