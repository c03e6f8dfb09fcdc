"""The JSON twins share the page's query code."""

from __future__ import annotations

import pytest


def test_datasets(client):
    assert [d["name"] for d in client.get("/api/datasets").json()] == ["tiny"]


def test_records_with_filters_match_the_page(client):
    params = {"lang": ["de", "fr"], "aesthetic_min": 4, "q": "photo"}
    api = client.get("/api/records", params=params).json()
    assert api["total"] > 0
    assert all(r["language"] in ("de", "fr") and r["aesthetic"] >= 4 for r in api["records"])
    assert api["sort"] == "relevance"


def test_substring_with_text_search_falls_back_to_duckdb(client):
    api = client.get("/api/records", params={"q": "cat", "contains": "number 1"}).json()
    assert api["records"]
    assert all("number 1" in r["caption"] for r in api["records"])


def test_record_and_unknown_record(client):
    record = client.get("/api/records/1003").json()
    assert record["sample_id"] == "1003" and "url_sha256" in record
    missing = client.get("/api/records/nope")
    assert missing.status_code == 404 and missing.json()["detail"].startswith("no record")


def test_facets_and_histograms(client):
    facets = client.get("/api/facets").json()
    assert sum(v["count"] for v in facets["language"]) == 120
    assert facets["domain"][0]["value"].endswith(".example")
    histograms = client.get("/api/histograms").json()
    assert sum(histograms["similarity"]["counts"]) == 120
    assert len(histograms["aesthetic"]["edges"]) == 21
    searched = client.get("/api/histograms", params={"q": "astronaut"}).json()
    assert 0 < sum(searched["similarity"]["counts"]) < 120


@pytest.mark.parametrize(
    "params",
    [{"similarity_min": "abc"}, {"lang": "x" * 40}, {"min_width": -1}, {"seed": -3}, {"after": -1}],
)
def test_bad_parameters_are_422_json(client, params):
    response = client.get("/api/records", params=params)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Invalid request")


def test_sql_looking_input_is_only_data(client):
    response = client.get(
        "/api/records", params={"domain": "x' OR 1=1 --", "contains": "'; DROP TABLE records; --"}
    )
    assert response.status_code == 200
    assert response.json()["total"] == 0
    assert client.get("/api/records").json()["total"] == 120


def test_openapi_lists_the_twins(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/records", "/api/records/{sample_id}", "/api/facets", "/api/datasets"} <= set(
        paths
    )


def test_a_page_counts_only_so_far_and_the_exact_count_comes_apart(client, monkeypatch):
    from bs4 import BeautifulSoup

    from app.explore import service

    monkeypatch.setattr(service, "COUNT_CAP", 50)
    body = client.get("/api/records").json()
    assert body["total"] is None and body["total_at_least"] == 51
    assert client.get("/api/count").json()["total"] == 120
    assert (
        client.get("/api/count", params={"q": "cat", "lang": "en"}).json()["total"]
        == (client.get("/api/records", params={"q": "cat", "lang": "en"}).json()["total"])
    )
    page = BeautifulSoup(client.get("/").text, "html.parser")
    total = page.select_one("#total-count")
    # "counting…" is said on the page, not in a tooltip, until the exact count arrives.
    assert total.text == "50+ (counting…)" and total["hx-get"].startswith("/count")
    exact = BeautifulSoup(client.get(total["hx-get"]).text, "html.parser")
    assert exact.select_one("#total-count").text == "120"


def test_a_caption_search_that_stops_early_gives_a_lower_bound(client):
    """In similarity order a search may stop at the first block that fills the page: the
    total is then a lower bound, on the page ("N+", exact count loaded apart) and in the API,
    and the export link does not claim a number."""
    from bs4 import BeautifulSoup

    params = {"q": "cat", "sort": "similarity", "size": 2}
    exact = client.get("/api/count", params={"q": "cat"}).json()["total"]
    body = client.get("/api/records", params=params).json()
    assert exact > 3 and body["total"] is None
    assert 3 <= body["total_at_least"] <= exact and len(body["records"]) == 2
    page = BeautifulSoup(client.get("/", params=params).text, "html.parser")
    total = page.select_one("#total-count")
    assert total.text.endswith("+ (counting…)") and total["hx-get"].startswith("/count")
    assert "Export every match" in page.select_one(".export-selection").text


def test_large_datasets_estimate_facets_and_histograms_from_the_sample(settings, monkeypatch):
    from fastapi.testclient import TestClient

    from app.catalog import queries
    from app.main import create_app

    monkeypatch.setattr(queries, "SAMPLE_FROM_ROWS", 100)  # tiny (120 rows) counts as large
    with TestClient(create_app(settings)) as client:
        facets = client.get("/api/facets").json()
        assert all(v["approximate"] and v["count"] % 100 == 0 for v in facets["language"])
        histograms = client.get("/api/histograms").json()
        assert histograms["aesthetic"]["approximate"]
        # Caption search and link restrictions count exactly.
        searched = client.get("/api/facets", params={"q": "cat"}).json()
        assert not any(v["approximate"] for v in searched["language"])


def test_small_datasets_count_facets_exactly(client):
    facets = client.get("/api/facets").json()
    assert not any(v["approximate"] for v in facets["language"])
