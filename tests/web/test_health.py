"""`/healthz` answers the container's health check and monitors, cheaply; HEAD too."""

from __future__ import annotations


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "datasets": 1}
    assert client.head("/healthz").status_code == 200


def test_healthz_is_public_when_sign_in_is_required(settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    locked = settings.model_copy(update={"require_login": True})
    with TestClient(create_app(locked)) as client:
        assert client.get("/api/datasets").status_code == 401
        assert client.get("/healthz").json()["status"] == "ok"
