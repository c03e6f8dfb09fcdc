"""Embedding-map benchmarks. Sections are sub-commands; each prints its figures as Markdown.

    python bench/map.py layout                       # 1,000,000 generated 512-d vectors
    python bench/map.py layout --rows 100000 --keep  # reuse the vectors of an earlier run
    nice python bench/map.py layout --rows 10000000  # 20 GB of vectors on disk

``layout`` writes unit vectors drawn around ``--centres`` random centres into a temporary
dataset folder (a manifest and ``vectors/image.npy``, no catalog rows unless ``--catalog``
links those of a bench/browse.py dataset of the same size, which also times the cluster
labels on real captions), then runs ``app.vectors.layout.build_layout`` exactly as a command
would and prints the seconds of each stage, the sample size, the load average (two cores are
shared with whatever else runs) and the peak resident memory of the build alone.
Results are also written to ``bench/out/map-layout-<rows>.md`` and ``.json``.

    python bench/map.py prepare --rows 1000000       # the served dataset (reused by --keep)
    python bench/map.py payload --rows 1000000 --keep
    python bench/map.py paint --rows 1000000 --keep

``prepare`` builds a real dataset of ``--rows`` LAION-shaped rows (bench.datagen, ingested as
`loupe ingest` does) with generated image embeddings, their map and its colour channels, as
`loupe index` makes them. ``payload`` starts the server (uvicorn in its own process) and times
``/api/map/points`` — every point, with a filter mask, the mask alone, with caption-word hits
— and ``/api/map``, each run with another filter so that nothing is served from the server's
one-minute cache of selections. ``paint`` opens ``/map`` in headless chromium (software
WebGL) and reads the renderer's first frame (``window.loupeMap.firstFrameMs``, after
``gl.finish()``) against the navigation's start. Each prints p50/p95 and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as `python bench/map.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.catalog.layout import DatasetPaths  # noqa: E402
from app.catalog.manifest import Manifest, write_manifest  # noqa: E402
from bench.browse import machine  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DIM = 512
GENERATE_CHUNK = 100_000
LAYOUT_TARGETS_S = {1_000_000: 600.0, 10_000_000: 3600.0}


# --- shared helpers -------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident memory since the last reset_peak_rss() (VmHWM), else of the process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM (Linux >= 4.0), so that a stage's peak is its own, not the generator's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def cpu_seconds() -> float:
    """CPU time of this process (user + system, all threads): on a shared machine the work
    done, whatever the others took of the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def write_report(out: Path, name: str, text: str, data: dict[str, Any]) -> None:
    print()
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text, encoding="utf-8")
    (out / f"{name}.json").write_text(json.dumps(data, indent=2), encoding="utf-8")


# --- layout ---------------------------------------------------------------------------------


def generate_vectors(
    root: Path, rows: int, centres: int, seed: int, catalog: Path | None = None
) -> float:
    """A dataset folder with ``rows`` unit 512-d vectors around ``centres`` centres, written
    with plain file writes (a memory map would count 2 GB per 1M rows in this process's
    RSS). Returns the seconds taken."""
    started = time.perf_counter()
    paths = DatasetPaths(root)
    if catalog is not None:
        from bench.search_http import link_catalog

        link_catalog(root, catalog, rows)
    else:
        root.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(
            name=root.name,
            row_count=rows,
            source_format="laion",
            source_files=[],
            column_mapping={},
        )
        write_manifest(paths.manifest, manifest)
    write_vectors(paths, rows, centres, seed)
    return time.perf_counter() - started


def write_vectors(paths: DatasetPaths, rows: int, centres: int, seed: int) -> None:
    """``rows`` unit 512-d vectors around ``centres`` centres as the dataset's image
    embeddings (row i = record i), written by plain file writes."""
    from app.vectors import store

    files = store.files_for(paths, "image")
    files.folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, DIM)).astype(np.float32)
    middle /= np.linalg.norm(middle, axis=1, keepdims=True)
    with open(files.vectors, "wb") as handle:
        header = {"descr": "<f4", "fortran_order": False, "shape": (rows, DIM)}
        np.lib.format.write_array_header_1_0(handle, header)
        for start in range(0, rows, GENERATE_CHUNK):
            count = min(GENERATE_CHUNK, rows - start)
            chunk_rng = np.random.default_rng([seed, start])
            which = chunk_rng.integers(0, centres, count)
            sigma = chunk_rng.uniform(0.6, 1.4, (count, 1)).astype(np.float32) / np.sqrt(DIM)
            points = middle[which] + sigma * chunk_rng.standard_normal((count, DIM), np.float32)
            points /= np.linalg.norm(points, axis=1, keepdims=True)
            handle.write(points.astype(np.float32).tobytes())
    store.register_embeddings(
        paths, "image", {"model": f"bench clustered {DIM}-d", "trained": True, "source": "bench"}
    )


def layout(args: argparse.Namespace) -> dict[str, Any]:
    """Time build_layout on ``args.rows`` generated vectors; returns the figures."""
    work = args.workdir / f"map-layout-{args.rows}"
    root = work / "bench"
    report: dict[str, Any] = {"rows": args.rows, "dim": DIM, "centres": args.centres}
    if not (args.keep and (root / "vectors" / "image.json").is_file()):
        shutil.rmtree(work, ignore_errors=True)
        print(f"generating {args.rows:,} vectors in {root} ...", file=sys.stderr, flush=True)
        report["generate_s"] = round(
            generate_vectors(root, args.rows, args.centres, args.seed, args.catalog), 1
        )
    paths = DatasetPaths(root)
    with ExitStack() as stack:
        rows = None
        if args.catalog is not None:
            # Captions for the labels come through the workspace, as for any entry point:
            # the reader of visible rows (hidden records never name a cluster).
            from app.config import Settings
            from app.workspace import workspace

            settings = Settings(data_dir=work, state_dir=work / "state")
            opened = stack.enter_context(workspace(settings, names=[root.name]))

            def rows(positions: Sequence[int], columns: Sequence[str]) -> list[dict[str, Any]]:
                return opened.visible_rows(root.name, positions, columns)

        measure_layout(args, paths, rows, report)
    report["machine"] = machine()
    report["when"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    report["target_s"] = LAYOUT_TARGETS_S.get(args.rows)
    text = layout_markdown(report)
    write_report(args.out, f"map-layout-{args.rows}", text, report)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return report


def measure_layout(
    args: argparse.Namespace, paths: DatasetPaths, rows: Any, report: dict[str, Any]
) -> None:
    from app.vectors.layout import build_layout, load_layout

    report["load_average_before"] = load_average()
    report["peak_is_layout_only"] = reset_peak_rss()
    rss_before = peak_rss_mb()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    result = build_layout(
        paths,
        "image",
        sample_size=args.sample,
        seed=args.seed,
        progress=args.progress,
        chunk_rows=args.chunk_rows,
        force=True,
        rows=rows,
    )
    report["layout_s"] = round(time.perf_counter() - started, 1)
    report["layout_cpu_s"] = round(cpu_seconds() - cpu_before, 1)
    report["load_average_after"] = load_average()
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    report["rss_at_start_mb"] = round(rss_before, 1)
    tick = time.perf_counter()
    loaded = load_layout(paths, "image")
    report["load_s"] = round(time.perf_counter() - tick, 3)
    meta = loaded.meta
    report["sample_size"] = result.sample_size
    report["stages_s"] = meta["seconds"]
    report["clusters"] = len(loaded.clusters)
    report["labels"] = [c.label for c in loaded.clusters[:8]]
    report["library"] = meta["library"]


def layout_markdown(r: dict[str, Any]) -> str:
    stages = r["stages_s"]
    target = r.get("target_s")
    met = "–" if target is None else ("yes" if r["layout_s"] <= target else "**no**")
    lines = [
        f"### Map layout, {r['rows']:,} vectors of {r['dim']} dimensions",
        "",
        "| what | value |",
        "|---|---:|",
        f"| sample fitted by UMAP | {r['sample_size']:,} |",
        f"| fit (sample, neighbour graph + UMAP) | {stages['fit']:.1f} s |",
        f"| placing the other vectors | {stages['place']:.1f} s |",
        f"| clusters and labels | {stages['clusters']:.1f} s |",
        f"| **layout in all** | **{r['layout_s']:.1f} s** |",
        f"| CPU time of the build (2 cores) | {r['layout_cpu_s']:.1f} s |",
        f"| target | {'–' if target is None else f'≤ {target:.0f} s'} (met: {met}) |",
        f"| peak RSS of the build | {r['peak_rss_mb']:,.0f} MB |",
        f"| load_layout (checks included) | {r['load_s'] * 1000:.0f} ms |",
        f"| load average before / after | {r['load_average_before']} / {r['load_average_after']} |",
        "",
        f"- {r['clusters']} clusters; first labels: {', '.join(map(repr, r['labels']))}"
        + ("" if any(r["labels"]) else " (empty: without --catalog there are no captions)")
        + ".",
        f"- {r['library']}; vectors around {r['centres']} centres"
        + (f", generated in {r['generate_s']} s." if "generate_s" in r else "."),
        f"- Machine: {r['machine']}; {r['when']}.",
    ]
    if not r.get("peak_is_layout_only"):
        lines.append("- Peak RSS could not be reset: it includes generating the vectors.")
    return "\n".join(lines) + "\n"


# --- a served dataset -------------------------------------------------------------------------

SERVED = "laion"


def served_dataset(args: argparse.Namespace) -> Path:
    """A data folder holding a real dataset of ``args.rows`` LAION-shaped rows (bench.datagen,
    ingested by app.build as `loupe ingest` does) with generated 512-d image embeddings, their
    map layout (clusters labelled from its captions through the workspace) and the points'
    colour channels, as `loupe index` makes them; reused when ``--keep`` finds it complete.
    Returns the data folder."""
    from app.build import build_dataset
    from app.catalog.manifest import read_manifest
    from app.config import Settings
    from app.explore.map import colours_current, write_colours
    from app.vectors.layout import build_layout, layout_files
    from app.workspace import workspace
    from bench.datagen import generate_laion_parquet

    data_dir = args.workdir / f"map-data-{args.rows}"
    paths = DatasetPaths(data_dir / SERVED)
    settings = Settings(data_dir=data_dir, state_dir=data_dir / ".state")
    if not (args.keep and layout_files(paths, "image").meta.is_file()):
        shutil.rmtree(data_dir, ignore_errors=True)
        parquet = args.workdir / f"parquet-{args.rows}"
        print(f"generating {args.rows:,} rows in {parquet} ...", file=sys.stderr, flush=True)
        generate_laion_parquet(parquet, args.rows, seed=args.seed, keep=True)
        print(f"ingesting into {paths.root} ...", file=sys.stderr, flush=True)
        build_dataset(data_dir, SERVED, [parquet], progress=args.progress)
        rows = read_manifest(paths.manifest).row_count
        print(f"writing {rows:,} vectors ...", file=sys.stderr, flush=True)
        write_vectors(paths, rows, args.centres, args.seed)
    with workspace(settings, names=[SERVED]) as opened:

        def visible(positions: Sequence[int], columns: Sequence[str]) -> list[dict[str, Any]]:
            return opened.visible_rows(SERVED, positions, columns)

        build_layout(
            paths,
            "image",
            rows=visible,
            sample_size=args.sample,
            seed=args.seed,
            progress=args.progress,
        )
        if not colours_current(paths, "image"):
            started = time.perf_counter()
            write_colours(paths, "image", visible, progress=args.progress)
            print(f"colours in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return data_dir


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    data_dir = served_dataset(args)
    print(f"{data_dir} ready in {time.perf_counter() - started:.0f} s")
    return {"data_dir": str(data_dir)}


class Server:
    """`loupe serve` as a user runs it: uvicorn in its own process on a loopback port."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log = data_dir, log
        self.process: Any = None
        self.port = 0

    def __enter__(self) -> Server:
        import subprocess

        import httpx

        from bench.servers import free_port, wait_ready

        self.port = free_port()
        env = {
            **os.environ,
            "LOUPE_DATA_DIR": str(self.data_dir.resolve()),
            "LOUPE_STATE_DIR": str((self.data_dir / ".state").resolve()),
            "HF_HUB_OFFLINE": "1",
        }
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        with httpx.Client(base_url=self.url, timeout=60) as client:
            wait_ready(client, "/api/datasets", self.process, self.log, 180)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        from bench.servers import stop

        stop(self.process)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    return {
        "p50": round(float(np.percentile(ordered, 50)), 1),
        "p95": round(float(np.percentile(ordered, 95)), 1),
        "min": round(float(ordered[0]), 1),
        "max": round(float(ordered[-1]), 1),
        "runs": len(ordered),
    }


def _threshold(i: int) -> str:
    return f"{0.3 + 0.01 * (i % 20):.2f}"


# Each run asks for another filter (the server keeps a selection for a minute): what is
# timed is the selection computed, not one kept from the run before.
PAYLOAD_CASES: tuple[tuple[str, Any], ...] = (
    ("every point, no filter", lambda i: {}),
    (
        "every point + filter mask, lang=de & punsafe_max=0.3..0.49",
        lambda i: {"lang": "de", "punsafe_max": _threshold(i)},
    ),
    (
        "the filter mask alone (fields=flags), lang=es & punsafe_max",
        lambda i: {"lang": "es", "punsafe_max": _threshold(i), "fields": "flags"},
    ),
    (
        "every point + caption-word hits, q=<common word of a language>",
        lambda i: {"q": list(COMMON.values())[i % len(COMMON)], "similarity_min": _threshold(i)},
    ),
)
COMMON = {"en": "black", "de": "schwarz", "fr": "noir", "es": "negro", "it": "nero"}


def payload(args: argparse.Namespace) -> dict[str, Any]:
    """Bytes and transfer time of /api/map/points (and /api/map) from a real server."""
    import httpx

    from app.explore.map import decode_payload

    data_dir = served_dataset(args)
    report: dict[str, Any] = {"rows": args.rows, "repeat": args.repeat, "cases": []}
    report["load_average_before"] = load_average()
    with Server(data_dir, args.out / "map-payload-server.log") as server:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            params = {"ds": SERVED, "kind": "image"}
            started = time.perf_counter()
            first = client.get("/api/map/points", params=params)
            first.raise_for_status()
            report["first_request_ms"] = round((time.perf_counter() - started) * 1000, 1)
            header, _ = decode_payload(first.content)
            report["points"] = header["count"]
            report["visible"] = header["total"]
            report["sampled"] = header["sampled"]
            for name, extra in PAYLOAD_CASES:
                warm = {**params, **extra(args.repeat + 1)}
                client.get("/api/map/points", params=warm).raise_for_status()
                times, size = [], 0
                for i in range(args.repeat):
                    query = {**params, **extra(i)}
                    tick = time.perf_counter()
                    response = client.get("/api/map/points", params=query)
                    response.raise_for_status()
                    size = len(response.content)
                    times.append((time.perf_counter() - tick) * 1000)
                case = {"case": name, "bytes": size, **percentiles(times)}
                case["mb_per_s"] = round(size / 2**20 / (case["p50"] / 1000), 1)
                report["cases"].append(case)
                print(f"{name}: {size:,} B, p50 {case['p50']} ms", file=sys.stderr, flush=True)
            times = []
            for i in range(args.repeat):
                query = {**params, "lang": "fr", "aesthetic_min": _threshold(i)}
                tick = time.perf_counter()
                client.get("/api/map", params=query).raise_for_status()
                times.append((time.perf_counter() - tick) * 1000)
            report["meta"] = percentiles(times)
    report["load_average_after"] = load_average()
    report["machine"] = machine()
    report["when"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    lines = [
        f"### Map points payload, {report['visible']:,} visible points ({args.rows:,} rows)",
        "",
        f"Through uvicorn on 127.0.0.1 and httpx; {args.repeat} runs each after one warm-up. "
        f"First request after start-up (visible points and colours read): "
        f"{report['first_request_ms']:,.0f} ms.",
        "",
        "| request | bytes | p50 ms | p95 ms | MB/s at p50 |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in report["cases"]:
        lines.append(
            f"| {c['case']} | {c['bytes']:,} | {c['p50']} | {c['p95']} | {c['mb_per_s']} |"
        )
    meta = report["meta"]
    lines += [
        f"| /api/map (metadata and counts, lang=fr & aesthetic_min) | – | {meta['p50']} | "
        f"{meta['p95']} | – |",
        "",
        f"- Load average before / after: {report['load_average_before']} / "
        f"{report['load_average_after']}.",
        f"- Machine: {report['machine']}; {report['when']}.",
    ]
    write_report(args.out, f"map-payload-{args.rows}", "\n".join(lines) + "\n", report)
    return report


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]  # fmt: skip


def paint(args: argparse.Namespace) -> dict[str, Any]:
    """First paint of /map in headless chromium (software WebGL): from the navigation's
    start to the renderer's first frame with points (``loupeMap.firstFrameMs``)."""
    from playwright.sync_api import sync_playwright

    data_dir = served_dataset(args)
    report: dict[str, Any] = {"rows": args.rows, "repeat": args.repeat, "runs": []}
    report["load_average_before"] = load_average()
    with Server(data_dir, args.out / "map-paint-server.log") as server:
        import httpx

        httpx.get(f"{server.url}/api/map", params={"ds": SERVED}, timeout=600).raise_for_status()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for run in range(args.repeat + 1):  # the first run warms the server
                    context = browser.new_context(viewport={"width": 1366, "height": 900})
                    page = context.new_page()
                    page.goto(f"{server.url}/map?ds={SERVED}", wait_until="commit")
                    deadline = time.monotonic() + 300
                    while time.monotonic() < deadline:
                        state = page.evaluate(
                            "() => window.loupeMap ? {first: loupeMap.firstFrameMs, loaded: "
                            "loupeMap.loadedMs, bytes: loupeMap.payloadBytes, drawn: "
                            "loupeMap.pointsDrawn, error: loupeMap.error, presented: "
                            "loupeMap.firstPresentedMs} : null"
                        )
                        if state and (state["presented"] is not None or state["error"]):
                            break
                        page.wait_for_timeout(50)
                    else:
                        raise SystemExit("the map drew no frame within 300 s")
                    if state["error"]:
                        raise SystemExit(f"the map failed: {state['error']}")
                    context.close()
                    if run:
                        report["runs"].append(state)
                    else:
                        report["cold"] = state
                    print(f"run {run}: first frame {state['first']:.0f} ms", file=sys.stderr)
            finally:
                browser.close()
    runs = report["runs"]
    report["first_frame_ms"] = percentiles([r["first"] for r in runs])
    report["loaded_ms"] = percentiles([r["loaded"] for r in runs])
    report["presented_ms"] = percentiles([r["presented"] for r in runs])
    report["points"] = runs[-1]["drawn"]
    report["bytes"] = runs[-1]["bytes"]
    report["load_average_after"] = load_average()
    report["machine"] = machine()
    report["when"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    first, loaded = report["first_frame_ms"], report["loaded_ms"]
    shown = report["presented_ms"]
    lines = [
        f"### Map first paint, {report['points']:,} points, headless chromium",
        "",
        "Debian chromium, WebGL in software (SwiftShader), 1366 x 900; a new browser context "
        f"per run, {args.repeat} runs after one warm-up of the server.",
        "",
        "| what | p50 ms | p95 ms |",
        "|---|---:|---:|",
        f"| navigation start → first frame with every point drawn | {first['p50']} | "
        f"{first['p95']} |",
        f"| of which: the script's fetch and decode of /api/map + points | {loaded['p50']} | "
        f"{loaded['p95']} |",
        f"| navigation start → the compositor's next frame | {shown['p50']} | {shown['p95']} |",
        "",
        f"- The first run after the server started (not in the table): first frame at "
        f"{report['cold']['first']:,.0f} ms (the server reads the visible points and their "
        "colours once, chromium compiles the shaders).",
        f"- Payload: {report['bytes']:,} bytes.",
        f"- Load average before / after: {report['load_average_before']} / "
        f"{report['load_average_after']}.",
        f"- Machine: {report['machine']}; {report['when']}.",
    ]
    write_report(args.out, f"map-paint-{args.rows}", "\n".join(lines) + "\n", report)
    return report


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out")
    parser.add_argument(
        "--workdir", type=Path, default=REPO_ROOT / "bench" / "out" / "work", help="data folder"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    sections = parser.add_subparsers(dest="section", required=True)

    lay = sections.add_parser("layout", help="time the 2-D layout and its clusters")
    lay.add_argument("--rows", type=int, default=1_000_000, help="vectors (default 1M)")
    lay.add_argument("--centres", type=int, default=300, help="centres the vectors surround")
    lay.add_argument(
        "--sample", type=int, default=None, help="UMAP sample size (default: the layout's)"
    )
    lay.add_argument("--chunk-rows", type=int, default=None, help="vectors placed per chunk")
    lay.add_argument("--keep", action="store_true", help="keep (and reuse) the vectors")
    lay.add_argument(
        "--catalog",
        type=Path,
        default=None,
        help="a bench/browse.py dataset folder of --rows rows: label clusters from its captions",
    )
    lay.set_defaults(run=layout)

    for name, run, text in (
        ("prepare", prepare, "build the served dataset that payload and paint use"),
        ("payload", payload, "bytes and transfer time of the points payload (real server)"),
        ("paint", paint, "first paint of /map in headless chromium"),
    ):
        section = sections.add_parser(name, help=text)
        section.add_argument("--rows", type=int, default=1_000_000)
        section.add_argument("--centres", type=int, default=300)
        section.add_argument("--sample", type=int, default=None, help="UMAP sample size")
        section.add_argument("--repeat", type=int, default=10, help="timed runs")
        section.add_argument("--keep", action="store_true", help="reuse a complete dataset")
        section.set_defaults(run=run)
    args = parser.parse_args(argv)
    if args.section in ("layout", "prepare", "payload", "paint"):
        from app.vectors import layout as vlayout

        if args.rows < 100:
            parser.error("--rows must be at least 100")
        args.sample = args.sample or vlayout.DEFAULT_SAMPLE_SIZE
        args.chunk_rows = getattr(args, "chunk_rows", None) or vlayout.DEFAULT_CHUNK_ROWS
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    main()
