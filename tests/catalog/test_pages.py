"""Pages sorted by a score: the top table and the narrowing to the top bins give exactly the
full sort's page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from app.build import build_dataset
from app.catalog import build, queries
from app.catalog.connection import CatalogConnection
from app.catalog.filters import Condition
from app.catalog.queries import Catalog

from .conftest import WriteParquet

ROWS = 6000


@pytest.fixture
def catalog(write_parquet: WriteParquet, data_dir: Path, monkeypatch) -> Catalog:
    # Top tables of 300 rows: pages inside them and pages past them (answered otherwise).
    monkeypatch.setattr(build, "TOP_MIN_ROWS", 300)
    monkeypatch.setattr(build, "TOP_FRACTION", 10**9)
    rng = np.random.default_rng(7)
    source = write_parquet(
        "scores.parquet",
        {
            "SAMPLE_ID": [str(i) for i in range(ROWS)],
            "URL": [f"https://s{i % 9}.example/{i}.jpg" for i in range(ROWS)],
            "TEXT": [f"caption {i}" for i in range(ROWS)],
            "LANGUAGE": [["en", "de", "fr"][i % 3] for i in range(ROWS)],
            "similarity": pa.array(rng.uniform(0.2, 0.4, ROWS)),
            # Rounded: many ties, which the top table must order by position as ORDER BY does.
            "punsafe": pa.array(np.round(rng.beta(0.5, 8, ROWS), 2)),
            "aesthetic": pa.array(
                np.where(rng.uniform(size=ROWS) < 0.05, np.nan, rng.normal(5, 1, ROWS))
            ),
        },
    )
    build_dataset(data_dir, "scores", [source], progress=False)
    catalog = Catalog(CatalogConnection(timeout_s=10))
    catalog.attach("scores", data_dir / "scores" / "catalog.duckdb")
    catalog.hidden.replace("scores", [])  # a catalog-layer test: nothing hidden
    catalog.sampled.add("scores")  # answer as a large dataset would, from its 1% sample
    return catalog


def full_sort(catalog: Catalog, *args, **kwargs) -> queries.Page:
    catalog.sampled.discard("scores")
    top_sorted = catalog.top_sorted.pop("scores")
    try:
        return catalog.page(*args, **kwargs)
    finally:
        catalog.sampled.add("scores")
        catalog.top_sorted["scores"] = top_sorted


def page_equals_full_sort(
    catalog: Catalog, monkeypatch, shortcut: str, sort: str, conditions: list, offset: int
) -> list[bool]:
    """Ask for a page, check it against the full sort's, and say whether ``shortcut``
    answered it (one entry per call of the shortcut)."""
    answered: list[bool] = []
    original = getattr(catalog, shortcut)

    def spy(*args, **kwargs):
        page = original(*args, **kwargs)
        answered.append(page is not None)
        return page

    monkeypatch.setattr(catalog, shortcut, spy)
    page = catalog.page("scores", conditions, sort=sort, limit=20, offset=offset)
    expected = full_sort(catalog, "scores", conditions, sort=sort, limit=20, offset=offset)
    assert [r["pos"] for r in page.rows] == [r["pos"] for r in expected.rows]
    assert page.has_more == expected.has_more
    return answered


@pytest.mark.parametrize("sort", ["aesthetic", "punsafe", "pwatermark"])
@pytest.mark.parametrize(
    ("conditions", "offset", "from_top_table"),
    [
        ([], 0, True),
        ([], 200, True),
        ([], 280, False),  # the page runs past the 300 rows of the copy
        ([Condition("language", "in", ["de"])], 30, True),
        ([Condition("language", "in", ["de"])], 95, False),
        ([Condition("punsafe", "lte", 0.01)], 0, None),  # depends on the score
    ],
)
def test_top_table_gives_the_full_sorts_page(
    catalog, monkeypatch, sort, conditions, offset, from_top_table
):
    answered = page_equals_full_sort(
        catalog, monkeypatch, "_page_from_top_table", sort, conditions, offset
    )
    if sort == "pwatermark":  # no row has one: the copy is empty and never answers
        assert answered == [False]
    elif from_top_table is not None:
        assert answered == [from_top_table]


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
    catalog.top_sorted["scores"] = set()  # the top tables would answer first
    narrowed = page_equals_full_sort(
        catalog, monkeypatch, "_page_from_top_bins", sort, conditions, offset
    )
    if sort == "aesthetic" and offset == 0 and not conditions:
        assert narrowed[0]  # the shortcut did answer the plain first page


@pytest.mark.parametrize("top_tables", [True, False])
def test_hidden_rows_stay_out_of_narrowed_pages(catalog, top_tables):
    if not top_tables:  # then the top bins answer
        catalog.top_sorted["scores"] = set()
    first = catalog.page("scores", [], sort="aesthetic", limit=5)
    hidden = first.rows[0]["pos"]
    catalog.hidden.replace("scores", [hidden])
    again = catalog.page("scores", [], sort="aesthetic", limit=5)
    assert hidden not in [r["pos"] for r in again.rows]
    assert [r["pos"] for r in again.rows][:4] == [r["pos"] for r in first.rows][1:5]
