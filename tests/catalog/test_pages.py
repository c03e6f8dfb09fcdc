"""Pages sorted by a score: the narrowing to the top bins gives exactly the full sort's page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from app.catalog import queries
from app.catalog.connection import CatalogConnection
from app.catalog.filters import Condition
from app.catalog.ingest import ingest_dataset
from app.catalog.queries import Catalog

from .conftest import WriteParquet

ROWS = 6000


@pytest.fixture
def catalog(write_parquet: WriteParquet, data_dir: Path) -> Catalog:
    rng = np.random.default_rng(7)
    source = write_parquet(
        "scores.parquet",
        {
            "SAMPLE_ID": [str(i) for i in range(ROWS)],
            "URL": [f"https://s{i % 9}.example/{i}.jpg" for i in range(ROWS)],
            "TEXT": [f"caption {i}" for i in range(ROWS)],
            "LANGUAGE": [["en", "de", "fr"][i % 3] for i in range(ROWS)],
            "similarity": pa.array(rng.uniform(0.2, 0.4, ROWS)),
            "punsafe": pa.array(rng.beta(0.5, 8, ROWS)),
            "aesthetic": pa.array(
                np.where(rng.uniform(size=ROWS) < 0.05, np.nan, rng.normal(5, 1, ROWS))
            ),
        },
    )
    ingest_dataset(data_dir, "scores", [source], progress=False)
    catalog = Catalog(CatalogConnection(timeout_s=10))
    catalog.attach("scores", data_dir / "scores" / "catalog.duckdb")
    catalog.sampled.add("scores")  # answer as a large dataset would, from its 1% sample
    return catalog


def full_sort(catalog: Catalog, *args, **kwargs) -> queries.Page:
    catalog.sampled.discard("scores")
    try:
        return catalog.page(*args, **kwargs)
    finally:
        catalog.sampled.add("scores")


@pytest.mark.parametrize("sort", ["aesthetic", "punsafe", "pwatermark", "similarity"])
@pytest.mark.parametrize(
    ("conditions", "offset"),
    [
        ([], 0),
        ([], 120),
        ([Condition("language", "in", ["de"])], 40),
        ([Condition("punsafe", "lte", 0.05)], 0),
        ([], 5900),  # near the end, past the non-null rows: the full sort answers
    ],
)
def test_top_bins_give_the_full_sorts_page(catalog, monkeypatch, sort, conditions, offset):
    narrowed = []
    original = catalog._page_from_top_bins

    def spy(*args, **kwargs):
        page = original(*args, **kwargs)
        narrowed.append(page is not None)
        return page

    monkeypatch.setattr(catalog, "_page_from_top_bins", spy)
    page = catalog.page("scores", conditions, sort=sort, limit=20, offset=offset)
    expected = full_sort(catalog, "scores", conditions, sort=sort, limit=20, offset=offset)
    assert [r["pos"] for r in page.rows] == [r["pos"] for r in expected.rows]
    assert page.has_more == expected.has_more
    if sort == "aesthetic" and offset == 0 and not conditions:
        assert narrowed[0]  # the shortcut did answer the plain first page


def test_hidden_rows_stay_out_of_narrowed_pages(catalog):
    first = catalog.page("scores", [], sort="aesthetic", limit=5)
    hidden = first.rows[0]["pos"]
    catalog.set_hidden("scores", [hidden])
    again = catalog.page("scores", [], sort="aesthetic", limit=5)
    assert hidden not in [r["pos"] for r in again.rows]
    assert [r["pos"] for r in again.rows][:4] == [r["pos"] for r in first.rows][1:5]
