"""The caption index answers filtered searches exactly as the SQL filters would."""

from __future__ import annotations

import duckdb
import pytest

from app.catalog.filters import Condition, RecordFilter, build_where
from app.textsearch.index import build_text_index
from app.textsearch.search import TextIndex, supports


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    con = duckdb.connect()
    con.execute(
        """
        CREATE TABLE records AS SELECT i AS pos,
          CASE WHEN i % 3 = 0 THEN 'red cat on a sofa ' ELSE 'blue dog in a park ' END
            || i::VARCHAR AS caption,
          (i % 100) / 200.0 AS similarity, (i % 10) / 10.0 AS punsafe,
          (i % 7) / 7.0 AS pwatermark, (i % 11)::DOUBLE AS aesthetic,
          CASE WHEN i % 13 = 0 THEN NULL ELSE 100 + i % 900 END AS width,
          CASE WHEN i % 17 = 0 THEN NULL ELSE 50 + i % 700 END AS height,
          ['en', 'de', 'fr', NULL][1 + i % 4] AS language,
          'd' || (i % 5)::VARCHAR || '.example' AS domain,
          CASE WHEN i % 2 = 0 THEN '?' END AS license
        FROM range(3000) t(i)
        """
    )
    folder = tmp_path_factory.mktemp("text")
    build_text_index(con, folder, progress=False)
    return con, TextIndex(folder)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"lang": ["de", "fr"]},
        {"similarity_min": 0.2, "punsafe_max": 0.5},
        {"min_width": 500},
        {"min_height": 300, "domain": "d3.example"},
        {"license": "?", "aesthetic_min": 5, "aesthetic_max": 8},
    ],
)
def test_counts_match_sql(indexed, query):
    con, index = indexed
    record_filter = RecordFilter(**query)
    conditions = record_filter.conditions()
    where, params = build_where(conditions)
    extra = ("AND" if where else "WHERE") + " caption LIKE '%cat%'"
    sql = f"SELECT count(*) FROM records {where} {extra}"  # noqa: S608 - built by build_where
    expected = con.execute(sql, params).fetchall()
    hits = index.search("cat", conditions, limit=5)
    assert hits.count == expected[0][0]


def test_sort_by_a_score_and_hidden_positions(indexed):
    _, index = indexed
    hits = index.search("cat", [], sort="similarity", limit=10, hidden=[99])
    assert 99 not in hits.positions
    sims = [(p % 100) / 200.0 for p in hits.positions]
    assert sims == sorted(sims, reverse=True)


def test_classroom_words_are_excluded(indexed):
    _, index = indexed
    hits = index.search("cat OR dog", [Condition("caption", "not_matches_words", ["Sofa"])])
    assert hits.count == 2000  # only the dogs


def test_facets_and_histograms(indexed):
    _, index = indexed
    facets = dict(index.facet("cat", "language", []))
    assert sum(facets.values()) == 750  # 1000 cats, a quarter without language
    histograms = index.histograms("cat", [])
    assert sum(histograms["punsafe"]) == 1000 and set(histograms) >= {"similarity", "aesthetic"}


def test_what_the_text_index_cannot_do():
    assert not supports(RecordFilter(contains="x").conditions())
    assert not supports([], sort="random")
    assert supports(RecordFilter(lang=["en"]).conditions(), sort="aesthetic")
