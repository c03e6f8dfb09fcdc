"""The caption index answers filtered searches exactly as the SQL filters would."""

from __future__ import annotations

import duckdb
import pytest

from app.catalog.filters import Condition, RecordFilter, build_where
from app.textsearch import search as search_module
from app.textsearch.index import build_text_index
from app.textsearch.search import TextIndex, supports

ROWS = 3000


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    con = duckdb.connect()
    con.execute(
        """
        CREATE TABLE records AS SELECT i AS pos,
          CASE WHEN i % 3 = 0 THEN 'red cat on a sofa ' ELSE 'blue dog in a park ' END
            || i::VARCHAR AS caption,
          (3000 - i) / 6000.0 AS similarity, (i % 10) / 10.0 AS punsafe,
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
    # 64 rows per block (a real index has 65,536), so that searches in catalog order
    # exercise every window.
    build_text_index(con, folder, progress=False, block_bits=6)
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
    if hits.count_exact:
        assert hits.count == expected[0][0]
    else:  # the best matches answered the page: a lower bound, /count gives the rest
        assert 5 <= hits.count <= expected[0][0]
    assert index.count("cat", conditions) == expected[0][0]


def test_sort_by_a_score_and_hidden_positions(indexed):
    _, index = indexed
    hits = index.search("cat", [], sort="similarity", limit=10, hidden=[99])
    assert 99 not in hits.positions
    sims = [(ROWS - p) / 6000.0 for p in hits.positions]
    assert sims == sorted(sims, reverse=True)
    hits = index.search("cat", [], sort="aesthetic", limit=10)
    aesthetic = [p % 11 for p in hits.positions]
    assert aesthetic == sorted(aesthetic, reverse=True)


def test_classroom_words_are_excluded(indexed):
    _, index = indexed
    hits = index.search("cat OR dog", [Condition("caption", "without_words", (("sofa",),))])
    assert hits.count == 2000  # only the dogs


def test_facets_and_histograms(indexed):
    _, index = indexed
    pairs, approximate = index.facet("cat", "language", [])
    assert sum(dict(pairs).values()) == 750 and not approximate  # a quarter has no language
    histograms, approximate = index.histograms("cat", [])
    assert sum(histograms["punsafe"]) == 1000 and set(histograms) >= {"similarity", "aesthetic"}
    assert not approximate


def sql_positions(con, where: str, params: list, extra: str = "") -> list[int]:
    clause = ("AND" if where else "WHERE") + " caption LIKE '%cat%' " + extra
    sql = f"SELECT pos FROM records {where} {clause} ORDER BY pos"  # noqa: S608
    return [row[0] for row in con.execute(sql, params).fetchall()]


@pytest.mark.parametrize(
    ("query", "limit", "offset"),
    [
        ({}, 10, 0),  # the first block is enough
        ({"lang": ["de"]}, 20, 0),  # a quarter of the cats: the first 8 blocks
        ({"lang": ["de"], "punsafe_max": 0.0}, 30, 0),  # sparse: the first 64 blocks
        ({"domain": "d3.example", "lang": ["en"]}, 50, 0),  # none: the full search
        ({"lang": ["fr"]}, 10, 40),
    ],
)
def test_similarity_order_from_the_first_blocks_equals_sql(indexed, query, limit, offset):
    """Whatever window answers, the page is the SQL page in catalog order, and the count is
    exact or an honest lower bound."""
    con, index = indexed
    conditions = RecordFilter(**query).conditions()
    where, params = build_where(conditions)
    expected = sql_positions(con, where, params)
    hits = index.search("cat", conditions, sort="similarity", limit=limit, offset=offset)
    assert hits.positions == expected[offset : offset + limit]
    if hits.count_exact:
        assert hits.count == len(expected)
    else:
        assert offset + limit <= hits.count <= len(expected)


def test_large_result_sets_are_counted_on_the_sample(indexed, monkeypatch):
    con, index = indexed
    monkeypatch.setattr(search_module, "SAMPLED_ENOUGH", 3)
    sampled = sql_positions(con, "", [], "AND hash(pos) % 100 = 0")
    assert len(sampled) >= 3
    pairs, approximate = index.facet("cat", "domain", [])
    assert approximate and sum(dict(pairs).values()) == 100 * len(sampled)
    histograms, approximate = index.histograms("cat", [])
    assert approximate and sum(histograms["punsafe"]) == 100 * len(sampled)
    monkeypatch.setattr(search_module, "SAMPLED_ENOUGH", len(sampled) + 1)
    pairs, approximate = index.facet("cat", "domain", [])
    assert not approximate and sum(dict(pairs).values()) == 1000


def test_what_the_text_index_cannot_do():
    assert not supports(RecordFilter(contains="x").conditions())
    assert not supports([], sort="random")
    assert supports(RecordFilter(lang=["en"]).conditions(), sort="aesthetic")


@pytest.mark.parametrize(
    ("query", "limit", "offset"),
    [
        ({"lang": ["de", "fr"]}, 10, 0),
        ({"punsafe_max": 0.2}, 30, 10),
        ({"domain": "d3.example", "lang": ["en"]}, 20, 0),  # too few pass: the full search
    ],
)
def test_relevance_from_the_best_matches_equals_the_full_search(
    indexed, monkeypatch, query, limit, offset
):
    _, index = indexed
    conditions = RecordFilter(**query).conditions()
    words = "cat OR sofa 7"  # captions of different lengths and term counts: distinct scores
    quick = index.search(words, conditions, limit=limit, offset=offset)
    monkeypatch.setattr(search_module, "RELEVANCE_PROBE_MAX", 0)  # always the full search
    full = index.search(words, conditions, limit=limit, offset=offset)
    assert full.count_exact
    assert quick.positions == full.positions
