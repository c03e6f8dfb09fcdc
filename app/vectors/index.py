"""``loupe index``: a FAISS inner-product index over one kind of embeddings.

Small sets (below ``FLAT_THRESHOLD`` vectors) get an exact ``IndexFlatIP``. Larger ones get an
IVF index with an HNSW coarse quantizer and 4-bit PQ fast-scan codes (``dim/4`` sub-vectors,
so 64 bytes per 512-d vector), whose top candidates are then re-ranked exactly against the
stored float vectors (``store.Embeddings``, memory-mapped). After building, ``nprobe`` and the
number of re-ranked candidates are tuned on sample queries against exact search: the
cheapest setting with recall@50 at or above ``TARGET_RECALL`` is kept in
``<kind>.faiss.json`` along with the measured recall.

Loading uses ``IO_FLAG_MMAP_IFC | IO_FLAG_READ_ONLY``: flat codes and IVF lists with plain
array storage are then mapped, not copied (measured with faiss 1.15: ``IO_FLAG_MMAP`` alone
still copies an ``IndexFlat``). Fast-scan lists use a blocked layout that FAISS always
reads into memory: 64 + 8 bytes per vector, 720 MB for 10M 512-d vectors.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm import tqdm

from app.vectors import store
from app.vectors.store import Embeddings

FLAT_THRESHOLD = 50_000
MAX_NLIST = 4096
QUANTIZER_EF = 128
KMEANS_ITERATIONS = 10  # FAISS's default is 25; recall after re-ranking does not notice
TARGET_RECALL = 0.97  # tuned on sample queries; leaves room above the 0.95 we promise
RECALL_K = 50
TUNE_QUERIES = 100
ADD_BATCH = 65_536
# (nprobe, candidates re-ranked per wanted result), cheapest first: the first reaching the
# target is kept.
TUNING_LADDER: tuple[tuple[int, int], ...] = (
    (8, 2),
    (16, 2),
    (8, 4),
    (16, 4),
    (32, 4),
    (32, 8),
    (64, 8),
    (64, 16),
    (128, 16),
    (256, 32),
)


class IndexFileError(Exception):
    """An index file is missing or unusable; the message says which and what to run."""


@dataclass
class IndexParams:
    kind: str
    type: str  # "flat" or "ivf-pq-fastscan" / "ivf-sq8"
    factory: str
    count: int
    dim: int
    nlist: int = 0
    nprobe: int = 0
    rerank: int = 0  # candidates re-ranked exactly per wanted result (0: exact index)
    train_size: int = 0
    build_seconds: float = 0.0
    tune_seconds: float = 0.0
    file_bytes: int = 0
    recall_at_50: float = 1.0
    recall_queries: int = 0
    tuned: list[dict[str, float]] | None = None
    vectors_created: str = ""  # the embeddings it was built from (stale-index check)

    @property
    def exact(self) -> bool:
        return self.type == "flat"


def plan(count: int, dim: int, flat_threshold: int = FLAT_THRESHOLD) -> tuple[str, str, int]:
    """(type, FAISS factory string, nlist) for ``count`` vectors of ``dim``."""
    if count < flat_threshold:
        return "flat", "Flat", 0
    # About 4*sqrt(n) lists (FAISS's guideline), a power of two, with >= 39 training
    # points per centroid available.
    nlist = 2 ** round(math.log2(4 * math.sqrt(count)))
    # Capped at MAX_NLIST: k-means cost grows with nlist squared (more centroids, and more
    # training points for them); 16384 lists would take hours to train on two cores.
    nlist = max(64, min(nlist, MAX_NLIST, 2 ** int(math.log2(count // 39))))
    if dim % 4 == 0:
        return "ivf-pq-fastscan", f"IVF{nlist}_HNSW32,PQ{dim // 4}x4fs", nlist
    return "ivf-sq8", f"IVF{nlist}_HNSW32,SQ8", nlist


def build_index(
    emb: Embeddings,
    files: store.KindFiles,
    *,
    flat_threshold: int = FLAT_THRESHOLD,
    progress: bool = True,
    seed: int = 0,
) -> IndexParams:
    """Build, write and tune the index of ``emb``; returns what was chosen and measured."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    kind, factory, nlist = plan(emb.count, emb.dim, flat_threshold)
    index = faiss.index_factory(emb.dim, factory, faiss.METRIC_INNER_PRODUCT)
    train_size = 0
    rng = np.random.default_rng(seed)
    if not index.is_trained:
        faiss.extract_index_ivf(index).cp.niter = KMEANS_ITERATIONS
        train_size = min(emb.count, max(nlist * 40, 50_000))
        rows = np.sort(rng.choice(emb.count, size=train_size, replace=False))
        index.train(emb.gather(rows))
    with tqdm(
        total=emb.count, unit="vec", unit_scale=True, desc=f"index {emb.kind}", disable=not progress
    ) as bar:
        for start in range(0, emb.count, ADD_BATCH):
            block = np.ascontiguousarray(emb.vectors[start : start + ADD_BATCH])
            index.add(block)
            bar.update(block.shape[0])
    tmp = files.index.with_suffix(".faiss.tmp")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, files.index)
    params = IndexParams(
        kind=emb.kind,
        type=kind,
        factory=factory,
        count=emb.count,
        dim=emb.dim,
        nlist=nlist,
        train_size=train_size,
        build_seconds=round(time.perf_counter() - started, 3),
        file_bytes=files.index.stat().st_size,
        vectors_created=str(emb.meta.get("created", "")),
    )
    del index
    tune(emb, files, params, rng=rng)
    store.write_json(files.index_meta, asdict(params))
    return params


def open_index(path: Path, kind: str = "flat") -> Any:
    """Read an index, memory-mapped and read-only where its type allows (``kind`` as in
    IndexParams.type)."""
    if not path.is_file():
        raise IndexFileError(f"{path} is missing: run `loupe index` for this dataset.")
    if kind != "ivf-pq-fastscan":
        try:
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            pass  # older files or types the mapped reader refuses: an ordinary read may work
    # Fast-scan lists are copied into memory whatever the flags; mapping the file as well
    # would only add the whole file to RSS a second time (measured).
    try:
        return faiss.read_index(str(path))
    except RuntimeError as error:  # a damaged or truncated file: one sentence, not a C++ trace
        lines = str(error).strip().splitlines()
        reason = lines[0][:200] if lines else "damaged"
        message = f"{path} cannot be read ({reason}): run `loupe index` again."
        raise IndexFileError(message) from None


def read_params(files: store.KindFiles) -> IndexParams:
    try:
        data = json.loads(files.index_meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise IndexFileError(
            f"{files.index_meta} is missing or unreadable: run `loupe index` again."
        ) from None
    return IndexParams(**data)


# --- searching ---------------------------------------------------------------------------


def first_stage(
    index: Any,
    params: IndexParams,
    queries: np.ndarray,
    fetch: int,
    nprobe: int | None = None,
    selector: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw index search: (scores, rows) of ``fetch`` candidates per query (-1 = none),
    among the rows ``selector`` (a FAISS IDSelector) lets through if given."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    fetch = max(1, min(fetch, params.count))
    if params.exact:
        if selector is None:
            return index.search(queries, fetch)
        flat_params = faiss.SearchParameters()
        flat_params.sel = selector
        return index.search(queries, fetch, params=flat_params)
    search_params = faiss.SearchParametersIVF()
    if selector is not None:
        search_params.sel = selector
    search_params.nprobe = min(params.nlist, nprobe or params.nprobe)
    # The HNSW coarse quantizer searches with efSearch 16 by default, which found only 19 of
    # a query's 32 nearest lists at 10M vectors; a beam of 4 x nprobe (at least 128) finds
    # all of them, for about the price of comparing with every centroid once.
    hnsw = faiss.SearchParametersHNSW()
    hnsw.efSearch = min(params.nlist, max(QUANTIZER_EF, 4 * search_params.nprobe))
    search_params.quantizer_params = hnsw
    return index.search(queries, fetch, params=search_params)


def probe_for(params: IndexParams, fetch: int, nprobe: int | None = None) -> int:
    """nprobe for ``fetch`` candidates: the tuned value, widened when the lists it opens
    could not hold that many candidates several times over."""
    wanted_lists = math.ceil(fetch * 4 * params.nlist / max(params.count, 1))
    return max(nprobe or params.nprobe, min(params.nlist, wanted_lists))


def knn(
    index: Any,
    params: IndexParams,
    emb: Embeddings,
    queries: np.ndarray,
    k: int,
    nprobe: int | None = None,
    rerank: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` (scores, rows) per query; compressed indexes are re-ranked exactly."""
    if params.exact:
        return first_stage(index, params, queries, k)
    fetch = min(params.count, max(k * (rerank or params.rerank), k + 16))
    _, rows = first_stage(index, params, queries, fetch, probe_for(params, fetch, nprobe))
    return exact_rerank(emb, queries, rows, k)


def exact_rerank(
    emb: Embeddings, queries: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    out_scores = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
    out_rows = np.full((queries.shape[0], k), -1, dtype=np.int64)
    for i, candidates in enumerate(rows):
        candidates = np.unique(candidates[candidates >= 0])
        if candidates.size == 0:
            continue
        scores = emb.gather(candidates) @ queries[i]
        top = top_indices(scores, k)
        out_scores[i, : top.size] = scores[top]
        out_rows[i, : top.size] = candidates[top]
    return out_scores, out_rows


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 131_072
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top ``k`` over a (possibly memory-mapped) array, block by block."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    best_scores = np.full((queries.shape[0], 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((queries.shape[0], 0), dtype=np.int64)
    for start in range(0, vectors.shape[0], block):
        scores = queries @ np.asarray(vectors[start : start + block]).T
        take = min(k, scores.shape[1])
        part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, part, 1)], axis=1)
        best_rows = np.concatenate([best_rows, part + start], axis=1)
        if best_scores.shape[1] > k:
            keep = np.argpartition(-best_scores, k - 1, axis=1)[:, :k]
            best_scores = np.take_along_axis(best_scores, keep, 1)
            best_rows = np.take_along_axis(best_rows, keep, 1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best_scores, order, 1), np.take_along_axis(best_rows, order, 1)


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first."""
    if scores.size > k:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")]
    return np.argsort(-scores, kind="stable")


# --- tuning ------------------------------------------------------------------------------


def sample_queries(emb: Embeddings, count: int, rng: np.random.Generator) -> np.ndarray:
    """Stored vectors nudged off their own point: like a "more like this" or a close text query."""
    rows = np.sort(rng.choice(emb.count, size=min(count, emb.count), replace=False))
    base = emb.gather(rows)
    noise = rng.standard_normal(base.shape).astype(np.float32) * (0.5 / math.sqrt(emb.dim))
    queries = base + noise
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [
        len(set(f[f >= 0]) & set(t[t >= 0])) / max(1, (t >= 0).sum())
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits)) if hits else 1.0


def tune(
    emb: Embeddings,
    files: store.KindFiles,
    params: IndexParams,
    rng: np.random.Generator,
    clock: Callable[[], float] = time.perf_counter,
) -> None:
    """Pick the cheapest (nprobe, rerank) reaching TARGET_RECALL; record what was measured."""
    started = clock()
    k = min(RECALL_K, emb.count)
    if params.exact or k == 0:
        params.recall_at_50, params.recall_queries = 1.0, 0
        return
    queries = sample_queries(emb, TUNE_QUERIES, rng)
    _, truth = exact_search(emb.vectors, queries, k)
    index = open_index(files.index, params.type)
    faiss.omp_set_num_threads(1)  # per-query latency, as the web server sees it
    tried: list[dict[str, float]] = []
    chosen: dict[str, float] | None = None
    for nprobe, rerank in TUNING_LADDER:
        if nprobe > params.nlist:
            break
        tick = clock()
        found = np.concatenate(
            [
                knn(index, params, emb, queries[i : i + 1], k, nprobe, rerank)[1]
                for i in range(queries.shape[0])
            ]
        )
        ms = (clock() - tick) * 1000 / queries.shape[0]
        entry = {
            "nprobe": nprobe,
            "rerank": rerank,
            "recall": round(recall(found, truth), 4),
            "ms_per_query": round(ms, 3),
        }
        tried.append(entry)
        if entry["recall"] >= TARGET_RECALL:
            chosen = entry
            break
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    if chosen is None:
        # Nothing reached the target: more probes and candidates stopped paying. Keep the
        # cheapest setting within half a point of the best recall, not the slowest.
        best = max(entry["recall"] for entry in tried)
        chosen = next(entry for entry in tried if entry["recall"] >= best - 0.005)
    params.nprobe, params.rerank = int(chosen["nprobe"]), int(chosen["rerank"])
    params.recall_at_50, params.recall_queries = float(chosen["recall"]), int(queries.shape[0])
    params.tuned = tried
    params.tune_seconds = round(clock() - started, 3)
