"""One redirect guard (app.web.redirects.safe_next), used by every route that redirects to a
target named in the request: none of them sends a browser to another host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.web.redirects import safe_next
from tests.web.review_support import PASSWORD, add_people, anonymous_token, sign_in, soup

# Each of these, followed by a browser, leaves the site (or tries to).
HOSTILE = [
    "//evil.example",
    "//evil.example/path?x=1",
    "/\\evil.example",
    "\\\\evil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%252F/evil.example",  # decoded twice
    "https://evil.example",
    "http:evil.example",
    "HTTPS://evil.example/",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",  # browsers delete tabs and newlines from URLs: //evil.example
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    " //evil.example",
    "evil.example",
    "/\x7f/evil.example",
]
LOCAL = ["/", "/?ds=tiny&q=cat", "/records/1003?ds=tiny", "/review?status=open", "/a%20b"]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_targets_are_refused(target):
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", LOCAL)
def test_paths_on_this_site_are_kept(target):
    assert safe_next(target) == target


def assert_stays_here(response) -> None:
    assert response.status_code == 303, response.text[:300]
    location = response.headers["location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location.startswith("/") and not location.startswith("//"), location
    assert "\\" not in location, location
    # As a browser reads it: tabs and newlines deleted, backslashes taken for slashes.
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    assert urlsplit(urljoin("http://loupe.test/here", cleaned)).netloc == "loupe.test", location


@pytest.fixture(scope="module")
def app_and_client(tiny_data_dir, tmp_path_factory) -> Iterator[tuple]:
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path_factory.mktemp("state"))
    app = create_app(settings)
    with TestClient(app) as client:
        add_people(app.state.workspace.review)
        yield app, client


@pytest.mark.parametrize("target", HOSTILE)
def test_the_blur_toggle_refuses(app_and_client, target):
    app, client = app_and_client
    token = sign_in(client, app, None)
    response = client.post(
        "/prefs/blur",
        data={"blur": "off", "back": target, "csrf_token": token},
        follow_redirects=False,
    )
    assert_stays_here(response)


@pytest.mark.parametrize("target", HOSTILE)
def test_the_login_page_and_form_refuse(app_and_client, target):
    app, client = app_and_client
    client.cookies.clear()
    page = client.get("/login", params={"next": target})
    assert page.status_code == 200
    assert soup(page).select_one("input[name=next]")["value"] == "/"
    token = anonymous_token(client)
    response = client.post(
        "/login",
        data={"name": "alice", "password": PASSWORD, "next": target, "csrf_token": token},
        follow_redirects=False,
    )
    assert_stays_here(response)


@pytest.mark.parametrize("target", HOSTILE)
def test_the_flag_form_refuses(app_and_client, target):
    app, client = app_and_client
    token = sign_in(client, app, "alice")
    response = client.post(
        "/review/flag",
        data={
            "sample_id": "1004",
            "category": "other",
            "note": "redirect test",
            "back": target,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert_stays_here(response)


@pytest.fixture(scope="module")
def flag_id(app_and_client) -> int:
    app, client = app_and_client
    token = sign_in(client, app, "fiona")
    client.post(
        "/review/flag",
        data={"sample_id": "1006", "category": "other", "csrf_token": token},
        follow_redirects=False,
    )
    return app.state.workspace.review.flags.for_record("tiny", "1006")[0].id


@pytest.mark.parametrize("target", HOSTILE)
def test_the_review_decisions_refuse(app_and_client, flag_id, target):
    app, client = app_and_client
    token = sign_in(client, app, "carol")  # an admin, not the one who flagged: may decide
    for back in (target, "/review" + target):
        flag = app.state.workspace.review.flags.for_record("tiny", "1006")[0]
        action = "dismiss" if flag.status == "open" else "reopen"
        response = client.post(
            f"/review/flags/{flag_id}/{action}",
            data={"back": back, "csrf_token": token},
            follow_redirects=False,
        )
        assert_stays_here(response)
