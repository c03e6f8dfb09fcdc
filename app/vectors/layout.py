"""The embedding map: a 2-D layout of one kind of embeddings, computed once per dataset.

UMAP (umap-learn) is fitted on a seeded random sample of at most ``sample_size`` vectors;
every other vector is then placed at the weighted mean of the layout coordinates of its
``PLACE_K`` nearest sample vectors, found by FAISS. UMAP on all 10M vectors would take hours
on two cores. Measured here (2 shared cores, 1M clustered 512-d vectors, ``bench/map.py``;
docs/map.md has the full table): fitting the default 100,000-vector sample took 94-97 s
(neighbour graph by FAISS, then umap-learn's seeded optimisation, ~8 s of numba compilation
included), placing the other 900,000 vectors 64-72 s, the whole layout 161-166 s at a load
average of ~2.3, with a peak RSS of 1.3 GB; 10M vectors took 42 min with other work holding
the load average at 8-11 (budget: 1M in 10 min, 10M in 60 min). Choices:

* neighbours: the sample is indexed by an IVF-Flat index (flat below ``FLAT_BELOW``); at
  nprobe 8 it finds 99.5 % of the exact 5 nearest and moves a placed point by 0.41 of the
  typical neighbour spacing at the 99th percentile. HNSW was as fast but sent ~1 % of the
  points to the wrong part of the map (p99 error 400x the neighbour spacing): its greedy
  search gets stuck in the wrong cluster. A flat index would take 13-18 min per 1M points.
* the rule: placing each sample point from its *other* neighbours, the 5 nearest weighted by
  inverse cosine distance land closest to where UMAP put it (0.72 of the spacing to its
  nearest neighbour, against 1.0 for 1 neighbour and 1.7 for 15).

Sample points keep their fitted coordinates. The rest is done in chunks of ``chunk_rows``
rows, each saved to ``vectors/work-layout-<kind>/chunk_NNNNNN.npy`` in one atomic rename next
to the fitted sample (``sample.npz``); a rerun skips what is there, and a work folder made for
other embeddings, another catalog build or other parameters is thrown away.

Files, aligned with ``<kind>.pos.npy`` (row i of each is catalog pos ``positions[i]``)::

    <kind>.layout.npy     float32 (n, 2): x, y
    <kind>.clusters.npy   uint16 (n,): cluster of each row (see ``clusters``)
    <kind>.layout.json    method, parameters, sample size, bounds, seconds, the catalog build,
                          a sha256 of the positions and the clusters; written last, so its
                          presence marks a complete layout

A layout whose row count, catalog build or positions do not match the embeddings is refused
on load with a message naming the file: a map that puts records at another record's place is
worse than no map.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm import tqdm

from app.catalog.layout import DatasetPaths
from app.vectors import store
from app.vectors.clusters import (
    CAPTIONS_PER_CLUSTER,
    Cluster,
    RowReader,
    captions_from_rows,
    cluster_layout,
)
from app.vectors.store import Embeddings, StoreError

METHOD = "umap-sample+knn-placement"
DEFAULT_SAMPLE_SIZE = 100_000
DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_SEED = 0
# UMAP's own defaults: 15 neighbours balance local and global structure; min_dist 0.1
# packs similar points tightly enough for clusters to read as islands.
UMAP_NEIGHBOURS = 15
UMAP_MIN_DIST = 0.1
PLACE_K = 5
PLACE_EPS = 1e-3  # inverse-distance weights 1 / (d + eps): an exact copy sits on its twin
FLAT_BELOW = 20_000  # sample sizes below this get an exact flat index
GRAPH_NPROBE = 16  # UMAP's neighbour graph: 99.9 % of the exact 10 nearest (measured)
PLACE_NPROBE = 8
IVF_ITERATIONS = 10
LAYOUT_VERSION = 1
FINGERPRINT_ROWS = 64


class LayoutError(Exception):
    """A layout is missing, stale or does not belong to the embeddings beside it."""


@dataclass(frozen=True)
class LayoutFiles:
    folder: Path
    kind: str

    @property
    def xy(self) -> Path:
        return self.folder / f"{self.kind}.layout.npy"

    @property
    def clusters(self) -> Path:
        return self.folder / f"{self.kind}.clusters.npy"

    @property
    def meta(self) -> Path:
        return self.folder / f"{self.kind}.layout.json"

    @property
    def work(self) -> Path:
        return self.folder / f"work-layout-{self.kind}"


def layout_files(paths: DatasetPaths, kind: str) -> LayoutFiles:
    store.files_for(paths, kind)  # validates the kind
    return LayoutFiles(paths.vectors, kind)


@dataclass
class LayoutResult:
    kind: str
    complete: bool
    count: int  # rows laid out (= embeddings of this kind)
    sample_size: int
    chunks_done: int
    chunks_total: int
    seconds: float
    clusters: int = 0
    note: str = ""


@dataclass
class Layout:
    """A loaded layout: row i is catalog pos ``positions[i]`` at ``xy[i]``, in cluster
    ``cluster_of[i]``."""

    kind: str
    positions: np.ndarray  # (n,) int64
    xy: np.ndarray  # (n, 2) float32, memory-mapped read-only
    cluster_of: np.ndarray  # (n,) uint16, memory-mapped read-only
    meta: dict[str, Any]
    clusters: list[Cluster] = field(default_factory=list)

    @property
    def count(self) -> int:
        return int(self.xy.shape[0])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x min, y min, x max, y max)."""
        x0, y0, x1, y1 = self.meta["bounds"]
        return float(x0), float(y0), float(x1), float(y1)


def positions_sha256(positions: np.ndarray) -> str:
    """sha256 of the positions as little-endian int64 bytes (~0.2 s at 10M rows)."""
    data = np.ascontiguousarray(positions, dtype="<i8")
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()


# --- building -----------------------------------------------------------------------------


def build_layout(
    paths: DatasetPaths,
    kind: str,
    *,
    rows: RowReader | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_chunks: int | None = None,
    clusters: int | None = None,
    captions_per_cluster: int = CAPTIONS_PER_CLUSTER,
    force: bool = False,
) -> LayoutResult:
    """Compute (or finish) the layout of ``kind`` and its clusters; see the module docstring.

    ``rows`` is the workspace's reader of visible rows (as ``loupe embed`` takes it): the
    clusters are named from the captions it gives, so hidden records never name a region;
    without it the clusters get no labels. ``max_chunks`` stops after placing that many
    chunks (tests, trials): the result is then not ``complete`` and a rerun goes on from
    there. ``clusters`` fixes k (default: about sqrt(n)/4, 8..64). ``force`` starts over
    even when an up-to-date layout exists.
    """
    started = time.perf_counter()
    if sample_size < 1 or chunk_rows < 1:
        raise ValueError("sample_size and chunk_rows must be at least 1")
    try:
        emb = store.load_embeddings(paths, kind)
    except StoreError as error:
        raise LayoutError(str(error)) from None
    files = layout_files(paths, kind)
    n = emb.count
    if n == 0:
        raise LayoutError(
            f"{store.files_for(paths, kind).vectors} holds no vectors: nothing to lay out."
        )
    m = min(sample_size, n)
    total = math.ceil(n / chunk_rows)
    identity = _identity(paths, emb, m, seed, chunk_rows)
    current = _read_json(files.meta)
    if (
        not force
        and current is not None
        and current.get("identity") == identity
        and files.xy.is_file()
        and files.clusters.is_file()
    ):
        return LayoutResult(
            kind, True, n, m, total, total, 0.0, len(current.get("clusters", [])),
            "already up to date",
        )  # fmt: skip
    _prepare_work(files.work, identity, fresh=force)
    faiss.omp_set_num_threads(os.cpu_count() or 1)

    sample_rows, sample_xy, fit_seconds, index = _fitted_sample(emb, files.work, m, seed, progress)
    done = _done_chunks(files.work)
    todo = [i for i in range(total) if i not in done]
    place_started = time.perf_counter()
    if todo and (max_chunks is None or max_chunks > 0):
        if index is None:  # resumed after the fit: index the sample again (~10 s at 100k)
            index = _sample_index(_read_rows(emb, sample_rows), seed)
        _set_nprobe(index, PLACE_NPROBE)
        with tqdm(
            total=n,
            initial=min(len(done) * chunk_rows, n),
            unit="vec",
            unit_scale=True,
            desc=f"layout {kind}",
            disable=not progress,
        ) as bar:
            new = 0
            for i in todo:
                if max_chunks is not None and new >= max_chunks:
                    break
                low, high = i * chunk_rows, min((i + 1) * chunk_rows, n)
                # Sample points keep the coordinates UMAP gave them; the others are placed.
                at = np.searchsorted(sample_rows, [low, high])
                inside = sample_rows[at[0] : at[1]] - low
                xy = np.empty((high - low, 2), np.float32)
                xy[inside] = sample_xy[at[0] : at[1]]
                if inside.size < high - low:
                    rest = np.ones(high - low, dtype=bool)
                    rest[inside] = False
                    block = _read_block(emb, low, high)
                    xy[rest] = place(index, sample_xy, block if rest.all() else block[rest])
                _save_chunk(files.work, i, xy)
                done.add(i)
                new += 1
                bar.update(high - low)
    place_seconds = time.perf_counter() - place_started
    _add_seconds(files.work, "place", place_seconds)
    if len(done) < total:
        return LayoutResult(
            kind, False, n, m, len(done), total, time.perf_counter() - started,
            note="stopped early; rerun to go on",
        )  # fmt: skip

    files.meta.unlink(missing_ok=True)  # from here until the json is back, no layout
    xy_all = _join_chunks(files, n, total)
    cluster_started = time.perf_counter()
    ids, found = cluster_layout(
        xy_all,
        emb.positions,
        captions_from_rows(rows) if rows is not None else None,
        k=clusters,
        per_cluster=captions_per_cluster,
        seed=seed,
    )
    _write_npy(files.clusters, ids)
    cluster_seconds = time.perf_counter() - cluster_started
    spent = _read_json(files.work / "seconds.json") or {}
    bounds = [
        float(xy_all[:, 0].min()),
        float(xy_all[:, 1].min()),
        float(xy_all[:, 0].max()),
        float(xy_all[:, 1].max()),
    ]
    meta = {
        "kind": kind,
        "version": LAYOUT_VERSION,
        "count": n,
        "dim": emb.dim,
        "method": METHOD,
        "library": _umap_version(),
        "parameters": identity["parameters"],
        "sample_size": m,
        "seed": seed,
        "chunk_rows": chunk_rows,
        "bounds": [round(b, 6) for b in bounds],
        "seconds": {
            "fit": round(fit_seconds, 3),
            "place": round(float(spent.get("place", place_seconds)), 3),
            "clusters": round(cluster_seconds, 3),
            "total_this_run": round(time.perf_counter() - started, 3),
        },
        "catalog": identity["catalog"],
        "vectors": identity["vectors"],
        "positions_sha256": identity["positions_sha256"],
        "identity": identity,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "clusters": [c.to_json() for c in found],
    }
    del xy_all
    store.write_json(files.meta, meta)
    shutil.rmtree(files.work, ignore_errors=True)
    return LayoutResult(kind, True, n, m, total, total, time.perf_counter() - started, len(found))


def place(index: Any, sample_xy: np.ndarray, vectors: np.ndarray, k: int = PLACE_K) -> np.ndarray:
    """Layout coordinates of ``vectors``: the mean of their ``k`` nearest sample points'
    coordinates, weighted by 1 / (cosine distance + PLACE_EPS)."""
    k = min(k, int(sample_xy.shape[0]))
    scores, rows = index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
    found = rows >= 0
    weights = np.where(found, 1.0 / (np.maximum(1.0 - scores, 0.0) + PLACE_EPS), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    # A vector whose search came back empty (an IVF list too short; never seen with the
    # probes used) sits at the layout's centre rather than at a random point.
    weights = np.where(total > 0, weights / np.where(total > 0, total, 1.0), 0.0)
    xy = (weights[:, :, None] * sample_xy[np.where(found, rows, 0)]).sum(axis=1)
    empty = total[:, 0] <= 0
    if empty.any():
        xy[empty] = sample_xy.mean(axis=0)
    return xy.astype(np.float32)


def fit_umap(vectors: np.ndarray, *, seed: int, index: Any | None = None) -> np.ndarray:
    """UMAP (cosine) of unit ``vectors`` to 2-D, on a neighbour graph computed by FAISS.

    umap-learn's own nearest-neighbour descent took 58 s for 20,000 512-d points on two
    cores, FAISS's search 2-18 s; with ``random_state`` umap-learn optimises on one thread
    (31 s against 21 s for 50,000 points) and the same input gives the same map.
    """
    n = int(vectors.shape[0])
    if n <= UMAP_NEIGHBOURS + 1:
        return _small_layout(vectors)
    import umap  # numba compiles on first use: import only when a layout is built

    index = index if index is not None else _sample_index(vectors, seed)
    _set_nprobe(index, GRAPH_NPROBE)
    scores, rows = index.search(np.ascontiguousarray(vectors), UMAP_NEIGHBOURS)
    distances = np.where(rows >= 0, np.maximum(1.0 - scores, 0.0), np.inf).astype(np.float32)
    reducer = umap.UMAP(
        n_neighbors=UMAP_NEIGHBOURS,
        min_dist=UMAP_MIN_DIST,
        metric="cosine",
        random_state=seed,
        precomputed_knn=(rows.astype(np.int64), distances, None),
        low_memory=True,
        verbose=False,
    )
    with warnings.catch_warnings():
        # "n_jobs overridden by random_state", "cannot transform new data": both intended.
        warnings.simplefilter("ignore", UserWarning)
        xy = reducer.fit_transform(vectors)
    return np.asarray(xy, dtype=np.float32)


def _small_layout(vectors: np.ndarray) -> np.ndarray:
    """Too few points for UMAP: the first two principal components."""
    centred = np.asarray(vectors, dtype=np.float64) - np.mean(vectors, axis=0)
    if centred.shape[0] < 2:
        return np.zeros((centred.shape[0], 2), np.float32)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = np.zeros((centred.shape[0], 2), np.float32)
    parts = centred @ vt[:2].T
    out[:, : parts.shape[1]] = parts
    return out


def _sample_index(vectors: np.ndarray, seed: int) -> Any:
    """Inner-product index over the sample: exact below FLAT_BELOW, else IVF-Flat with
    about 4*sqrt(m) lists (1024 for 50k-100k points), probed PLACE_NPROBE at a time."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    m, dim = vectors.shape
    if m < FLAT_BELOW:
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    nlist = 2 ** round(math.log2(4 * math.sqrt(m)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = IVF_ITERATIONS
    index.cp.seed = seed
    index.train(vectors)
    index.add(vectors)
    index.nprobe = PLACE_NPROBE
    return index


def _set_nprobe(index: Any, nprobe: int) -> None:
    if hasattr(index, "nprobe"):
        index.nprobe = nprobe


def _fitted_sample(
    emb: Embeddings, work: Path, m: int, seed: int, progress: bool
) -> tuple[np.ndarray, np.ndarray, float, Any | None]:
    """(sample rows, their coordinates, seconds the fit took, the sample's index if built
    now): from the work folder when a previous run got that far, else fitted and saved."""
    path = work / "sample.npz"
    if path.is_file():
        with np.load(path) as saved:
            return saved["rows"], saved["xy"], float(saved["seconds"]), None
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(emb.count, size=m, replace=False)) if m < emb.count else None
    rows = np.arange(emb.count, dtype=np.int64) if rows is None else rows.astype(np.int64)
    if progress:
        tqdm.write(f"layout {emb.kind}: fitting UMAP on {m:,} of {emb.count:,} vectors ...")
    vectors = _read_rows(emb, rows)
    index = _sample_index(vectors, seed)
    xy = fit_umap(vectors, seed=seed, index=index)
    seconds = time.perf_counter() - started
    tmp = work / "sample.tmp.npz"
    with open(tmp, "wb") as handle:
        np.savez(handle, rows=rows, xy=xy, seconds=np.array(seconds))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return rows, xy, seconds, index


def _read_rows(emb: Embeddings, rows: np.ndarray) -> np.ndarray:
    """The vectors of sorted ``rows`` by pread, read-ahead hinted a batch at a time. Taking
    100k scattered rows through the memory map faulted in most of a 1M-vector file (the
    kernel maps 64 KiB around each touched row): 3.2 GB peak RSS at 1M, against ~1.2 GB so."""
    if emb.path is None:
        return emb.gather(rows)
    out = np.empty((rows.size, emb.dim), dtype=np.float32)
    row_bytes = emb.dim * 4
    view = memoryview(out).cast("B")
    fd = os.open(emb.path, os.O_RDONLY)
    try:
        for start in range(0, rows.size, store.PREFETCH_ROWS):
            batch = rows[start : start + store.PREFETCH_ROWS]
            emb.prefetch(batch)
            for i, row in enumerate(batch.tolist(), start):
                part = view[i * row_bytes : (i + 1) * row_bytes]
                if os.preadv(fd, [part], emb.offset + row * row_bytes) != row_bytes:
                    raise LayoutError(f"{emb.path}: row {row} is cut short (file truncated?).")
    finally:
        os.close(fd)
    return out


def _read_block(emb: Embeddings, low: int, high: int) -> np.ndarray:
    """Rows low..high as a new array, read with pread rather than through the long-lived
    memory map, so that the process does not keep 2 GB per 1M vectors mapped (RSS)."""
    if emb.path is None:
        return np.ascontiguousarray(emb.vectors[low:high])
    out = np.empty((high - low, emb.dim), dtype=np.float32)
    view = memoryview(out).cast("B")
    want = view.nbytes
    fd = os.open(emb.path, os.O_RDONLY)
    try:
        got = 0
        offset = emb.offset + low * emb.dim * 4
        while got < want:
            read = os.preadv(fd, [view[got:]], offset + got)
            if read <= 0:
                raise LayoutError(f"{emb.path}: rows {low}-{high} are cut short (file truncated?).")
            got += read
    finally:
        os.close(fd)
    return out


def _identity(
    paths: DatasetPaths, emb: Embeddings, m: int, seed: int, chunk_rows: int
) -> dict[str, Any]:
    """What a layout (and its work folder) belongs to: any change starts over."""
    return {
        "version": LAYOUT_VERSION,
        "kind": emb.kind,
        "catalog": store.catalog_build(paths),
        "vectors": vectors_identity(emb),
        "positions_sha256": positions_sha256(emb.positions),
        "sample_size": m,
        "seed": seed,
        "chunk_rows": chunk_rows,
        "parameters": {
            "umap_neighbours": UMAP_NEIGHBOURS,
            "umap_min_dist": UMAP_MIN_DIST,
            "umap_metric": "cosine",
            "place_k": PLACE_K,
            "place_weights": f"1/(cosine distance + {PLACE_EPS})",
            "flat_below": FLAT_BELOW,
            "graph_nprobe": GRAPH_NPROBE,
            "place_nprobe": PLACE_NPROBE,
        },
    }


def vectors_identity(emb: Embeddings) -> dict[str, Any]:
    """Which embeddings a layout was made from: their json's creation time and model, and a
    sha256 of ``FINGERPRINT_ROWS`` evenly spaced vectors (vectors recomputed within the same
    second by the same model still differ there; ~1 ms to read)."""
    rows = np.unique(
        np.linspace(0, emb.count - 1, min(emb.count, FINGERPRINT_ROWS)).astype(np.int64)
    )
    sample = np.ascontiguousarray(_read_rows(emb, rows), dtype="<f4")
    return {
        "count": emb.count,
        "dim": emb.dim,
        "created": emb.meta.get("created"),
        "model": emb.meta.get("model"),
        "model_id": emb.meta.get("model_id"),
        "sample_sha256": hashlib.sha256(memoryview(sample).cast("B")).hexdigest(),
    }


def _umap_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"umap-learn {version('umap-learn')}"
    except PackageNotFoundError:
        return "umap-learn"


# --- the work folder ------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _prepare_work(work: Path, identity: dict[str, Any], *, fresh: bool) -> None:
    state = work / "state.json"
    if work.exists() and (fresh or _read_json(state) != identity):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not state.is_file():
        store.write_json(state, identity)


def _chunk_path(work: Path, index: int) -> Path:
    return work / f"chunk_{index:06d}.npy"


def _done_chunks(work: Path) -> set[int]:
    done = set()
    for path in work.glob("chunk_*.npy"):
        try:
            done.add(int(path.stem.removeprefix("chunk_")))
        except ValueError:
            continue
    return done


def _save_chunk(work: Path, index: int, xy: np.ndarray) -> None:
    target = _chunk_path(work, index)
    tmp = work / f"chunk_{index:06d}.tmp"
    with open(tmp, "wb") as handle:
        np.save(handle, xy.astype(np.float32))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def _add_seconds(work: Path, key: str, seconds: float) -> None:
    path = work / "seconds.json"
    spent = _read_json(path) or {}
    spent[key] = float(spent.get(key, 0.0)) + seconds
    store.write_json(path, spent)


def _join_chunks(files: LayoutFiles, n: int, total: int) -> np.ndarray:
    """Write ``<kind>.layout.npy`` from the chunks; returns the joined array (in memory:
    80 MB at 10M rows)."""
    xy = np.empty((n, 2), dtype=np.float32)
    at = 0
    for index in range(total):
        chunk = np.load(_chunk_path(files.work, index))
        xy[at : at + chunk.shape[0]] = chunk
        at += chunk.shape[0]
    if at != n:
        raise LayoutError(f"{files.work}: the chunks hold {at} rows, expected {n}; rerun.")
    _write_npy(files.xy, xy)
    return xy


def _write_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# --- loading ------------------------------------------------------------------------------


def load_layout(paths: DatasetPaths, kind: str) -> Layout:
    """The layout of ``kind``, memory-mapped, after checking that it belongs to the
    embeddings and catalog beside it (row count, catalog build, which embeddings: their
    creation time, model and a fingerprint of their vectors; sha256 of the positions)."""
    files = layout_files(paths, kind)
    meta = _read_json(files.meta)
    if meta is None:
        raise LayoutError(
            f"{files.meta} is missing or unreadable: build the map layout of {paths.name} "
            f"({kind} embeddings) first."
        )
    try:
        emb = store.load_embeddings(paths, kind, check_build=False)
    except StoreError as error:
        raise LayoutError(
            f"{error} The layout {files.meta} has no embeddings to belong to."
        ) from None
    positions = emb.positions
    count = int(meta.get("count", -1))
    if positions.shape[0] != count:
        raise LayoutError(
            f"{files.meta} lays out {count} rows but {store.files_for(paths, kind).positions} "
            f"has {positions.shape[0]}: the embeddings changed; build the layout again."
        )
    if meta.get("catalog") != store.catalog_build(paths):
        raise LayoutError(
            f"{files.meta} was computed for another build of the catalog of {paths.name}; "
            "build the layout again."
        )
    made_from, now = meta.get("vectors") or {}, vectors_identity(emb)
    if made_from != now:
        raise LayoutError(
            f"{files.meta} was computed from other {kind} embeddings than "
            f"{store.files_for(paths, kind).vectors} holds (made {made_from.get('created')}, "
            f"now {now.get('created')}); build the layout again."
        )
    if meta.get("positions_sha256") != positions_sha256(positions):
        raise LayoutError(
            f"{files.meta} was computed for other catalog positions than "
            f"{store.files_for(paths, kind).positions} holds; build the layout again."
        )
    xy = _load_array(files.xy, (count, 2), np.float32, files.meta)
    cluster_of = _load_array(files.clusters, (count,), np.uint16, files.meta)
    clusters = [Cluster.from_json(c) for c in meta.get("clusters", [])]
    return Layout(kind, positions, xy, cluster_of, meta, clusters)


def _load_array(path: Path, shape: tuple[int, ...], dtype: Any, meta_path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise LayoutError(f"{path}: cannot be read ({error}); build the layout again.") from None
    if array.shape != shape or array.dtype != dtype:
        raise LayoutError(
            f"{path} holds {array.dtype} {array.shape}, but {meta_path} says "
            f"{np.dtype(dtype)} {shape}: the files do not belong together; build the layout again."
        )
    return array


def remove_layout(paths: DatasetPaths, kind: str) -> None:
    """Delete the layout of ``kind`` and any unfinished work (json first)."""
    files = layout_files(paths, kind)
    for path in (files.meta, files.xy, files.clusters):
        path.unlink(missing_ok=True)
    shutil.rmtree(files.work, ignore_errors=True)
