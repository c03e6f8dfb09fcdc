"""`/export`: a filtered browse selection as CSV, parquet and JSONL, read back and counted."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from app.config import Settings
from app.review.flags import RecordRef
from app.web import export
from tests.web.review_support import review_client

HIDDEN_BY_FLAG = "1020"  # "A photo of a cat ..." (SUBJECTS cycle of 7: 1020 -> i=20 -> "dog")
HIDDEN_BY_LIST = "1021"


def read_back(response, file_format: str) -> pa.Table:
    assert response.status_code == 200, response.text
    data = io.BytesIO(response.content)
    if file_format == "csv":
        return pacsv.read_csv(
            data, convert_options=pacsv.ConvertOptions(column_types={"sample_id": pa.string()})
        )
    if file_format == "parquet":
        return pq.read_table(data)
    rows = [json.loads(line) for line in response.text.splitlines()]
    return pa.Table.from_pylist(rows) if rows else pa.table({})


@pytest.fixture(scope="module")
def app_with_hidden(tiny_data_dir, tmp_path_factory):
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path_factory.mktemp("export"))
    with review_client(settings) as (client, app):
        store = app.state.workspace.review
        store.flags.flag(
            store.users.get("fiona"), "tiny", RecordRef(HIDDEN_BY_FLAG), "suspected_csam"
        )
        digest = app.state.workspace.catalog.record("tiny", HIDDEN_BY_LIST)["url_sha256"]
        store.blocklists.import_values([digest], "url_sha256", actor="test", source="test")
        yield client, app


SELECTIONS = [
    {},
    {"lang": "de"},
    {"lang": ["en", "fr"], "aesthetic_min": 5},
    {"q": "dog"},  # the text index answers alone
    {"q": "photo", "contains": "picture number 2"},  # text hits filtered by DuckDB
    {"domain": "news.example", "punsafe_max": 0.5},
    {"q": "nothing-matches-this"},
]


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: json.dumps(s, sort_keys=True))
@pytest.mark.parametrize("file_format", ["csv", "parquet", "jsonl"])
def test_export_rows_equal_the_api_total_and_hidden_are_absent(
    app_with_hidden, selection, file_format
):
    client, _ = app_with_hidden
    total = client.get("/api/records", params=selection).json()["total"]
    response = client.get("/export", params={**selection, "format": file_format})
    assert response.headers["content-type"].startswith(export.MEDIA_TYPES[file_format][:12])
    assert f'filename="tiny-selection.{file_format}"' in response.headers["content-disposition"]
    table = read_back(response, file_format)
    assert table.num_rows == total
    if total:
        ids = {str(v) for v in table.column("sample_id").to_pylist()}
        assert HIDDEN_BY_FLAG not in ids and HIDDEN_BY_LIST not in ids
        assert not any(name.endswith("_bin") for name in table.column_names)
        positions = table.column("pos").to_pylist()
        assert positions == sorted(positions)


def test_every_hidden_record_is_absent_even_when_asked_for(app_with_hidden):
    client, _ = app_with_hidden
    table = read_back(client.get("/export", params={"format": "parquet"}), "parquet")
    assert table.num_rows == 118
    caption = client.get("/api/records/1022").json()["caption"]
    assert caption  # a visible neighbour is exported with its caption intact
    assert "1022" in table.column("sample_id").to_pylist()


def test_empty_selection_still_has_its_columns(app_with_hidden):
    client, _ = app_with_hidden
    params = {"q": "nothing-matches-this"}
    csv = client.get("/export", params={**params, "format": "csv"})
    assert csv.text.splitlines()[0].startswith('"pos","sample_id"')
    parquet = read_back(client.get("/export", params={**params, "format": "parquet"}), "parquet")
    assert parquet.num_rows == 0 and "caption" in parquet.column_names


def test_many_batches_stream_as_one_file(app_with_hidden, monkeypatch):
    client, _ = app_with_hidden
    monkeypatch.setattr(export, "BATCH_ROWS", 7)
    for file_format in ("csv", "parquet", "jsonl"):
        response = client.get("/export", params={"format": file_format, "lang": "en"})
        table = read_back(response, file_format)
        assert table.num_rows == client.get("/api/records?lang=en").json()["total"]
    csv = client.get("/export", params={"format": "csv"}).text
    assert csv.count('"pos","sample_id"') == 1  # one header, however many batches
    parquet = pq.ParquetFile(io.BytesIO(client.get("/export?format=parquet").content))
    assert parquet.metadata.num_row_groups == 17  # 118 rows in batches of 7


def test_limit_caps_the_download(app_with_hidden):
    client, _ = app_with_hidden
    table = read_back(client.get("/export", params={"format": "jsonl", "limit": 5}), "jsonl")
    assert table.num_rows == 5


@pytest.mark.parametrize(
    "query", ["format=xlsx", "limit=0", "aesthetic_min=11", "lang=" + "x" * 20, "ds=nope"]
)
def test_bad_export_requests_are_a_clear_4xx(app_with_hidden, query):
    client, _ = app_with_hidden
    response = client.get(f"/export?{query}")
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("text/html")


def test_classroom_mode_exports_what_the_grid_shows(tiny_data_dir, tmp_path):
    settings = Settings(
        data_dir=tiny_data_dir,
        state_dir=tmp_path / "state",
        classroom_mode=True,
        classroom_words=["dog"],
    )
    with review_client(settings) as (client, _):
        for selection in ({}, {"q": "photo"}, {"contains": "picture"}):
            total = client.get("/api/count", params=selection).json()["total"]
            table = read_back(client.get("/export", params=selection), "csv")
            assert table.num_rows == total < 120
            assert not any("dog" in c for c in table.column("caption").to_pylist())
            assert max(table.column("punsafe").to_pylist()) <= settings.punsafe_threshold
