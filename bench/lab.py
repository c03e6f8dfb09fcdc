"""Threshold lab benchmark: a slider step, compare mode, the words panel and the overview.

    python bench/lab.py                          # 10,000,000 rows (generated and ingested once)
    python bench/lab.py --rows 1000000 --keep    # reuse the parquet and dataset of a past run

The dataset is the browse benchmark's (bench/browse.py: same generator, same folder, so one
``--keep`` run serves both). Everything is opened through the workspace, as the server opens
it, and each timed call is what the route computes:

- a slider step: ``Lab.run`` — exact kept/dropped, composition, kept and dropped distributions
  and both boundary strips (rows included) — for a threshold moved by one step each run;
- compare mode: ``Lab.compare`` (A vs B: leaving/entering counts, a seeded sample, losses);
- the words panel (lazy, apart from the step): ``Lab.words``;
- the overview's data (``app.web.overview.overview_data``).

Targets at 10M rows (issue 10): slider step p50 ≤ 150 ms, p95 ≤ 300 ms; compare p50 ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/lab.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.browse import DATASET, REPO_ROOT, Report, _loads, generate, ingest, machine  # noqa: E402
from bench.browse import markdown as browse_markdown  # noqa: E402
from bench.browse import timed as browse_timed  # noqa: E402

TARGETS_MS = {"step": (150.0, 300.0), "compare": (300.0, None)}
# Thresholds a teacher moves, one step per run: (name, start, step).
SLIDES = (
    ("similarity_min", 0.28, 0.002),
    ("aesthetic_min", 4.5, 0.1),
    ("punsafe_max", 0.5, -0.01),
    ("pwatermark_max", 0.8, -0.01),
)


def timed(report: Report, operation: str, run, *, repeat: int, warmup: int, target: str | None):
    row = browse_timed(report, operation, run, repeat=repeat, warmup=warmup)
    if target is not None:
        p50_limit, p95_limit = TARGETS_MS[target]
        met = row.p50_ms is not None and row.p50_ms <= p50_limit
        row.target = f"p50 ≤ {p50_limit:g} ms"
        if p95_limit is not None:
            row.target += f", p95 ≤ {p95_limit:g} ms"
            met = met and row.p95_ms is not None and row.p95_ms <= p95_limit
        row.met = "yes" if met else "**no**"
    return row


def measure(args: argparse.Namespace, data_dir: Path, report: Report) -> None:
    from app.catalog.filters import RecordFilter
    from app.config import Settings
    from app.web.overview import overview_data
    from app.workspace import workspace

    settings = Settings(data_dir=data_dir, state_dir=args.out / "state")
    with workspace(settings) as ws:
        dataset = ws.dataset(DATASET)
        lab = ws.lab
        kw = {"repeat": args.repeat, "warmup": args.warmup}

        def step(i: int):
            name, start, delta = SLIDES[i % len(SLIDES)]
            thresholds = {"similarity_min": 0.28, "lang": ["en"]}
            thresholds[name] = round(start + delta * (i // len(SLIDES)), 4)
            return lab.run(dataset, RecordFilter(**thresholds), focus=name)

        first = step(0)
        report.notes.append(
            f"Slider step e.g. lang=en, similarity ≥ 0.28: {first.kept.count:,} kept, "
            f"{first.dropped.count:,} dropped of {first.total:,} (exact); boundary strips of "
            f"{len(first.just_kept)} + {len(first.just_dropped)} records; composition and "
            f"distributions {'from the 1 % sample' if first.composition_approximate else 'exact'}."
        )
        load_before = os.getloadavg()
        timed(
            report,
            "lab: slider step (Lab.run: counts, composition, distributions, strips)",
            step,
            target="step",
            **kw,
        )
        timed(
            report,
            "lab: counts alone (exact kept and dropped)",
            lambda i: lab.counts(dataset, RecordFilter(similarity_min=0.28 + 0.002 * i)),
            target=None,
            **kw,
        )

        def compare(i: int):
            a = RecordFilter(similarity_min=0.28)
            b = RecordFilter(similarity_min=round(0.30 + 0.002 * i, 4))
            return lab.compare(dataset, a, b, seed=i + 1)

        sample = compare(0)
        report.notes.append(
            f"Compare e.g. similarity 0.28 → 0.30: {sample.leaving:,} would leave; sample of "
            f"{len(sample.sample)}; losses "
            f"{'from the 1 % sample' if sample.losses_approximate else 'exact'}."
        )
        timed(report, "lab: compare mode A vs B (Lab.compare)", compare, target="compare", **kw)
        timed(
            report,
            "lab: caption words the drop over-represents (Lab.words, lazy panel)",
            lambda i: lab.words(dataset, RecordFilter(similarity_min=0.28 + 0.002 * i)),
            target=None,
            repeat=max(args.repeat // 4, 3),
            warmup=1,
        )
        timed(
            report,
            "overview data (facets, visible count, link rot, flags)",
            lambda i: overview_data(ws, dataset),
            target=None,
            **kw,
        )
        load_after = os.getloadavg()
    report.notes.append(
        f"Load average (1/5/15 min) when measuring began: {_loads(load_before)}; at the end: "
        f"{_loads(load_after)} (2 cores: a load above 2 inflates every figure)."
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the threshold lab on generated rows.")
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
    args = parser.parse_args(argv)
    args.ingest_runs = 1  # the ingest rate is browse.py's business
    args.http = False
    if args.rows < 1_000:
        parser.error("--rows must be at least 1000")
    return args


def main(argv: Sequence[str] | None = None) -> Report:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = Report()
    source = generate(args, report)
    data_dir = ingest(args, source, report)
    report.rows.clear()  # the ingest rows belong to bench/browse.py's table
    try:
        measure(args, data_dir, report)
    finally:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        report.notes.append(f"Peak resident memory of the bench process: {peak:.1f} GiB.")
        report.notes.append(f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.")
        text = browse_markdown(report, args)
        print()
        print(text)
        (args.out / f"lab-results-{args.rows}.md").write_text(text, encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
