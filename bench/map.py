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
    from app.vectors import store

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
    return time.perf_counter() - started


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
    args = parser.parse_args(argv)
    if args.section == "layout":
        from app.vectors import layout as vlayout

        if args.rows < 100:
            parser.error("--rows must be at least 100")
        args.sample = args.sample or vlayout.DEFAULT_SAMPLE_SIZE
        args.chunk_rows = args.chunk_rows or vlayout.DEFAULT_CHUNK_ROWS
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    main()
