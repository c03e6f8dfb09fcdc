"""Any query string a client can send the filter builder — nonsense included — gives either a
query that runs on both engines or a 4xx naming the parameter; never a query error or a 500.

The filter is built by ``RecordFilter`` (app.catalog.filters) and translated twice: to SQL for
DuckDB and to a tantivy query for the caption text index. Hypothesis sends the API every
field in any combination, repeated or not, with NaN, infinities, huge numbers, wrong types,
unicode, control characters, very long strings and SQL fragments; then each valid filter is
run through the explorer once with caption words (the text index) and once without (DuckDB).
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterator
from typing import get_args

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.catalog.filters import RecordFilter
from app.catalog.schema import LinkStatus
from app.config import Settings
from app.main import create_app

FIELDS = list(RecordFilter.model_fields)
# What the routes read besides the filter (the page, the search mode), and nonsense names.
OTHER_KEYS = ["size", "page", "after", "seed", "sort", "mode", "like", "space", "ds"]
UNKNOWN_KEYS = ["x", "similarity", "lang[]", "q ", "Q", "__class__", "min_width\x00"]

SQL = [
    "' OR 1=1 --",
    '"; DROP TABLE records; --',
    "1); SELECT * FROM duplicates; --",
    "%",
    "_",
    "\\",
    "caption LIKE '%'",
    "$1",
    "?",
    "/* */",
    "NULL",
    "regexp_matches(caption, '.*')",
]
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-400"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "-0", "0.5", "1", "10", "-1", "0x10", "1_000", " 1 ", "１"]),
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.printable, max_size=20),
    st.sampled_from(SQL),
    st.sampled_from(["\u202eevil", "a\u200bb", "猫", "café", "x-rated", "", " ", "\t"]),
    st.integers(min_value=150, max_value=600).map(lambda n: "w" * n),  # around max_length
)
VALUES = st.one_of(
    NUMBERS,
    TEXT,
    st.sampled_from(["true", "false", "on", "yes", "[]", "{}", "null", "None"]),
    st.sampled_from(list(get_args(LinkStatus))),
    st.sampled_from(["en", "de", "EN", " en ", "zz", "x" * 17]),
    st.sampled_from(["photos.example", "www.photos.example", "?", "similarity_min=0.3"]),
)
KEYS = st.one_of(st.sampled_from(FIELDS), st.sampled_from(OTHER_KEYS + UNKNOWN_KEYS))
PARAMS = st.lists(st.tuples(KEYS, VALUES), max_size=8)


@pytest.fixture(scope="module")
def app(tiny_data_dir, tmp_path_factory):
    return create_app(Settings(data_dir=tiny_data_dir, state_dir=tmp_path_factory.mktemp("s")))


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as client:  # raise_server_exceptions: a 500 fails the test loudly
        yield client


def named(response, params: list[tuple[str, str]]) -> bool:
    """Whether a refusal names one of the parameters that were sent (a 404 — no dataset or
    record by that name — names the value it did not find)."""
    text = response.text
    if response.status_code == 404:
        return any(repr(value.strip()) in response.json()["detail"] for _, value in params)
    return any(key.strip() and key.strip() in text for key, _ in params)


PATHS = ["/api/records", "/api/count", "/api/facets", "/api/histograms"]


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(params=PARAMS, path=st.sampled_from(PATHS))
def test_any_parameters_give_an_answer_or_a_4xx_naming_one(client, params, path):
    response = client.get(path, params=params)
    assert response.status_code in (200, 400, 404, 409, 422), (params, response.text[:300])
    if response.status_code != 200:
        assert named(response, params), (params, response.text[:300])


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(params=st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=6))
def test_every_valid_filter_runs_on_both_engines(app, client, params):
    """A filter the builder accepts runs through DuckDB (no caption words) and through the
    text index (caption words), and the text answer is a subset of the DuckDB one."""
    values: dict[str, object] = {}
    for key, value in params:
        if not value.strip():
            continue  # a blank value is no value (app.web.middleware.DropEmptyQueryParams)
        field = RecordFilter.model_fields[key]
        if "list" in str(field.annotation):
            values.setdefault(key, []).append(value)  # type: ignore[union-attr]
        else:
            values[key] = value
    try:
        record_filter = RecordFilter.model_validate(values)
    except ValidationError as error:
        # Refused by the builder: the API must say so, naming the parameter.
        response = client.get("/api/count", params=params)
        assert response.status_code in (400, 422), (params, response.text[:300])
        assert named(response, params), (params, error)
        return
    for name in ("similarity", "punsafe", "pwatermark", "aesthetic"):
        for end in ("min", "max"):
            bound = getattr(record_filter, f"{name}_{end}")
            assert bound is None or math.isfinite(bound)  # NaN and inf never reach SQL
    workspace = app.state.workspace
    dataset = workspace.datasets["tiny"]
    explorer = workspace.explorer
    duckdb = record_filter.model_copy(update={"q": None})
    text = record_filter.model_copy(update={"q": "photo"})
    in_duckdb = explorer.count(dataset, duckdb)
    in_text = explorer.count(dataset, text)
    assert 0 <= in_text <= in_duckdb <= 120
    page = explorer.browse(dataset, text, sort="relevance", limit=10)
    assert len(page.rows) <= 10
    explorer.facets(dataset, text)
    explorer.histograms(dataset, text)
