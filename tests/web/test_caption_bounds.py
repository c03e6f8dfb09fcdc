"""A 100 KB caption is cut in every list (grid, /api/records, /api/search, kNN rows) and says
so; the record page and /api/records/{id} keep it whole."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.explore.service import LIST_CAPTION_CHARS
from app.main import create_app
from tests.factories import laion_table

LONG = "zebra " * 16_665 + "tailmarker"  # 100,000 characters
EXACT = "y" * LIST_CAPTION_CHARS  # at the bound: not cut


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> FastAPI:
    from app.build import build_dataset

    root = tmp_path_factory.mktemp("long")
    table = laion_table(24)
    captions = table.column("TEXT").to_pylist()
    captions[3], captions[4] = LONG, EXACT
    table = table.set_column(table.schema.get_field_index("TEXT"), "TEXT", pa.array(captions))
    source = root / "source" / "part-0.parquet"
    source.parent.mkdir()
    pq.write_table(table, source)
    data_dir = root / "indexes"
    data_dir.mkdir()
    build_dataset(data_dir, "long", [source], progress=False)
    return create_app(Settings(data_dir=data_dir, state_dir=root / "state"))


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def by_id(records: list[dict], sample_id: str) -> dict:
    return next(r for r in records if r["sample_id"] == sample_id)


def assert_cut(row: dict) -> None:
    assert row["caption_truncated"] is True
    assert row["caption_length"] == 100_000
    assert row["caption"] == LONG[:LIST_CAPTION_CHARS]


def test_api_lists_cut_the_caption_and_say_so(client):
    records = client.get("/api/records", params={"size": 50}).json()["records"]
    assert_cut(by_id(records, "1003"))
    exact = by_id(records, "1004")
    assert exact["caption_truncated"] is False and exact["caption"] == EXACT
    assert exact["caption_length"] == LIST_CAPTION_CHARS
    short = by_id(records, "1000")
    assert short["caption_truncated"] is False and short["caption_length"] == len(short["caption"])
    searched = client.get("/api/search", params={"q": "zebra"}).json()["records"]
    assert [r["sample_id"] for r in searched] == ["1003"]
    assert_cut(searched[0])
    # The text engine and DuckDB (a substring filter) both give cut rows.
    both = client.get("/api/records", params={"q": "zebra", "contains": "zebra"}).json()
    assert_cut(both["records"][0])


def test_the_grid_carries_no_caption_whole(client):
    page = client.get("/", params={"size": 50})
    assert page.status_code == 200
    assert "tailmarker" not in page.text
    assert len(page.content) < 100_000  # three copies of the caption made it > 300 KB
    card = BeautifulSoup(page.text, "html.parser").find("p", class_="caption", string=LONG[:1000])
    assert card is not None


def test_the_record_keeps_the_full_caption(client):
    record = client.get("/api/records/1003").json()
    assert record["caption"] == LONG and "caption_truncated" not in record
    page = client.get("/records/1003")
    assert "tailmarker" in page.text


def test_rows_found_elsewhere_are_cut_too(app, client):
    """kNN answers, near-duplicate strips and the lab read rows through Explorer.rows_at."""
    workspace = app.state.workspace
    handle = workspace.datasets["long"]
    record = workspace.explorer.record(handle, "1003")
    (row,) = workspace.explorer.rows_at(handle, [record["pos"]])
    assert_cut(row)
