"""Near-duplicate clusters: records whose embeddings are at least ``threshold`` similar
(0.94 by default, the value clip-retrieval's deduplication uses), joined transitively.

Found once at index time: every vector asks the index for its nearest ``NEIGHBOURS``
(exactly re-scored), pairs above the threshold are joined with a union-find, and each cluster
is kept as (member positions, representative). The representative is the member with the
lowest ``pos`` (the catalog is sorted by CLIP similarity, so the best-matching caption); the
others are what "hide duplicates" hides.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
from tqdm import tqdm

from app.vectors import index as vindex
from app.vectors import store

NEIGHBOURS = 16
QUERY_BATCH = 4096


@dataclass
class DuplicateTable:
    threshold: float
    members: np.ndarray  # int64 positions, sorted
    representative: np.ndarray  # int64, the representative pos of each member

    @property
    def clusters(self) -> int:
        return int(np.unique(self.representative).size)

    def hidden_positions(self) -> np.ndarray:
        """Positions of members that are not their cluster's representative (sorted)."""
        return self.members[self.members != self.representative]

    def cluster_of(self, pos: int) -> np.ndarray:
        """All positions in ``pos``'s cluster (empty if it has no near-duplicate)."""
        at = int(np.searchsorted(self.members, pos))
        if at >= self.members.size or self.members[at] != pos:
            return np.zeros(0, dtype=np.int64)
        return self.members[self.representative == self.representative[at]]


def find_pairs(
    emb: store.Embeddings,
    faiss_index: Any,
    params: vindex.IndexParams,
    threshold: float,
    *,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (a, b), a < b, whose exact similarity is >= ``threshold``."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    k = min(NEIGHBOURS + 1, emb.count)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    with tqdm(
        total=emb.count,
        unit="vec",
        unit_scale=True,
        desc=f"duplicates {emb.kind}",
        disable=not progress,
    ) as bar:
        for start in range(0, emb.count, QUERY_BATCH):
            queries = np.ascontiguousarray(emb.vectors[start : start + QUERY_BATCH])
            scores, rows = vindex.knn(faiss_index, params, emb, queries, k)
            own = np.arange(start, start + queries.shape[0])[:, None]
            keep = (scores >= threshold) & (rows >= 0) & (rows != own)
            a = np.broadcast_to(own, rows.shape)[keep]
            b = rows[keep]
            left.append(np.minimum(a, b))
            right.append(np.maximum(a, b))
            bar.update(queries.shape[0])
    if not left:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(left), np.concatenate(right)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the graph with edges (a, b): (nodes, smallest node of each)."""
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    ea, eb = inverse[: a.size], inverse[a.size :]
    label = np.arange(nodes.size)
    while True:  # min-label propagation with pointer jumping; a few rounds in practice
        low = np.minimum(label[ea], label[eb])
        new = label.copy()
        np.minimum.at(new, ea, low)
        np.minimum.at(new, eb, low)
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    return nodes, nodes[label]


def build_duplicates(
    emb: store.Embeddings,
    faiss_index: Any,
    params: vindex.IndexParams,
    files: store.KindFiles,
    threshold: float,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Find the clusters, save them to ``<kind>.dups.npz`` and return a summary."""
    started = time.perf_counter()
    a, b = find_pairs(emb, faiss_index, params, threshold, progress=progress)
    pa, pb = emb.positions[a], emb.positions[b]
    members, reps = components(pa, pb)
    order = np.argsort(members)
    table = DuplicateTable(threshold, members[order], reps[order])
    tmp = files.duplicates.with_suffix(".tmp.npz")
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            members=table.members,
            representative=table.representative,
            threshold=np.array(threshold),
        )
    os.replace(tmp, files.duplicates)
    return {
        "threshold": threshold,
        "pairs": int(a.size),
        "clusters": table.clusters,
        "records_in_clusters": int(table.members.size),
        "duplicates_hidden": int(table.hidden_positions().size),
        "neighbours_checked": NEIGHBOURS,
        "seconds": round(time.perf_counter() - started, 3),
    }


def load_duplicates(files: store.KindFiles) -> DuplicateTable | None:
    if not files.duplicates.is_file():
        return None
    with np.load(files.duplicates) as data:
        return DuplicateTable(
            float(data["threshold"]),
            data["members"].astype(np.int64),
            data["representative"].astype(np.int64),
        )
