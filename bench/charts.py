"""Charts benchmark: what the grid's sidebar charts and the overview cost, end to end.

    python bench/charts.py                        # 1,000,000 rows, 30 timed runs each
    python bench/charts.py --rows 10000000 --keep # reuse the parquet and dataset of a past run

Times, through the real app over ASGI (``create_app`` and httpx's TestClient, as a browser's
request would be answered, HTML included):
  - ``/histograms`` as htmx asks for it, under filters that change every run (the selection's
    four histograms, the whole dataset's, kept per hidden-set version, and the SVG charts);
  - the SVG part alone: ``score_charts`` plus the partial's template, on histograms in hand;
  - ``/overview`` (four histograms, three facet charts, link and flag figures).
Prints p50/p95 in milliseconds and the load average (``os.getloadavg()``) before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/charts.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datagen import generate_laion_parquet  # noqa: E402

DATASET = "laion"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed(label: str, runs: int, call: Callable[[int], object]) -> None:
    call(0)  # warm-up: first plan, first whole-dataset histograms
    samples = []
    for i in range(1, runs + 1):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    p50, p95 = percentiles(samples)
    print(f"| {label} | {p50:.1f} | {p95:.1f} | {runs} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("/tmp/loupe-bench-charts"))
    parser.add_argument("--keep", action="store_true", help="reuse data from a past run")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from app.build import build_dataset
    from app.catalog.filters import RecordFilter
    from app.config import Settings
    from app.main import create_app
    from app.web.charts import score_charts

    source = args.out / f"source-{args.rows}"
    generate_laion_parquet(source, args.rows, keep=args.keep)
    data_dir = args.out / f"data-{args.rows}"
    if not (args.keep and (data_dir / DATASET / "manifest.json").exists()):
        data_dir.mkdir(parents=True, exist_ok=True)
        build_dataset(data_dir, DATASET, [source], progress=False)
    settings = Settings(data_dir=data_dir, state_dir=args.out / "state")
    print(f"rows {args.rows:,}; load average before {os.getloadavg()}")
    print("| operation | p50 ms | p95 ms | runs |\n|---|---|---|---|")
    with TestClient(create_app(settings)) as client:
        htmx = {"HX-Request": "true"}

        def histograms(i: int) -> None:
            # A new filter every run: no plan and no answer is reused.
            params = {"punsafe_max": round(0.2 + 0.01 * (i % 60), 2), "aesthetic_min": 4 + i % 3}
            response = client.get("/histograms", params=params, headers=htmx)
            assert response.status_code == 200, response.text[:200]

        timed("/histograms (htmx), a new filter each run", args.repeat, histograms)

        workspace = client.app.state.workspace
        dataset = workspace.datasets[DATASET]
        explorer = workspace.explorer
        selection = RecordFilter(punsafe_max=0.3)
        hists = explorer.histograms(dataset, selection)
        whole = explorer.whole_histograms(dataset)
        templates = client.app.state.templates
        template = templates.env.get_template("partials/_histograms.html")

        class FakeRequest:  # what the partial reads from a request: its query
            def __init__(self) -> None:
                from starlette.datastructures import URL, QueryParams

                self.query_params = QueryParams("punsafe_max=0.3")
                self.url = URL("http://bench/histograms?punsafe_max=0.3")

        def svg_only(_: int) -> None:
            charts = score_charts(
                hists,
                selection,
                whole=whole,
                blur_threshold=0.5,
                base_query=[("punsafe_max", "0.3")],
            )
            template.render(charts=charts, request=FakeRequest())

        timed("SVG charts alone (geometry + template)", args.repeat, svg_only)
        timed(
            "whole-dataset histograms, computed",
            args.repeat,
            lambda _: explorer.histograms(dataset, RecordFilter()),
        )
        timed(
            "whole-dataset histograms, kept",
            args.repeat,
            lambda _: explorer.whole_histograms(dataset),
        )

        def overview(_: int) -> None:
            assert client.get("/overview").status_code == 200

        timed("/overview", args.repeat, overview)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
