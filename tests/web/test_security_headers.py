"""Security headers on every response, HEAD wherever GET is, and an honest Allow header."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.web.middleware import CONTENT_SECURITY_POLICY
from tests.web.review_support import anonymous_token


@pytest.fixture(scope="module")
def app(tiny_data_dir, tmp_path_factory) -> FastAPI:
    settings = Settings(
        data_dir=tiny_data_dir,
        state_dir=tmp_path_factory.mktemp("state"),
        max_upload_bytes=1000,
    )
    app = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("a bug in a route")

    app.add_api_route("/boom-for-tests", boom, include_in_schema=False)
    return app


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def assert_secured(response, csp: str = CONTENT_SECURITY_POLICY) -> None:
    assert response.headers["content-security-policy"] == csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_policy_allows_nothing_inline_and_no_other_origin():
    directives = dict(
        part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";") if part.strip()
    )
    for name, sources in directives.items():
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, name
        assert "http" not in sources and "*" not in sources, name
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


@pytest.mark.parametrize(
    "path, status",
    [
        ("/", 200),  # a page
        ("/?size=1&ds=tiny", 200),
        ("/records/1003", 200),
        ("/overview", 200),
        ("/login", 200),
        ("/api/records?size=2", 200),  # the API
        ("/api/datasets", 200),
        ("/static/app.css", 200),  # static files
        ("/static/no-such-file.js", 404),
        ("/records/nope", 404),  # an error page
        ("/api/records?size=abc", 422),  # an API error
        ("/review", 401),  # signed out, not a browser: 401 (a browser gets a 303)
        ("/openapi.json", 200),
        ("/boom-for-tests", 500),  # an unhandled error, answered outside every middleware
    ],
)
def test_every_response_carries_the_headers(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert_secured(response)
    if status == 500:
        assert "a bug in a route" not in response.text


def test_redirects_and_refusals_carry_them_too(client):
    token = anonymous_token(client)
    redirect = client.post(
        "/prefs/blur", data={"blur": "on", "csrf_token": token}, follow_redirects=False
    )
    assert redirect.status_code == 303
    assert_secured(redirect)
    login_redirect = client.get("/review", follow_redirects=False, headers={"accept": "text/html"})
    assert login_redirect.status_code == 303
    assert_secured(login_redirect)
    too_large = client.post("/api/search/vector", content=b"x" * 200_000)
    assert too_large.status_code == 413
    assert_secured(too_large)
    csrf = client.post("/prefs/blur", data={"blur": "on"})
    assert csrf.status_code == 403
    assert_secured(csrf)


def test_images_keep_their_stricter_policy(client):
    image = client.get("/images/1003/thumb")
    placeholder = client.get("/images/1119/thumb")  # the last three records have no pixels
    assert image.headers["content-type"] == "image/jpeg"
    assert placeholder.headers["content-type"].startswith("image/svg+xml")
    for response in (image, placeholder):
        assert response.status_code == 200
        assert_secured(response, csp="default-src 'none'; style-src 'unsafe-inline'")
    not_modified = client.get(
        "/images/1003/thumb", headers={"if-none-match": image.headers["etag"]}
    )
    assert not_modified.status_code == 304
    assert_secured(not_modified, csp="default-src 'none'; style-src 'unsafe-inline'")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/records/1003",
        "/overview",
        "/login",
        "/api/records?size=3",
        "/api/records/1003",
        "/api/count",
        "/static/app.css",
        "/images/1003/thumb",
        "/records/nope",
        "/export?format=csv&limit=5",
    ],
)
def test_head_is_answered_wherever_get_is(client, path):
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == get.status_code
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    if "content-length" in get.headers and "etag" not in get.headers:
        # Pages carry a fresh CSRF token each time; their lengths match all the same.
        assert head.headers["content-length"] == get.headers["content-length"]
    assert_secured(head, csp=get.headers["content-security-policy"])


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("OPTIONS", "/login", "GET, HEAD, POST"),  # two routes share the path
        ("PUT", "/login", "GET, HEAD, POST"),
        ("HEAD", "/logout", "POST"),  # no GET: no HEAD either
        ("DELETE", "/api/records", "GET, HEAD"),
        ("POST", "/records/1003", "GET, HEAD"),
        ("PATCH", "/api/search/vector", "POST"),
        ("POST", "/static/app.css", "GET, HEAD"),
    ],
)
def test_405_names_every_method_the_path_answers(client, method, path, allow):
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert_secured(response)
