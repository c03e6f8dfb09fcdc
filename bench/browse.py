"""Browse benchmark: generate N LAION-shaped rows, ingest them, time what the grid asks for.

    python bench/browse.py                       # 10,000,000 rows, 20 timed runs per operation
    python bench/browse.py --rows 1000000 --keep # reuse the parquet and dataset of a past run

Everything is opened exactly as the server opens it (``create_app`` + ``open_state``: one
DuckDB instance with the dataset attached read-only, the Explorer, the tantivy index) and the
timed calls are the ones the web routes make. Each operation runs ``--warmup`` times first,
then ``--repeat`` times with slightly different parameters (languages, thresholds, words,
seeds) so that no answer is served twice from a warm cache. Results are printed as a
Markdown table and written to ``<out>/results-<rows>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as `python bench/browse.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datagen import common_words, generate_laion_parquet, rare_words  # noqa: E402
from bench.servers import free_port, stop, wait_ready  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASET = "laion"
PAGE = 50
# Filter variants cycled through the runs: (languages, aesthetic_min, punsafe_max).
LANGS = ("de", "fr", "es", "it", "pt", "nl", "ru", "ja", "pl", "zh")
AESTHETIC_MIN = (5.0, 4.5, 5.5, 5.2)
PUNSAFE_MAX = (0.3, 0.2, 0.5, 0.4, 0.25)
# Deep pages need enough matches at 1M rows too: English plus one other language.
DEEP_LANGS = (("en",), ("en", "de"), ("en", "fr"), ("en", "es"), ("en", "it"))
SEARCH_LANGS = ("en", "de", "fr", "es", "it", "pt", "nl", "pl")
RARE_WORD_RANK = 2_000

TARGETS_MS = {
    "page": 10.0,
    "deep": 20.0,
    "count": 50.0,
    "facets": 50.0,
    "histogram": 50.0,
    "search": 20.0,
    "ids": 5.0,
}
INGEST_TARGET_ROWS_S = 500_000


@dataclass
class Row:
    """One line of the result table."""

    operation: str
    p50: str
    p95: str = "–"
    target: str = "–"
    met: str = "–"
    p50_ms: float | None = None
    p95_ms: float | None = None
    samples_ms: list[float] = field(default_factory=list)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _vary(values: Sequence[Any], i: int) -> Any:
    return values[i % len(values)]


def timed(
    report: Report,
    operation: str,
    run: Callable[[int], Any],
    *,
    repeat: int,
    warmup: int,
    target: str | None = None,
) -> Row:
    """Call ``run(i)`` ``warmup`` times, then ``repeat`` timed times; add a row to ``report``."""
    print(f"  {operation} ...", file=sys.stderr, flush=True)
    for i in range(warmup):
        run(repeat + i)
    samples: list[float] = []
    for i in range(repeat):
        started = time.perf_counter()
        run(i)
        samples.append((time.perf_counter() - started) * 1000)
    p50, p95 = (float(v) for v in np.percentile(samples, [50, 95]))
    row = Row(operation, _ms(p50), _ms(p95), p50_ms=p50, p95_ms=p95, samples_ms=samples)
    if target is not None:
        limit = TARGETS_MS[target]
        row.target = f"≤ {limit:g} ms"
        row.met = "yes" if p50 <= limit else "**no**"
    report.rows.append(row)
    return row


# --- the three stages ---------------------------------------------------------------------------


def generate(args: argparse.Namespace, report: Report) -> Path:
    folder = args.out / f"parquet-{args.rows}"
    print(f"generating {args.rows:,} rows in {folder} ...", file=sys.stderr, flush=True)
    generated = generate_laion_parquet(folder, args.rows, seed=args.seed, keep=args.keep)
    size = sum(f.stat().st_size for f in generated.files)
    how = "reused from an earlier run, generated in" if generated.reused else "generated in"
    line = (
        f"Parquet: {args.rows:,} rows in {len(generated.files)} files, {size / 2**20:,.0f} MiB, "
        f"{how} {generated.seconds:.1f} s ({args.rows / generated.seconds:,.0f} rows/s)."
    )
    print(line)
    report.notes.append(line)
    return folder


def ingest(args: argparse.Namespace, source: Path, report: Report) -> Path:
    from app.build import build_dataset
    from app.catalog.layout import DatasetPaths
    from app.catalog.manifest import read_manifest

    data_dir = args.out / f"data-{args.rows}"
    paths = DatasetPaths(data_dir / DATASET)
    sources = sorted(str(p.resolve()) for p in source.glob("part-*.parquet"))
    reused = False
    if args.keep and paths.exists():
        manifest = read_manifest(paths.manifest)
        newest_source = max(Path(s).stat().st_mtime for s in sources)
        reused = (
            manifest.row_count == args.rows
            and sorted(manifest.source_files) == sources
            and paths.manifest.stat().st_mtime > newest_source
        )
    if not reused:
        print(f"ingesting into {paths.root} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        manifest = build_dataset(data_dir, DATASET, [source], progress=False)
        wall = time.perf_counter() - started
        report.notes.append(f"Ingest wall time (inspect + catalog + text index): {wall:.1f} s.")
    else:
        report.notes.append("Ingest figures are from the manifest of an earlier run (--keep).")
    builds = [manifest, *catalog_builds(args, source)]
    for number, build in enumerate(builds, 1):
        steps = build.parts["ingest"].get("step_seconds") or {}
        shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items())
        report.notes.append(f"Catalog build {number} of {len(builds)}: {shown}.")
    seconds = sorted(float(b.parts["ingest"]["catalog_seconds"]) for b in builds)
    catalog_s = float(np.median(seconds))
    text_s = manifest.text_index_seconds
    rows_s = manifest.row_count / catalog_s
    report.rows.append(
        Row(
            "metadata ingest (parquet -> row store + sorted DuckDB catalog), "
            f"median of {len(builds)} builds",
            f"{rows_s:,.0f} rows/s ({catalog_s:.1f} s; {seconds[0]:.1f}–{seconds[-1]:.1f} s)",
            target=f"≥ {INGEST_TARGET_ROWS_S:,} rows/s",
            met="yes" if rows_s >= INGEST_TARGET_ROWS_S else "**no**",
        )
    )
    if text_s is not None:
        report.rows.append(
            Row(
                "caption text index build (tantivy), reported apart",
                f"{text_s:.1f} s ({manifest.row_count / text_s:,.0f} rows/s)",
            )
        )
    sizes = {
        "catalog.duckdb": paths.catalog.stat().st_size,
        "rows/": sum(f.stat().st_size for f in paths.rows.rglob("*") if f.is_file()),
        "text/": sum(f.stat().st_size for f in paths.text_index.rglob("*") if f.is_file()),
    }
    report.notes.append(
        "On disk: "
        + ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in sizes.items())
        + f"; build_seconds in the manifest: {manifest.build_seconds:.1f} s."
    )
    return data_dir


def catalog_builds(args: argparse.Namespace, source: Path) -> list:
    """``--ingest-runs`` - 1 more builds of the catalog alone (no text index) into a scratch
    folder, each removed after: one build's time swings with the disk's write-back."""
    from app.build import build_dataset

    scratch = args.out / "ingest-runs"
    builds = []
    for number in range(max(args.ingest_runs - 1, 0)):
        print(f"catalog build {number + 2} of {args.ingest_runs} ...", file=sys.stderr, flush=True)
        shutil.rmtree(scratch, ignore_errors=True)
        builds.append(build_dataset(scratch, DATASET, [source], progress=False, text_index=False))
    shutil.rmtree(scratch, ignore_errors=True)
    return builds


def measure(args: argparse.Namespace, data_dir: Path, report: Report) -> None:
    from app.catalog.filters import RecordFilter
    from app.config import Settings
    from app.workspace import open_workspace

    settings = Settings(data_dir=data_dir, state_dir=args.out / "state")
    opened = time.perf_counter()
    workspace = open_workspace(settings)
    explorer = workspace.explorer
    catalog = workspace.catalog
    handle = workspace.datasets[DATASET]
    rows = handle.manifest.row_count
    report.notes.append(
        f"Opening the dataset as the server does took {(time.perf_counter() - opened) * 1000:.0f}"
        f" ms; DuckDB threads = {os.cpu_count()}."
    )
    repeat, warmup = args.repeat, args.warmup
    kw = {"repeat": repeat, "warmup": warmup}

    def page_filter(i: int) -> RecordFilter:
        return RecordFilter(
            lang=[_vary(LANGS, i)],
            aesthetic_min=_vary(AESTHETIC_MIN, i),
            punsafe_max=_vary(PUNSAFE_MAX, i),
        )

    def deep_filter(i: int) -> RecordFilter:
        return RecordFilter(
            lang=list(_vary(DEEP_LANGS, i)),
            aesthetic_min=_vary(AESTHETIC_MIN, i) - 0.5,
            punsafe_max=_vary(PUNSAFE_MAX, i),
        )

    def deep_key(i: int) -> int:
        """Runs with the same deep filter share a cursor."""
        return i % (len(DEEP_LANGS) * len(AESTHETIC_MIN) * len(PUNSAFE_MAX))

    def conditions(f: RecordFilter) -> list:
        return explorer.plan(handle, f).conditions

    # Matches of the filters, so that the deep offsets are known to lie inside the results.
    first = page_filter(0)
    deep = deep_filter(0)
    report.notes.append(
        f"Filters: first page e.g. lang=de, aesthetic ≥ 5, punsafe ≤ 0.3 "
        f"({catalog.count(DATASET, conditions(first)):,} matches); deep pages e.g. lang=en, "
        f"aesthetic ≥ 4.5, punsafe ≤ 0.3 ({catalog.count(DATASET, conditions(deep)):,} matches). "
        "Each run varies the language and thresholds."
    )

    print("measuring ...", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    timed(
        report,
        "filtered first page, 50 rows, sort similarity (Explorer.browse: page + total count)",
        lambda i: explorer.browse(handle, page_filter(i), sort="similarity", limit=PAGE),
        target="page",
        **kw,
    )
    timed(
        report,
        "filtered first page, the page query alone (Catalog.page)",
        lambda i: catalog.page(DATASET, conditions(page_filter(i)), limit=PAGE),
        target="page",
        **kw,
    )
    for depth in (5_000, 100_000):
        timed(
            report,
            f"deep page by OFFSET {depth:,}, similarity order (Catalog.page)",
            lambda i, d=depth: catalog.page(
                DATASET, conditions(deep_filter(i)), limit=PAGE, offset=d
            ),
            target="deep",
            **kw,
        )
        # The keyset cursor a person following "next" links would hold at that depth.
        cursors: dict[int, int] = {}
        for i in range(repeat + warmup):
            if deep_key(i) not in cursors:
                found = catalog.page(DATASET, conditions(deep_filter(i)), limit=1, offset=depth - 1)
                cursors[deep_key(i)] = found.rows[0]["pos"] if found.rows else rows
        timed(
            report,
            f"deep page by keyset cursor after the {depth:,}th match (Catalog.page after=)",
            lambda i, c=cursors: catalog.page(
                DATASET, conditions(deep_filter(i)), limit=PAGE, after=c[deep_key(i)]
            ),
            target="deep",
            **kw,
        )
    timed(
        report,
        "deep page by OFFSET 5,000, sort aesthetic (Catalog.page, ORDER BY)",
        lambda i: catalog.page(
            DATASET, conditions(deep_filter(i)), sort="aesthetic", limit=PAGE, offset=5_000
        ),
        target="deep",
        **kw,
    )
    timed(
        report,
        "count under filters (Catalog.count)",
        lambda i: catalog.count(DATASET, conditions(page_filter(i))),
        target="count",
        **kw,
    )
    for column in ("language", "domain", "license"):
        timed(
            report,
            f"facet {column}, top 20 under the other filters (Catalog.facet)",
            lambda i, c=column: catalog.facet(
                DATASET, c, explorer.plan(handle, page_filter(i)).conditions_without(c)
            ),
            target="facets",
            **kw,
        )
    timed(
        report,
        "facets: language + domain + licence (Explorer.facets, what the page runs)",
        lambda i: explorer.facets(handle, page_filter(i)),
        target="facets",
        **kw,
    )
    timed(
        report,
        "20-bin histograms of all four scores under filters (Catalog.histograms)",
        lambda i: catalog.histograms(DATASET, conditions(page_filter(i))),
        target="histogram",
        **kw,
    )
    timed(
        report,
        "20-bin histograms of all four scores (Explorer.histograms)",
        lambda i: explorer.histograms(handle, page_filter(i)),
        target="histogram",
        **kw,
    )

    common = common_words()
    rare = rare_words(count=max(repeat + warmup, 1), rank=RARE_WORD_RANK, seed=args.seed)

    def search_filter(i: int, word_kind: str) -> RecordFilter:
        lang = _vary(SEARCH_LANGS, i)
        word = common[lang] if word_kind == "common" else rare[i % len(rare)]
        return RecordFilter(q=word, lang=[lang], punsafe_max=_vary(PUNSAFE_MAX, i))

    hits = {kind: explorer.count(handle, search_filter(0, kind)) for kind in ("common", "rare")}
    report.notes.append(
        f"Caption search: common word e.g. q={common['en']!r} + lang=en + punsafe ≤ 0.3 "
        f"({hits['common']:,} hits); rare word e.g. q={rare[0]!r} + lang=en ({hits['rare']:,} "
        f"hits; each rare word is in ~{RARE_WORD_RANK} th place of a Zipf long tail)."
    )
    for kind in ("common", "rare"):
        for sort in ("relevance", "similarity"):
            timed(
                report,
                f"caption search, {kind} word + lang + punsafe, sort {sort} (Explorer.browse)",
                lambda i, k=kind, s=sort: explorer.browse(
                    handle, search_filter(i, k), sort=s, limit=PAGE
                ),
                target="search",
                **kw,
            )
    timed(
        report,
        "facets of a caption search, common word (Explorer.facets with q)",
        lambda i: explorer.facets(handle, search_filter(i, "common")),
        target="facets",
        **kw,
    )
    timed(
        report,
        "histograms of a caption search, common word (Explorer.histograms with q)",
        lambda i: explorer.histograms(handle, search_filter(i, "common")),
        target="histogram",
        **kw,
    )

    # The plan's reuse of text hits. A caption search with a substring (engine text_hits) looks
    # up its best text hits once for the page; the count and histograms the grid loads next
    # read the same plan. Answers are cleared before each call so nothing but the plan is kept.
    def substring_filter(i: int) -> RecordFilter:
        lang = _vary(SEARCH_LANGS, i)
        return RecordFilter(q=common[lang], contains=common[lang][:3], lang=[lang])

    def page_count_histograms(i: int, *, keep_plan: bool) -> None:
        record_filter = substring_filter(i)
        for ask in (
            lambda: explorer.browse(handle, record_filter, sort="relevance", limit=PAGE),
            lambda: explorer.count(handle, record_filter),
            lambda: explorer.histograms(handle, record_filter),
        ):
            explorer.answers.clear()
            if not keep_plan:
                explorer.plans.clear()
            ask()

    searches = explorer.plan(handle, substring_filter(0))
    page_count_histograms(0, keep_plan=True)
    report.notes.append(
        f"Text hits reused: a caption search with a substring (engine {searches.engine}) "
        f"searched the text index {searches.searches} time(s) for its page, count and "
        "histograms on one plan."
    )
    for keep_plan, label in (
        (True, "one plan: text hits searched once"),
        (False, "a new plan each: searched three times"),
    ):
        timed(
            report,
            f"caption search + substring: page, count, histograms ({label})",
            lambda i, k=keep_plan: page_count_histograms(i, keep_plan=k),
            **kw,
        )

    rng = np.random.default_rng(args.seed)
    id_sets: list[list[str]] = []
    for _ in range(repeat + warmup):
        positions = sorted(int(p) for p in rng.choice(rows, size=min(PAGE, rows), replace=False))
        found = catalog.rows_by_positions(DATASET, positions)
        id_sets.append([str(r["sample_id"]) for r in found])
    rng.shuffle(id_sets)
    timed(
        report,
        "50 rows by sample_id (Catalog.rows_by_ids)",
        lambda i: catalog.rows_by_ids(DATASET, id_sets[i]),
        target="ids",
        **kw,
    )
    timed(
        report,
        "one record by sample_id (Explorer.record, the record page)",
        lambda i: explorer.record(handle, id_sets[i][0]),
        target="ids",
        **kw,
    )
    timed(
        report,
        "random sample of 50 under a filter, seed varies (Explorer.browse sort=random)",
        lambda i: explorer.browse(handle, page_filter(i), sort="random", limit=PAGE, seed=1000 + i),
        **kw,
    )
    timed(
        report,
        "random sample, the page query alone (Catalog.page sort=random)",
        lambda i: catalog.page(
            DATASET, conditions(page_filter(i)), sort="random", limit=PAGE, seed=1000 + i
        ),
        **kw,
    )
    workspace.close()
    if args.http:
        measure_http(args, data_dir, report, page_filter, search_filter)
    load_after = os.getloadavg()
    report.notes.append(
        f"Load average (1/5/15 min) when measuring began: {_loads(load_before)}; at the end: "
        f"{_loads(load_after)} (the machine is shared: a load above the core count inflates "
        "every figure)."
    )


def _loads(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def measure_http(
    args: argparse.Namespace,
    data_dir: Path,
    report: Report,
    page_filter: Callable[[int], Any],
    search_filter: Callable[[int, str], Any],
) -> None:
    """The same queries end to end: a real uvicorn process on 127.0.0.1, an httpx client."""
    import httpx

    port = free_port()
    env = {
        **os.environ,
        "LOUPE_DATA_DIR": str(data_dir.resolve()),
        "LOUPE_STATE_DIR": str((args.out / "state").resolve()),
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "app.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            wait_ready(client, "/api/datasets", server, None, 120)

            def get(path: str, f: Any, **extra: Any) -> None:
                params = [*_query_items(f), *((k, str(v)) for k, v in extra.items())]
                response = client.get(path, params=params)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {response.url} -> {response.status_code}")

            kw = {"repeat": args.repeat, "warmup": args.warmup}
            timed(
                report,
                "HTTP GET /api/records, filtered first page (uvicorn + httpx)",
                lambda i: get("/api/records", page_filter(i), size=PAGE),
                **kw,
            )
            timed(
                report,
                "HTTP GET /api/records?q=common word + filters",
                lambda i: get("/api/records", search_filter(i, "common"), size=PAGE),
                **kw,
            )
            timed(
                report,
                "HTTP GET /api/facets, filtered",
                lambda i: get("/api/facets", page_filter(i)),
                **kw,
            )
            timed(
                report,
                "HTTP GET / (full HTML grid page with facets), filtered",
                lambda i: get("/", page_filter(i), size=PAGE),
                **kw,
            )
    finally:
        stop(server)


def _query_items(record_filter: Any) -> list[tuple[str, str]]:
    """A RecordFilter as URL query items (the form's field names are the model's)."""
    items: list[tuple[str, str]] = []
    for name, value in record_filter.model_dump(exclude_none=True).items():
        values = value if isinstance(value, list) else [value]
        items.extend((name, str(v)) for v in values if v is not False and v != "")
    return items


# --- output -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import duckdb

    return (
        f"{cpu}, {cores} cores{memory}; Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}; {platform.system()} {platform.release()}"
    )


def markdown(report: Report, args: argparse.Namespace) -> str:
    lines = [
        f"### {args.rows:,} rows — p50/p95 over {args.repeat} runs ({args.warmup} warm-up)",
        "",
        "| operation | p50 ms | p95 ms | target (p50) | met? |",
        "|---|---:|---:|---|---|",
    ]
    for row in report.rows:
        lines.append(f"| {row.operation} | {row.p50} | {row.p95} | {row.target} | {row.met} |")
    lines.append("")
    lines.extend(f"- {note}" for note in report.notes)
    return "\n".join(lines) + "\n"


def write_results(report: Report, args: argparse.Namespace) -> None:
    text = markdown(report, args)
    print()
    print(text)
    (args.out / f"results-{args.rows}.md").write_text(text, encoding="utf-8")
    (args.out / f"results-{args.rows}.json").write_text(
        json.dumps(
            {"args": {**vars(args), "out": str(args.out)}, **asdict(report)},
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate LAION-shaped rows, ingest them, and time the browse queries."
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows to generate")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per operation")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "bench" / "out", help="working folder"
    )
    parser.add_argument(
        "--keep", action="store_true", help="reuse the parquet and dataset of an earlier run"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument(
        "--ingest-runs",
        type=int,
        default=3,
        help="catalog builds timed for the ingest rate (the median is reported)",
    )
    parser.add_argument(
        "--no-http", dest="http", action="store_false", help="skip the end-to-end HTTP timings"
    )
    args = parser.parse_args(argv)
    if args.rows < 1_000:
        parser.error("--rows must be at least 1000")
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> Report:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = Report()
    source = generate(args, report)
    data_dir = ingest(args, source, report)
    try:
        measure(args, data_dir, report)
    finally:  # a failure half-way still leaves the figures measured so far
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        report.notes.append(f"Peak resident memory of the bench process: {peak:.1f} GiB.")
        report.notes.append(f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.")
        write_results(report, args)
    return report


if __name__ == "__main__":
    main()
