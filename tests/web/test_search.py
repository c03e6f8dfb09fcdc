"""Search by meaning through the real app: real OpenCLIP and MiniLM models, real FAISS."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from PIL import Image


def png(size=(64, 48), colour=(30, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def scores(body) -> list[float]:
    return [r["knn_score"] for r in body["records"]]


def test_text_query_by_meaning_is_ranked(client):
    body = client.get("/api/search", params={"q": "a photo of a cat", "mode": "meaning"}).json()
    assert body["sort"] == "meaning" and len(body["records"]) == 50
    assert scores(body) == sorted(scores(body), reverse=True)
    # The caption model puts cats first.
    assert "cat" in body["records"][0]["caption"]


def test_meaning_search_respects_filters(client):
    params = {"q": "dog", "mode": "meaning", "lang": "de", "aesthetic_min": 4}
    body = client.get("/api/search", params=params).json()
    assert body["records"]
    assert all(r["language"] == "de" and r["aesthetic"] >= 4 for r in body["records"])


def test_more_like_this(client):
    body = client.get("/api/records/1010/similar", params={"k": 10}).json()
    ids = [r["sample_id"] for r in body["records"]]
    assert "1010" not in ids and len(ids) == 10
    assert scores(body) == sorted(scores(body), reverse=True)
    page = BeautifulSoup(client.get("/", params={"like": "1010"}).text, "html.parser")
    assert "1010" in page.select_one(".like-banner a")["href"]
    assert len(page.select("#grid li.card .badge-knn")) == 48


def test_upload_search(client):
    response = client.post(
        "/api/search/image?ds=tiny", files={"picture": ("x.png", png(), "image/png")}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["records"] and body["records"][0]["knn_score"] is not None


@pytest.mark.parametrize(
    ("payload", "status", "phrase"),
    [
        (b"<html>not an image</html>", 400, "refused"),
        (b"", 400, "no picture"),
        (b"x" * 10_000_001, 413, "larger than"),  # the route's own check
        (b"x" * 12_000_000, 413, "request body is larger"),  # refused before parsing
    ],
)
def test_upload_limits(client, payload, status, phrase):
    response = client.post(
        "/api/search/image?ds=tiny", files={"picture": ("x.png", payload, "image/png")}
    )
    assert response.status_code == status
    assert phrase in response.json()["detail"]


def test_decompression_bomb_upload_is_refused(client):
    bomb = png(size=(8000, 6000), colour=(0, 0, 0))  # 48 Mpx > the 40 Mpx limit, tiny file
    response = client.post(
        "/api/search/image?ds=tiny", files={"picture": ("bomb.png", bomb, "image/png")}
    )
    assert response.status_code == 400 and "pixel" in response.json()["detail"]


def test_an_upload_search_is_a_url_that_pages_shares_and_exports(client):
    """The picture's embedding is kept under a short id and the POST redirects to the grid:
    "Next" keeps the search, the URL can be shared, Back posts nothing, export works."""
    token = BeautifulSoup(client.get("/").text, "html.parser").select_one(
        "form.upload input[name=csrf_token]"
    )["value"]
    response = client.post(
        "/search/image?ds=tiny&lang=en",
        data={"csrf_token": token},
        files={"picture": ("mine.png", png(), "image/png")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    target = response.headers["location"]
    assert target.startswith("/?") and "vec=" in target and "lang=en" in target
    vector_id = parse_qs(urlsplit(target).query)["vec"][0]
    assert len(vector_id) == 16
    page = BeautifulSoup(client.get(target + "&size=10").text, "html.parser")
    assert "picture was not stored" in page.select_one(".like-banner").text
    assert "ranks records" in page.select_one("#meaning-note").text
    first = [c["data-sample-id"] for c in page.select("#grid li.card")]
    assert first and all(b.text == "en" for b in page.select("#grid .badge-lang"))
    # Page 2 is the same search, further down (not the plain grid).
    second_url = page.select_one("a[rel=next]")["href"]
    assert "vec=" + vector_id in second_url
    second = BeautifulSoup(client.get(second_url).text, "html.parser")
    later = [c["data-sample-id"] for c in second.select("#grid li.card")]
    assert later and not set(later) & set(first)
    # Export: the nearest records, nearest first, with their scores.
    exported = client.get("/export", params={"vec": vector_id, "format": "jsonl", "lang": "en"})
    rows = [json.loads(line) for line in exported.text.splitlines()]
    assert [r["sample_id"] for r in rows[: len(first)]] == first
    assert rows[0]["knn_score"] >= rows[-1]["knn_score"]
    # An unknown (or expired) id is a clear 404.
    missing = client.get("/api/records", params={"vec": "0" * 16})
    assert missing.status_code == 404 and "upload the picture again" in missing.json()["detail"]


def test_near_duplicates_partial(client):
    page = BeautifulSoup(client.get("/records/1010/duplicates").text, "html.parser")
    assert page.select_one("section.duplicates h2")


def test_hide_duplicates_never_adds_records(client):
    everything = client.get("/api/records").json()["total"]
    distinct = client.get("/api/records", params={"nodup": "true"}).json()["total"]
    overview = client.get("/api/overview").json()
    hidden = overview["parts"]["vectors"]["image"]["duplicates"]["duplicates_hidden"]
    assert distinct == everything - hidden


def test_meaning_search_on_a_dataset_without_vectors_is_a_clear_409(tmp_path):
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app
    from tests.factories import build_dataset

    data_dir = tmp_path / "indexes"
    data_dir.mkdir()
    build_dataset(data_dir, "plain", n=20, with_images=False)
    settings = Settings(data_dir=data_dir, state_dir=tmp_path / "state")
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/search", params={"q": "cat", "mode": "meaning"})
        assert response.status_code == 409
        assert "loupe embed" in response.json()["detail"]
        # Plain word search still works.
        assert client.get("/api/search", params={"q": "cat"}).status_code == 200


def test_query_by_vector_matches_more_like_this(client):
    dataset = client.app.state.workspace.datasets["tiny"]
    row = client.get("/api/records/1010").json()
    vector = dataset.vectors().vector_of(row["pos"], "image")
    body = client.post(
        "/api/search/vector?ds=tiny", json={"vector": vector.tolist(), "kind": "image", "k": 5}
    ).json()
    # The stored vector is already centred; the API takes a model's raw output and centres it
    # again, so the score is below 1, but the record itself still ranks first.
    assert body["records"][0]["sample_id"] == "1010"
    filtered = client.post(
        "/api/search/vector?ds=tiny&lang=de",
        json={"vector": vector.tolist(), "kind": "image", "k": 5},
    ).json()
    assert all(r["language"] == "de" for r in filtered["records"])


def test_query_by_vector_returns_only_the_fields_asked_and_always_punsafe(client):
    dataset = client.app.state.workspace.datasets["tiny"]
    vector = dataset.vectors().vector_of(client.get("/api/records/1010").json()["pos"], "image")
    payload = {"vector": vector.tolist(), "k": 3, "fields": ["url", "caption"]}
    records = client.post("/api/search/vector?ds=tiny", json=payload).json()["records"]
    assert records and all(
        set(r) == {"pos", "sample_id", "knn_score", "punsafe", "url", "caption"} for r in records
    )
    refused = client.post(
        "/api/search/vector?ds=tiny", json={**payload, "fields": ["url", "password"]}
    )
    assert refused.status_code == 422 and "password" in refused.text


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"vector": [0.1] * 7, "kind": "image"}, 400),  # wrong dimension
        ({"vector": [0.0] * 256}, 400),
        ({"vector": [1.0]}, 422),
        ({"vector": [0.1] * 256, "k": 0}, 422),
        ({"vector": [0.1] * 256, "kind": "audio"}, 422),
    ],
)
def test_bad_query_vectors(client, payload, status):
    assert client.post("/api/search/vector?ds=tiny", json=payload).status_code == status
