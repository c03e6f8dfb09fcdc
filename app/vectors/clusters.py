"""Regions of the embedding map and their labels: k-means on the 2-D layout, c-TF-IDF words.

Clusters are found on the layout's 2-D coordinates, not on the 512-d vectors: the labels are
drawn on the map at each cluster's centre, and k-means in the plane gives contiguous regions
whose centre lies among their own points. k-means on the vectors finds groups that the layout
may draw as several islands, or overlapping other groups, and their mean position can fall on
empty space or on a neighbour. It is also cheap: 2-D k-means with FAISS trains on at most 256
points per centroid and assigns 1M points in well under a second on two cores.

Each cluster is named by its most distinctive caption words, by class-based TF-IDF (the
c-TF-IDF of BERTopic): all captions of a cluster are one document, and a word scores

    tf(word, cluster) * log(1 + A / f(word))

with tf the word's share of the cluster's words, ``A`` the average number of words per
cluster and ``f(word)`` its count across all clusters: words common everywhere ("photo",
"stock") sink, words frequent in one cluster rise. Captions are read for a seeded sample of at
most ``CAPTIONS_PER_CLUSTER`` records per cluster, so labelling costs the same at 1M and 10M.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import faiss
import numpy as np

MIN_CLUSTERS = 8
MAX_CLUSTERS = 64
CAPTIONS_PER_CLUSTER = 2_000
TOP_WORDS = 10
LABEL_WORDS = 3
KMEANS_ITERATIONS = 25
ASSIGN_BLOCK = 1_000_000

# (positions) -> caption of each, None where a record has none or is hidden
CaptionReader = Callable[[np.ndarray], Sequence[str | None]]
# rows(positions, columns) -> the visible rows among ``positions`` (app.workspace's reader,
# as app.vectors.embed takes it)
RowReader = Callable[[Sequence[int], Sequence[str]], list[dict[str, Any]]]

_WORD = re.compile(r"\w+")

# Function words of the most frequent caption languages in LAION-5B, and the bits of web
# boilerplate that captions carry (file extensions, URL parts). c-TF-IDF already lowers words
# common to every cluster; this list only keeps them from filling a small cluster's label.
STOP_WORDS: frozenset[str] = frozenset(
    """
    a an and are as at be been but by can did do does for from had has have he her his how i
    if in into is it its me my no not of on or our out she so than that the their them then
    there these they this those to too up us was we were what when where which who why will
    with you your yours all any more most other some such only own same just also over under
    about after again against before between during through very s t
    der die das und ist im in den dem des ein eine einer eines einem einen zu mit auf für von
    aus bei nach am an als auch es sie er wir ihr sich nicht oder wie zum zur vom bis
    le la les un une des du de et est en au aux pour par sur dans avec qui que ce ces son sa
    ses il elle nous vous ils elles pas plus ou
    el los las unos unas del al y es en por para con que se su sus lo como más o
    il lo gli di da per con che è nel nella delle degli dei alla alle
    o os um uma do da dos das em no na nos nas com que por para é ao aos
    het een en van de in op met voor te dat is zijn aan
    и в во не на с со что как по из за к от для у о же это
    jpg jpeg png gif webp www http https com html htm
    """.split()
)


@dataclass
class Cluster:
    """One region of the map: ``words`` are (word, c-TF-IDF score), best first."""

    id: int
    label: str
    size: int
    centroid: tuple[float, float]
    words: list[tuple[str, float]] = field(default_factory=list)
    captions: int = 0  # captions read to find the words

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["centroid"] = [float(v) for v in self.centroid]
        data["words"] = [[w, float(s)] for w, s in self.words]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cluster:
        x, y = data["centroid"]
        return cls(
            id=int(data["id"]),
            label=str(data["label"]),
            size=int(data["size"]),
            centroid=(float(x), float(y)),
            words=[(str(w), float(s)) for w, s in data.get("words", [])],
            captions=int(data.get("captions", 0)),
        )


def choose_k(n: int) -> int:
    """About sqrt(n)/4 clusters, kept between 8 and 64 (and never more than n): 64 labels
    are about what a map can show at once without covering its points."""
    if n <= 0:
        return 0
    k = round(math.sqrt(n) / 4)
    return int(min(max(k, MIN_CLUSTERS), MAX_CLUSTERS, n))


def kmeans_2d(
    xy: np.ndarray, k: int | None = None, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(cluster of each point as uint16, centroids (k, 2) float32) of a 2-D layout."""
    xy = np.asarray(xy, dtype=np.float32)
    n = int(xy.shape[0])
    k = choose_k(n) if k is None else int(min(k, n))
    if n == 0 or k <= 0:
        return np.zeros(n, np.uint16), np.zeros((0, 2), np.float32)
    if k > np.iinfo(np.uint16).max:
        raise ValueError(f"at most {np.iinfo(np.uint16).max} clusters, not {k}")
    if k == 1:
        return np.zeros(n, np.uint16), xy.mean(axis=0, keepdims=True)
    km = faiss.Kmeans(2, k, niter=KMEANS_ITERATIONS, seed=seed, verbose=False)
    km.train(np.ascontiguousarray(xy))
    ids = np.empty(n, np.uint16)
    for start in range(0, n, ASSIGN_BLOCK):
        _, nearest = km.index.search(np.ascontiguousarray(xy[start : start + ASSIGN_BLOCK]), 1)
        ids[start : start + ASSIGN_BLOCK] = nearest[:, 0]
    # Centroids of what was assigned (FAISS's are of its training sample); an empty
    # cluster keeps the trained centroid.
    centroids = np.asarray(km.centroids, dtype=np.float32).copy()
    sizes = np.bincount(ids, minlength=k)
    for axis in range(2):
        sums = np.bincount(ids, weights=xy[:, axis], minlength=k)
        centroids[:, axis] = np.where(sizes > 0, sums / np.maximum(sizes, 1), centroids[:, axis])
    return ids, centroids


def tokenize(text: str) -> list[str]:
    """Lower-case runs of Unicode word characters, without stop words, numbers and
    one-character tokens. Scripts written without spaces (Chinese, Japanese) come out as
    whole phrases: good enough to name a cluster, not to segment the language."""
    return [
        w
        for w in _WORD.findall(text.lower())
        if len(w) > 1 and not w.isdigit() and w not in STOP_WORDS and w.replace("_", "")
    ]


def ctfidf(counts: Sequence[Counter[str]], top: int = TOP_WORDS) -> list[list[tuple[str, float]]]:
    """The ``top`` (word, score) of each class by c-TF-IDF: tf * log(1 + A / f)."""
    totals = [sum(c.values()) for c in counts]
    nonempty = [t for t in totals if t]
    if not nonempty:
        return [[] for _ in counts]
    average = sum(nonempty) / len(nonempty)
    across: Counter[str] = Counter()
    for c in counts:
        across.update(c)
    out = []
    for c, total in zip(counts, totals, strict=True):
        scored = [
            (word, (n / total) * math.log(1 + average / across[word])) for word, n in c.items()
        ]
        scored.sort(key=lambda item: (-item[1], item[0]))
        out.append(scored[:top])
    return out


def label_of(words: Sequence[tuple[str, float]]) -> str:
    return ", ".join(w for w, _ in words[:LABEL_WORDS])


def caption_sample(
    ids: np.ndarray, k: int, per_cluster: int = CAPTIONS_PER_CLUSTER, *, seed: int = 0
) -> list[np.ndarray]:
    """Row numbers of at most ``per_cluster`` members of each cluster, seeded, sorted."""
    rng = np.random.default_rng(seed)
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(k + 1))
    out = []
    for c in range(k):
        members = order[bounds[c] : bounds[c + 1]]
        if members.size > per_cluster:
            members = rng.choice(members, size=per_cluster, replace=False)
        out.append(np.sort(members))
    return out


def label_clusters(
    ids: np.ndarray,
    centroids: np.ndarray,
    positions: np.ndarray,
    captions: CaptionReader | None,
    *,
    per_cluster: int = CAPTIONS_PER_CLUSTER,
    seed: int = 0,
) -> list[Cluster]:
    """One Cluster per centroid, named from the captions of a sample of its members
    (``positions[row]`` is the catalog pos of layout row ``row``). Without ``captions``
    (a dataset with no rows) the labels stay empty."""
    k = int(centroids.shape[0])
    sizes = np.bincount(ids, minlength=k) if ids.size else np.zeros(k, np.int64)
    counts: list[Counter[str]] = [Counter() for _ in range(k)]
    read = [0] * k
    if captions is not None and k:
        samples = caption_sample(ids, k, per_cluster, seed=seed)
        rows = np.concatenate(samples) if samples else np.zeros(0, np.int64)
        texts = captions(np.asarray(positions)[rows]) if rows.size else []
        at = 0
        for c, sample in enumerate(samples):
            for text in texts[at : at + sample.size]:
                if text:
                    counts[c].update(tokenize(text))
                    read[c] += 1
            at += sample.size
    words = ctfidf(counts)
    # Rounded as the layout json stores them, so a cluster read back equals the one built.
    return [
        Cluster(
            id=c,
            label=label_of(words[c]),
            size=int(sizes[c]),
            centroid=(round(float(centroids[c, 0]), 5), round(float(centroids[c, 1]), 5)),
            words=[(w, round(float(score), 6)) for w, score in words[c]],
            captions=read[c],
        )
        for c in range(k)
    ]


def cluster_layout(
    xy: np.ndarray,
    positions: np.ndarray,
    captions: CaptionReader | None,
    *,
    k: int | None = None,
    per_cluster: int = CAPTIONS_PER_CLUSTER,
    seed: int = 0,
) -> tuple[np.ndarray, list[Cluster]]:
    """Clusters of a layout and their labels: (cluster id of each row as uint16, clusters)."""
    ids, centroids = kmeans_2d(xy, k, seed=seed)
    return ids, label_clusters(
        ids, centroids, positions, captions, per_cluster=per_cluster, seed=seed
    )


def captions_from_rows(rows: RowReader) -> CaptionReader:
    """A CaptionReader over ``rows``, the workspace's reader of visible rows (the shape
    ``loupe embed`` takes): a hidden record's caption never reaches a label."""

    def read(positions: np.ndarray) -> list[str | None]:
        wanted = np.asarray(positions, dtype=np.int64).tolist()
        found = {int(row["pos"]): row.get("caption") for row in rows(wanted, ["pos", "caption"])}
        return [c if isinstance(c := found.get(p), str) else None for p in wanted]

    return read


def words_of(texts: Iterable[str]) -> Counter[str]:
    """Token counts of some texts (for tests and tools that label their own groups)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(tokenize(text))
    return counts
