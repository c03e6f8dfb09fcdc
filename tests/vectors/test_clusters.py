"""Clusters of the map and their labels: k-means in the plane, c-TF-IDF caption words."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.vectors import clusters as vclusters
from app.vectors.clusters import Cluster, choose_k, ctfidf, kmeans_2d, label_clusters, tokenize


@pytest.mark.parametrize(
    ("n", "k"),
    [
        (0, 0),
        (5, 5),  # never more clusters than points
        (100, 8),  # sqrt(100)/4 = 2.5: the floor of 8
        (10_000, 25),
        (40_000, 50),
        (1_000_000, 64),  # 250: the ceiling
        (10_000_000, 64),
    ],
)
def test_choose_k(n, k):
    assert choose_k(n) == k


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("A Cat on the Sofa", ["cat", "sofa"]),
        ("cat's photo, 2019 - 4K", ["cat", "photo", "4k"]),  # 's' and '2019' dropped
        ("Die Katze und der Hund", ["katze", "hund"]),
        ("Le chat et la souris", ["chat", "souris"]),
        ("Кошка на диване", ["кошка", "диване"]),
        ("image.jpg at https://www.example.com", ["image", "example"]),
        ("", []),
        ("___ _a_", ["_a_"]),
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_ctfidf_ranks_distinctive_words_above_common_ones():
    counts = [
        Counter({"photo": 50, "cat": 40, "kitten": 5}),
        Counter({"photo": 50, "boat": 40, "sail": 5}),
        Counter({"photo": 50, "mountain": 40}),
        Counter({"photo": 50, "mountain": 5, "snow": 40}),
    ]
    top = [dict(words) for words in ctfidf(counts, top=3)]
    assert [next(iter(t)) for t in top] == ["cat", "boat", "mountain", "snow"]
    # "photo" is in every class: despite more occurrences it scores below each topic word.
    assert all(t["photo"] < max(t.values()) for t in top)
    # tf * log(1 + A / f): A = (95 + 95 + 90 + 95) / 4 words per class, f(cat) = 40, tf = 40/95
    assert top[0]["cat"] == pytest.approx(40 / 95 * np.log(1 + (375 / 4) / 40))
    # A word shared by two classes ranks lower than one of the same count in one class only.
    assert top[2]["mountain"] < top[0]["cat"]


def test_ctfidf_of_empty_classes():
    assert ctfidf([Counter(), Counter()]) == [[], []]
    top = ctfidf([Counter(), Counter({"boat": 2})])
    assert top[0] == [] and top[1][0][0] == "boat"


def test_kmeans_2d_finds_separated_groups():
    rng = np.random.default_rng(0)
    middles = np.array([[0, 0], [20, 0], [0, 20]], np.float32)
    group = rng.integers(0, 3, 3_000)
    xy = middles[group] + rng.standard_normal((3_000, 2)).astype(np.float32)
    ids, centroids = kmeans_2d(xy, 3, seed=0)
    assert ids.dtype == np.uint16 and ids.shape == (3_000,)
    # Each generating group is exactly one cluster, and each centroid is its group's mean.
    for g in range(3):
        assert len(set(ids[group == g].tolist())) == 1
        c = int(ids[group == g][0])
        np.testing.assert_allclose(centroids[c], xy[group == g].mean(axis=0), atol=1e-3)


def test_caption_sample_is_bounded_and_seeded():
    ids = np.repeat(np.arange(3, dtype=np.uint16), [10, 5_000, 0])
    a = vclusters.caption_sample(ids, 3, per_cluster=100, seed=1)
    b = vclusters.caption_sample(ids, 3, per_cluster=100, seed=1)
    assert [s.size for s in a] == [10, 100, 0]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.all(ids[a[1]] == 1) and np.all(np.diff(a[1]) > 0)


def test_label_clusters_reads_captions_by_catalog_position():
    ids = np.array([0, 0, 1, 1, 1], np.uint16)
    positions = np.array([40, 10, 30, 20, 0], np.int64)
    captions = {40: "red cat", 10: "cat sleeping", 30: "blue boat", 20: "boat at sea", 0: None}
    asked = []

    def read(wanted):
        asked.append(sorted(wanted.tolist()))
        return [captions[int(p)] for p in wanted]

    found = label_clusters(ids, np.array([[0, 0], [5, 5]], np.float32), positions, read)
    assert asked == [[0, 10, 20, 30, 40]]
    assert [c.size for c in found] == [2, 3] and [c.captions for c in found] == [2, 2]
    assert found[0].label.startswith("cat") and found[1].label.startswith("boat")
    assert found[1].centroid == (5.0, 5.0)
    assert Cluster.from_json(found[0].to_json()) == found[0]


def test_hidden_records_do_not_name_a_cluster():
    """Captions come through the visible-rows reader: a hidden record's words are never read."""
    rows_by_pos = {
        0: {"pos": 0, "caption": "harbour boat"},
        1: {"pos": 1, "caption": "harbour boat"},
        2: {"pos": 2, "caption": "secretword secretword secretword"},
    }
    hidden = {2}

    def visible_rows(positions, columns):
        assert list(columns) == ["pos", "caption"]
        return [rows_by_pos[p] for p in positions if p not in hidden]

    read = vclusters.captions_from_rows(visible_rows)
    assert read(np.array([2, 0])) == [None, "harbour boat"]
    ids = np.zeros(3, np.uint16)
    (found,) = label_clusters(ids, np.zeros((1, 2), np.float32), np.arange(3), read)
    assert "secretword" not in dict(found.words) and found.captions == 2


def test_without_captions_labels_are_empty():
    ids = np.array([0, 1], np.uint16)
    found = label_clusters(ids, np.zeros((2, 2), np.float32), np.array([0, 1]), None)
    assert [c.label for c in found] == ["", ""] and [c.size for c in found] == [1, 1]


TOPICS = {
    "cat": ["a cat asleep on a sofa", "grey cat with a kitten", "the cat looks out", "cat toys"],
    "boat": ["a boat on the lake", "sailing boat at sunset", "fishing boat in harbour"],
    "mountain": ["snowy mountain peak", "mountain trail in the alps", "hiking a mountain ridge"],
}


def test_layout_clusters_are_named_after_their_captions(tmp_path):
    """A real dataset whose captions are about cats, boats or mountains, with vectors
    around one centre per topic: each map cluster is named after its topic."""
    from app.build import build_dataset
    from app.catalog.layout import DatasetPaths
    from app.catalog.rowstore import RowStore
    from app.vectors.layout import build_layout, load_layout
    from tests.factories import laion_table
    from tests.vectors.conftest import write_vectors

    n = 900
    topics = list(TOPICS)
    captions = [
        f"{TOPICS[topics[i % 3]][(i // 3) % len(TOPICS[topics[i % 3]])]} photo number {i}"
        for i in range(n)
    ]
    table = laion_table(n)
    table = table.set_column(table.schema.get_field_index("TEXT"), "TEXT", pa.array(captions))
    source = tmp_path / "source" / "part-0.parquet"
    source.parent.mkdir()
    pq.write_table(table, source)
    data_dir = tmp_path / "data"
    build_dataset(data_dir, "topics", [source], progress=False, text_index=False)
    paths = DatasetPaths(data_dir / "topics")

    # Ingest reorders the records: read each pos's caption to know its topic.
    rows = RowStore(paths.rows).rows(range(n), ["caption"])
    topic_of = np.array([next(t for t in topics if t in rows[p]["caption"]) for p in range(n)])
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 48)).astype(np.float32)
    which = np.array([topics.index(t) for t in topic_of])
    vectors = centres[which] + 0.3 * rng.standard_normal((n, 48)).astype(np.float32)
    write_vectors(paths, "caption", vectors, np.arange(n))

    store = RowStore(paths.rows)

    def visible_rows(positions, columns):
        return list(store.rows(positions, columns).values())

    result = build_layout(
        paths,
        "caption",
        rows=visible_rows,
        sample_size=400,
        seed=0,
        progress=False,
        chunk_rows=500,
        clusters=3,
    )
    assert result.complete and result.clusters == 3
    layout = load_layout(paths, "caption")
    labels = [c.label for c in layout.clusters]
    for topic in topics:
        assert sum(label.split(", ")[0] == topic for label in labels) == 1, labels
    for c in layout.clusters:
        members = topic_of[layout.positions[layout.cluster_of == c.id]]
        assert set(members.tolist()) == {c.label.split(", ")[0]}
        assert c.size == members.size and c.captions == c.size
        words = dict(c.words)  # "photo" is in every caption: below the topic's own word
        assert words.get("photo", 0) < words[c.label.split(", ")[0]]
        assert 0 < len(c.words) <= vclusters.TOP_WORDS
