"""/docs: the API described from /openapi.json on a page of Loupe's own (no CDN, no script)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from app.web.apidocs import build_docs, column_description, type_text
from app.web.schemas import ERRORS


@pytest.fixture
def docs_page(client) -> BeautifulSoup:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def test_every_operation_is_on_the_page(client, docs_page):
    document = client.get("/openapi.json").json()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            section = docs_page.find(id=operation["operationId"])
            assert section is not None, f"{method} {path} is missing"
            title = section.find("h3").get_text(" ", strip=True)
            assert title == f"{method.upper()} {path}"
            if operation.get("summary"):
                assert operation["summary"] in section.get_text(" ")
    assert docs_page.select_one('a[href="/openapi.json"]') is not None


def test_parameters_bodies_and_answers_are_described(docs_page):
    records = docs_page.find(id="list_records_api_records_get")
    own = {th.get_text(" ", strip=True): th.parent for th in records.select("tbody th")}
    size = own["size"].get_text(" ", strip=True)
    assert "integer 1–" in size and "Records per page" in size  # bounded by the setting
    shared = [a["href"] for a in records.select(".api-shared a[href^='#param-']")]
    assert "#param-q" in shared and "#param-lang" in shared
    assert records.select_one('a[href="#schema-RecordsPage"]') is not None
    statuses = [th.get_text(strip=True) for th in records.select(".api-answers tbody th")]
    assert statuses == ["200"]
    assert "422" in records.select_one(".api-common-errors").get_text()
    # A JSON body is listed field by field, with its bounds and default.
    vector = docs_page.find(id="search_vector_api_api_search_vector_post")
    body = vector.get_text(" ", strip=True)
    assert "Request body" in body and "application/json" in body
    assert "list of number (2–4096 items)" in body
    # A form's fields are shown with the operation, not as a schema of their own.
    login = docs_page.find(id="login_login_post")
    assert "application/x-www-form-urlencoded" in login.get_text()
    assert "password" in [c.get_text(strip=True) for c in login.select("tbody th code")]
    assert not docs_page.find(id=lambda i: i and i.startswith("schema-Body_"))
    # The shared parameters are described once, each with an anchor.
    q = docs_page.find(id="param-q").parent
    assert "at most 200 characters" in q.get_text(" ")
    score = docs_page.find(id="param-punsafe_max").parent.get_text(" ")
    assert "punsafe ≤ this" in score


def test_errors_are_explained_once(docs_page):
    explained = {dt.get_text(strip=True) for dt in docs_page.select(".api-errors dt")}
    assert explained == {str(status) for status in ERRORS}
    assert docs_page.select_one("#schema-ErrorBody") is not None


def test_every_link_on_the_page_lands(docs_page):
    ids = {tag["id"] for tag in docs_page.find_all(id=True)}
    for link in docs_page.select("a[href]"):
        href = link["href"]
        if href.startswith("#"):
            assert href[1:] in ids, f"{href} points nowhere"
        else:
            assert not urlsplit(href).netloc, f"{href} leaves the server"


def test_nothing_is_loaded_from_anywhere_else(docs_page):
    scripts = [s.get("src") for s in docs_page.find_all("script")]
    assert all(src and src.startswith("/static/") for src in scripts)
    styles = [link["href"] for link in docs_page.select('link[rel="stylesheet"]')]
    assert styles == ["/static/app.css"]
    assert not docs_page.find_all("style") and not docs_page.select("[style]")
    assert "swagger" not in str(docs_page).lower()


def test_redoc_and_the_header_lead_to_the_page(client, docs_page):
    response = client.get("/redoc", follow_redirects=False)
    assert response.status_code == 308 and response.headers["location"] == "/docs"
    assert client.get("/docs/oauth2-redirect").status_code == 404  # FastAPI's own is off
    grid = BeautifulSoup(client.get("/").text, "html.parser")
    assert grid.select_one(".topbar nav a[href='/docs']").get_text() == "API"
    # The page keeps the header's navigation of the default dataset.
    assert docs_page.select_one(".topbar nav a[href='/?ds=tiny']") is not None


def test_the_view_is_made_once_per_document(client):
    client.get("/docs")
    first = client.app.state.api_docs
    client.get("/docs")
    assert client.app.state.api_docs[1] is first[1]


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "integer", "minimum": 1, "maximum": 200}, "integer 1–200"),
        ({"type": "integer", "minimum": 0}, "integer at least 0"),
        ({"type": "number", "minimum": 0.0, "maximum": 1.0}, "number 0–1"),
        ({"type": "integer", "maximum": 1_000_000}, "integer at most 1,000,000"),
        (
            {"type": "string", "maxLength": 63, "pattern": "^[a-z]+$"},
            "string, at most 63 characters, matching ^[a-z]+$",
        ),
        ({"type": "string", "minLength": 1, "maxLength": 256}, "string, 1–256 characters"),
        ({"type": "string", "contentMediaType": "application/octet-stream"}, "a file"),
        ({"type": "string", "enum": ["thumb", "display"]}, "one of: thumb, display"),
        ({"type": "boolean"}, "boolean (true or false)"),
        (
            {"type": "array", "items": {"type": "string"}, "maxItems": 50},
            "list of string (at most 50 items)",
        ),
        (
            {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
            "integer at least 1 or null",
        ),
        (  # app.web.schemas' "blank is absent" alternative is said once, not per parameter
            {
                "anyOf": [
                    {"type": "string", "maxLength": 9},
                    {"type": "null"},
                    {"type": "string", "pattern": r"^\s*$"},
                ]
            },
            "string, at most 9 characters or null",
        ),
        ({"$ref": "#/components/schemas/RecordsPage"}, "RecordsPage"),
        ({"type": "array", "items": {"$ref": "#/components/schemas/FlagOut"}}, "list of FlagOut"),
        (
            {"type": "object", "additionalProperties": {"type": "integer"}},
            "map of string to integer",
        ),
        ({}, "any"),
    ],
)
def test_schemas_in_words(schema, words):
    assert type_text(schema).text == words


def test_references_are_kept_for_links():
    said = type_text({"type": "array", "items": {"$ref": "#/components/schemas/FlagOut"}})
    assert said.refs == ("FlagOut",)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("similarity_min", "Only records with CLIP similarity ≥ this."),
        ("aesthetic_max", "Only records with Aesthetic ≤ this."),
        ("min_width", "Only records with Width ≥ this."),
        ("domain", "Only records whose Domain is exactly this."),
        ("page", ""),
    ],
)
def test_undescribed_filters_are_said_from_their_column(name, words):
    assert column_description(name).startswith(words)


def test_a_parameter_taken_differently_is_not_shared():
    shared = {"name": "q", "in": "query", "schema": {"type": "string"}}
    other = {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
    paths = {f"/p{i}": {"get": {"operationId": f"p{i}", "parameters": [shared]}} for i in range(3)}
    paths["/other"] = {"get": {"operationId": "other", "parameters": [other]}}
    docs = build_docs({"info": {"title": "T"}, "paths": paths})
    ops = {op.anchor: op for group in docs.groups for op in group.operations}
    assert ops["p0"].shared == ("q",) and not ops["p0"].parameters
    assert ops["other"].shared == () and ops["other"].parameters[0].required
    assert [f.name for f in docs.shared_parameters] == ["q"]
