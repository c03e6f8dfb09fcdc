"""`/images/{id}/thumb|display` through the real app on a real ingested dataset."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app


def test_thumb_and_display(client):
    thumb = client.get("/images/1003/thumb", params={"ds": "tiny"})
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff"
    assert thumb.headers["cache-control"].startswith("private")
    assert Image.open(io.BytesIO(thumb.content)).size == (48, 48)
    display = client.get("/images/1003/display")
    assert display.status_code == 200 and display.headers["etag"] != thumb.headers["etag"]


def test_etag_revalidation(client):
    first = client.get("/images/1004/thumb")
    again = client.get("/images/1004/thumb", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_placeholder_for_a_record_without_pixels(client):
    response = client.get("/images/1119/thumb")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["x-loupe-image"] == "no_image"
    assert b"No local image" in response.content


@pytest.mark.parametrize(
    ("path", "status"),
    [("/images/nope/thumb", 404), ("/images/1003/huge", 422), ("/images/1003/thumb?ds=zzz", 404)],
)
def test_bad_requests(client, path, status):
    assert client.get(path).status_code == status


def test_hidden_records_are_404(settings):
    # Classroom mode hides records above the punsafe threshold (every tenth in the tiny set).
    classroom = settings.model_copy(update={"classroom_mode": True})
    with TestClient(create_app(classroom)) as client:
        assert client.get("/api/records/1000").status_code == 404
        assert client.get("/images/1000/thumb").status_code == 404
        assert client.get("/images/1001/thumb").status_code == 200
