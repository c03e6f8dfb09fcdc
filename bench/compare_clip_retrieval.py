"""Side by side with clip-retrieval: the same embeddings, the same queries, the same client.

    .venv/bin/python -m bench.compare_clip_retrieval [--n 50000] [--queries 200] [--out DIR]

1. Makes a separate virtual environment ``<out>/cr-venv`` holding clip-retrieval 2.45.0 (never
   a dependency of Loupe; reused when present).
2. Writes N clustered 512-d unit vectors with LAION-shaped metadata in clip-retrieval /
   embedding-reader layout (``<out>/emb/{img_emb,text_emb,metadata}``), ingests the metadata
   into a Loupe data folder, imports the embeddings (``import_precomputed``) and builds the
   index (``build_all``).
3. Builds clip-retrieval's index from the same folder with ``clip-retrieval index``.
4. Starts both back ends on 127.0.0.1 (clip-retrieval through a launcher that forces Flask's
   host, with a random-weight OpenCLIP checkpoint so nothing is downloaded).
5. Sends both the same embedding queries (50 results each), alternating, one at a time over
   one kept-alive ``http.client`` connection to each (``KeepAlive``) after a warm-up; checks
   both return 50 results and how many of them agree. Then times Loupe's ``GET /healthz`` in
   the same alternation: the floor any answer pays on this machine.
   Last, the same queries to each server back to back (never idle between them).
6. Prints p50/p95 of each, the ratios and the ceiling the floor sets; writes
   ``<out>/compare.md`` and ``compare.json``.

Only 127.0.0.1 is ever contacted; HF_HUB_OFFLINE=1 is set for both servers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a file, not only as ``-m bench....``
    sys.path.insert(0, str(REPO_ROOT))

from bench.servers import free_port, stop, wait_ready  # noqa: E402

CR_PACKAGES = ["clip-retrieval==2.45.0", "torch==2.14.1", "torchvision==0.29.1"]
CR_AFTER = ["setuptools<81"]  # clip's import needs pkg_resources, gone from setuptools 81
DIM = 512
K = 50
DATASET = "compare"
INDICE = "bench"
COLUMNS = ["URL", "TEXT", "SAMPLE_ID"]
TARGET_RATIO = 10.0
FLOOR_QUERIES = 100  # alternations timing Loupe's GET /healthz (see measure)

# Runs inside the clip-retrieval venv. Flask.run is wrapped so the back end binds 127.0.0.1
# (clip_back hard-codes 0.0.0.0) on the port we chose.
LAUNCHER = """\
import os, sys, json
import flask

_run = flask.Flask.run
def _local_run(self, *args, **kwargs):
    kwargs["host"] = "127.0.0.1"
    kwargs["port"] = int(os.environ["CR_PORT"])
    return _run(self, **kwargs)
flask.Flask.run = _local_run

from clip_retrieval.clip_back import clip_back
clip_back(
    indices_paths=sys.argv[1],
    port=int(os.environ["CR_PORT"]),
    enable_hdf5=False,
    enable_faiss_memory_mapping=True,
    columns_to_return=json.loads(os.environ["CR_COLUMNS"]),
    reorder_metadata_by_ivf_index=False,
    default_backend=None,
    url_column="URL",
    enable_mclip_option=False,
    clip_model=os.environ["CR_CLIP_MODEL"],
    use_jit=False,
    use_arrow=False,
    provide_safety_model=False,
    provide_violence_detector=False,
    provide_aesthetic_embeddings=False,
)
"""

# Runs inside the clip-retrieval venv: a random-weight ViT-B-32 checkpoint, so its back end
# loads a real model object without any download.
CHECKPOINT = """\
import sys, torch, open_clip
model = open_clip.create_model("ViT-B-32", pretrained=None)
torch.save(model.state_dict(), sys.argv[1])
"""


@dataclass(frozen=True)
class Layout:
    """Every path the comparison writes under ``out``."""

    out: Path

    @property
    def venv(self) -> Path:
        return self.out / "cr-venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def emb(self) -> Path:
        return self.out / "emb"

    @property
    def generated(self) -> Path:
        return self.out / "generated"

    @property
    def cr_index(self) -> Path:
        return self.out / "cr-index"

    @property
    def data_dir(self) -> Path:
        return self.out / "loupe-data"

    @property
    def state_dir(self) -> Path:
        return self.out / "loupe-state"

    @property
    def checkpoint(self) -> Path:
        return self.out / "vit-b-32-random.pt"

    @property
    def queries(self) -> Path:
        return self.out / "queries.npy"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="vectors in both indexes")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per server")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "compare")
    parser.add_argument("--rebuild", action="store_true", help="regenerate data and both indexes")
    args = parser.parse_args(argv)
    if args.n < 1_000:
        parser.error("--n must be at least 1000 (clip-retrieval's index builder needs data)")
    if args.queries < 1 or args.warmup < 0:
        parser.error("--queries must be at least 1 and --warmup at least 0")
    return args


# --- the other virtual environment ---------------------------------------------------------


def ensure_venv(layout: Layout) -> Path:
    """clip-retrieval's own venv (reused when its import works); returns its python."""
    if layout.python.is_file() and _cr_importable(layout.python):
        return layout.python
    layout.out.mkdir(parents=True, exist_ok=True)
    _step(f"creating {layout.venv} and installing {' '.join(CR_PACKAGES)} (minutes)")
    subprocess.run([sys.executable, "-m", "venv", str(layout.venv)], check=True)
    pip = [str(layout.python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *CR_PACKAGES], check=True)
    subprocess.run([*pip, *CR_AFTER], check=True)
    if not _cr_importable(layout.python):
        raise SystemExit(f"{layout.venv}: clip_retrieval still does not import after install.")
    return layout.python


def _cr_importable(python: Path) -> bool:
    code = "import pkg_resources, clip_retrieval.clip_back, open_clip"
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


# --- the data ---------------------------------------------------------------------------


def write_embeddings(layout: Layout, n: int, seed: int) -> None:
    """Metadata and aligned image/text embeddings in embedding-reader layout."""
    from bench.datagen import generate_laion_parquet
    from bench.search import CHUNK, Generator

    generated = generate_laion_parquet(
        layout.generated, n, seed=seed, rows_per_file=max(n, 1), keep=True
    )
    for folder in ("img_emb", "text_emb", "metadata"):
        (layout.emb / folder).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(generated.files[0], layout.emb / "metadata" / "metadata_0.parquet")
    gen = Generator(n, DIM, seed)
    vectors = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, CHUNK):
        rng = np.random.default_rng([seed, start])
        vectors[start : start + CHUNK] = gen.points(min(CHUNK, n - start), rng, duplicates=0.005)
    np.save(layout.emb / "img_emb" / "img_emb_0.npy", vectors)
    # text_emb: clip-retrieval's layout carries one; these vectors stand in (same rows).
    np.save(layout.emb / "text_emb" / "text_emb_0.npy", vectors.astype(np.float16))


def make_queries(n: int, seed: int, count: int) -> np.ndarray:
    """New points from the same clustered distribution (not copies of stored vectors)."""
    from bench.search import Generator

    return Generator(n, DIM, seed).points(count, np.random.default_rng([seed, 10**9]))


def build_loupe(layout: Layout) -> dict[str, Any]:
    """Ingest the metadata, import the embeddings and index them as ``loupe`` does (through
    app.build, so the workspace's hidden set applies as it does for the command)."""
    from app import build
    from app.config import Settings
    from app.vectors.precomputed import metadata_files

    settings = Settings(data_dir=layout.data_dir, state_dir=layout.state_dir)
    started = time.perf_counter()
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    build.build_dataset(layout.data_dir, DATASET, metadata_files(layout.emb), progress=False)
    imported = build.import_embeddings(settings, DATASET, layout.emb, progress=False)
    ingested = time.perf_counter()
    section = build.index(settings, DATASET, progress=False)
    return {
        "imported": imported["imported"],
        "ingest_import_s": round(ingested - started, 1),
        "index_s": round(time.perf_counter() - ingested, 1),
        "index": section.get("image", {}).get("type"),
    }


def build_cr_index(layout: Layout) -> dict[str, Any]:
    """``clip-retrieval index`` over the same folder (autofaiss picks the index)."""
    cli = layout.venv / "bin" / "clip-retrieval"
    if layout.cr_index.exists():
        shutil.rmtree(layout.cr_index)
    started = time.perf_counter()
    subprocess.run(
        [
            str(cli),
            "index",
            "--embeddings_folder",
            str(layout.emb),
            "--index_folder",
            str(layout.cr_index),
            "--max_index_memory_usage",
            "4G",
            "--current_memory_available",
            "8G",
            "--copy_metadata",
            "True",
            "--nb_cores",
            "2",
        ],
        check=True,
        env=_offline_env(),
    )
    index_files = sorted(p.name for p in layout.cr_index.glob("*.index"))
    return {"index_s": round(time.perf_counter() - started, 1), "files": index_files}


def ensure_checkpoint(layout: Layout) -> Path:
    if not layout.checkpoint.is_file():
        subprocess.run(
            [str(layout.python), "-c", CHECKPOINT, str(layout.checkpoint)],
            check=True,
            env=_offline_env(),
        )
    return layout.checkpoint


# --- the servers ------------------------------------------------------------------------


def _offline_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def start_cr(layout: Layout, port: int) -> subprocess.Popen:
    indices = layout.out / "indices.json"
    indices.write_text(
        json.dumps(
            {
                INDICE: {
                    "indice_folder": str(layout.cr_index),
                    "provide_safety_model": False,
                    "enable_faiss_memory_mapping": True,
                    "use_arrow": False,
                    "enable_hdf5": False,
                    "reorder_metadata_by_ivf_index": False,
                    "columns_to_return": COLUMNS,
                    "clip_model": f"open_clip:ViT-B-32/{ensure_checkpoint(layout)}",
                    "enable_mclip_option": False,
                }
            }
        )
    )
    launcher = layout.out / "cr_launcher.py"
    launcher.write_text(LAUNCHER)
    env = _offline_env(
        CR_PORT=str(port),
        CR_COLUMNS=json.dumps(COLUMNS),
        CR_CLIP_MODEL=f"open_clip:ViT-B-32/{layout.checkpoint}",
    )
    log = open(layout.out / "cr-back.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [str(layout.python), str(launcher), str(indices)], env=env, stdout=log, stderr=log
    )


def start_loupe(layout: Layout, port: int) -> subprocess.Popen:
    env = _offline_env(
        LOUPE_DATA_DIR=str(layout.data_dir),
        LOUPE_STATE_DIR=str(layout.state_dir),
        LOUPE_HOST="127.0.0.1",
        LOUPE_PORT=str(port),
    )
    log = open(layout.out / "loupe.log", "w")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=log,
    )


# --- the queries ------------------------------------------------------------------------


def cr_body(vector: np.ndarray) -> dict[str, Any]:
    return {
        "embedding_input": vector.tolist(),
        "modality": "image",
        "indice_name": INDICE,
        "num_images": K,
        "num_result_ids": K,
        "use_mclip": False,
        "deduplicate": False,
        "use_safety_model": False,
        "use_violence_detector": False,
        "aesthetic_score": "",
        "aesthetic_weight": "",
    }


def loupe_body(vector: np.ndarray) -> dict[str, Any]:
    # The columns clip-retrieval is configured to return (URL, TEXT, SAMPLE_ID), so both answer
    # with the same fields; Loupe adds pos, knn_score and punsafe, which it always returns.
    return {"vector": vector.tolist(), "kind": "image", "k": K, "fields": ["url", "caption"]}


def cr_urls(payload: Any) -> list[str]:
    return [str(item.get("URL") or item.get("url")) for item in payload]


def loupe_urls(payload: Any) -> list[str]:
    return [str(row.get("url") or row.get("URL")) for row in payload["records"]]


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples, dtype=np.float64)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
        "mean_ms": round(float(arr.mean()), 2),
    }


class KeepAlive:
    """One HTTP/1.1 connection to a server on 127.0.0.1 (``http.client``, Nagle off), opened
    again when the server closes it (Flask's development server may).

    The client is part of every timing, and the same for both servers: httpx spent ~0.3 ms
    of each request in its own Python (0.6 ms against 0.4 ms for one GET /healthz), which
    is 1 % of clip-retrieval's time and 10 % of Loupe's. Bodies are encoded before the
    clock starts and answers decoded after it stops.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self._connection is None:
            self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self._connection.connect()
            assert self._connection.sock is not None
            self._connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        data = response.read()
        if response.will_close:
            self.close()
        return response.status, data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _ok(server: str, status: int, data: bytes) -> Any:
    if status != 200:
        raise SystemExit(f"{server} answered {status}: {data[:300]!r}")
    return json.loads(data)


def measure(
    cr: KeepAlive, loupe: KeepAlive, queries: np.ndarray, warmup: int, floor_queries: int
) -> dict[str, Any]:
    """Alternate the two servers query by query so both see the same machine load.

    The first ``warmup`` queries are sent but not timed. Then the floor: the same alternation
    with Loupe asked for ``GET /healthz`` instead of a search (what any request costs after
    ~30 ms idle on this machine), for the first ``floor_queries`` queries; and those queries
    again to each server back to back.
    """
    times: dict[str, list[float]] = {"clip_retrieval": [], "loupe": []}
    pair_ratios: list[float] = []
    overlaps: list[float] = []
    short: dict[str, int] = {"clip_retrieval": 0, "loupe": 0}
    loupe_path = f"/api/search/vector?ds={DATASET}"
    for i, vector in enumerate(queries):
        timed = i >= warmup
        cr_request, loupe_request = _encoded(cr_body(vector)), _encoded(loupe_body(vector))
        cr_ms, status, data = _timed(cr, "POST", "/knn-service", cr_request)
        theirs = cr_urls(_ok("clip-retrieval", status, data))
        loupe_ms, status, data = _timed(loupe, "POST", loupe_path, loupe_request)
        ours = loupe_urls(_ok("Loupe", status, data))
        if not timed:
            continue
        times["clip_retrieval"].append(cr_ms)
        times["loupe"].append(loupe_ms)
        pair_ratios.append(cr_ms / loupe_ms)
        short["clip_retrieval"] += len(theirs) != K
        short["loupe"] += len(ours) != K
        overlaps.append(len(set(theirs) & set(ours)) / K)
    floor: list[float] = []
    for vector in queries[warmup : warmup + floor_queries]:
        _ok("clip-retrieval", *cr.request("POST", "/knn-service", _encoded(cr_body(vector))))
        ms, status, data = _timed(loupe, "GET", "/healthz")
        floor.append(ms)
        _ok("Loupe", status, data)
    # Back to back: each server answers the same queries one after another, never idle
    # between them, so neither pays the wake-up the alternation costs (for comparison only).
    back_to_back: dict[str, list[float]] = {"clip_retrieval": [], "loupe": []}
    for server, connection, path, make in (
        ("clip_retrieval", cr, "/knn-service", cr_body),
        ("loupe", loupe, loupe_path, loupe_body),
    ):
        for vector in queries[warmup : warmup + floor_queries]:
            ms, status, data = _timed(connection, "POST", path, _encoded(make(vector)))
            back_to_back[server].append(ms)
            _ok(server, status, data)
    return {
        "clip_retrieval": percentiles(times["clip_retrieval"]),
        "loupe": percentiles(times["loupe"]),
        "floor": percentiles(floor),
        "back_to_back": {name: percentiles(ms) for name, ms in back_to_back.items()},
        "not_50_results": short,
        # The same query to each, one after the other: the ratio of each pair, then its median.
        "pair_ratio": {
            "median": round(float(np.median(pair_ratios)), 1),
            "p5": round(float(np.percentile(pair_ratios, 5)), 1),
            "p95": round(float(np.percentile(pair_ratios, 95)), 1),
        },
        "overlap_at_50": {
            "mean": round(float(np.mean(overlaps)), 4),
            "min": round(float(np.min(overlaps)), 4),
        },
    }


def _timed(
    connection: KeepAlive, method: str, path: str, body: bytes | None = None
) -> tuple[float, int, bytes]:
    """One request's milliseconds (the body already encoded), status and answer."""
    started = time.perf_counter()
    status, data = connection.request(method, path, body)
    return (time.perf_counter() - started) * 1000, status, data


def _encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


# --- report -----------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    r = report["results"]
    cr, lo, fl, bb = r["clip_retrieval"], r["loupe"], r["floor"], r["back_to_back"]
    lines = [
        f"# Loupe vs clip-retrieval 2.45.0: {report['n']:,} vectors, {report['queries']} "
        f"embedding queries, k = {K}",
        "",
        "| back end | p50 ms | p95 ms | mean ms |",
        "|---|---|---|---|",
        f"| clip-retrieval (`POST /knn-service`) | {cr['p50_ms']} | {cr['p95_ms']} "
        f"| {cr['mean_ms']} |",
        f"| Loupe (`POST /api/search/vector`) | {lo['p50_ms']} | {lo['p95_ms']} "
        f"| {lo['mean_ms']} |",
        "",
        f"- p50 ratio (clip-retrieval / Loupe): **{report['ratio_p50']}x** "
        f"(target ≥ {TARGET_RATIO}x: {'met' if report['ratio_p50'] >= TARGET_RATIO else 'NOT met'})"
        f"; p95 ratio {report['ratio_p95']}x",
        f"- the floor: Loupe's `GET /healthz` in the same alternation {fl['p50_ms']} ms p50 "
        f"({fl['p95_ms']} p95): no answer here can be faster, so no ratio above "
        f"{report['ratio_ceiling']}x is measurable on this machine",
        f"- back to back (each server asked {report['floor_queries']} queries in a row, never "
        f"idle): clip-retrieval {bb['clip_retrieval']['p50_ms']} ms p50, Loupe "
        f"{bb['loupe']['p50_ms']} ms p50: {report['ratio_back_to_back']}x (not the protocol "
        "above; it shows what the alternation's idle gaps cost the shorter answer)",
        f"- per-pair ratio (each query's clip-retrieval time / Loupe time): median "
        f"{r['pair_ratio']['median']}x, 5th–95th percentile {r['pair_ratio']['p5']}–"
        f"{r['pair_ratio']['p95']}x",
        f"- top-50 overlap of returned URLs: mean {r['overlap_at_50']['mean']}, "
        f"min {r['overlap_at_50']['min']}",
        f"- queries not returning 50 results: {r['not_50_results']}",
        f"- Loupe index: {report['loupe_build'].get('index')}; clip-retrieval index files: "
        f"{report['cr_build'].get('files')}",
        f"- machine: {report['machine']}; load average after the run "
        f"{', '.join(str(x) for x in report['load_average'])}",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    layout = Layout(args.out.resolve())
    layout.out.mkdir(parents=True, exist_ok=True)
    ensure_venv(layout)
    stamp = layout.out / "built.json"
    from app.catalog.rowstore import STORE_VERSION

    # "layout": the generation of Loupe's dataset format; a newer one rebuilds.
    wanted = {"n": args.n, "seed": args.seed, "layout": STORE_VERSION}
    built = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if args.rebuild or built.get("params") != wanted:
        _step(f"writing {args.n:,} embeddings and metadata to {layout.emb}")
        write_embeddings(layout, args.n, args.seed)
        _step("building Loupe's dataset and index")
        loupe_build = build_loupe(layout)
        _step("building clip-retrieval's index")
        cr_build = build_cr_index(layout)
        stamp.write_text(json.dumps({"params": wanted, "loupe": loupe_build, "cr": cr_build}))
    else:
        loupe_build, cr_build = built["loupe"], built["cr"]
    queries = make_queries(args.n, args.seed, args.queries + args.warmup)
    ensure_checkpoint(layout)

    cr_port, loupe_port = free_port(), free_port()
    cr_proc = loupe_proc = None
    try:
        _step(f"starting clip-retrieval on 127.0.0.1:{cr_port}, Loupe on 127.0.0.1:{loupe_port}")
        cr_proc = start_cr(layout, cr_port)
        loupe_proc = start_loupe(layout, loupe_port)
        with httpx.Client(timeout=60, trust_env=False) as client:
            wait_ready(
                client,
                f"http://127.0.0.1:{cr_port}/indices-list",
                cr_proc,
                layout.out / "cr-back.log",
                300,
            )
            wait_ready(
                client,
                f"http://127.0.0.1:{loupe_port}/",
                loupe_proc,
                layout.out / "loupe.log",
                120,
            )
        _step(f"{args.warmup} warm-up + {args.queries} timed queries to each")
        cr, loupe = KeepAlive(cr_port), KeepAlive(loupe_port)
        try:
            results = measure(cr, loupe, queries, args.warmup, min(args.queries, FLOOR_QUERIES))
        finally:
            cr.close()
            loupe.close()
    finally:
        stop(cr_proc)
        stop(loupe_proc)
    report = {
        "n": args.n,
        "queries": args.queries,
        "dim": DIM,
        "k": K,
        "results": results,
        "ratio_p50": round(results["clip_retrieval"]["p50_ms"] / results["loupe"]["p50_ms"], 1),
        "ratio_p95": round(results["clip_retrieval"]["p95_ms"] / results["loupe"]["p95_ms"], 1),
        "ratio_ceiling": round(results["clip_retrieval"]["p50_ms"] / results["floor"]["p50_ms"], 1),
        "ratio_back_to_back": round(
            results["back_to_back"]["clip_retrieval"]["p50_ms"]
            / results["back_to_back"]["loupe"]["p50_ms"],
            1,
        ),
        "floor_queries": min(args.queries, FLOOR_QUERIES),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "loupe_build": loupe_build,
        "cr_build": cr_build,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
    }
    (layout.out / "compare.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (layout.out / "compare.md").write_text(text)
    print(text)
    return report


def _step(message: str) -> None:
    print(f"[compare] {message}", flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
