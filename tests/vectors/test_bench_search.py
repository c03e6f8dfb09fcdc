"""bench/search.py runs end to end on a few thousand vectors, so it cannot rot unseen."""

from __future__ import annotations

import json

from bench.search import Generator, main


def test_generator_makes_neighbours_worth_finding():
    import numpy as np

    gen = Generator(20_000, 64)
    points = gen.points(2000, np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-5)
    scores = np.sort(points @ points.T, axis=1)[:, ::-1]
    # Clustered: the 10th neighbour is far closer than a random pair.
    assert np.median(scores[:, 10]) > 0.3 > np.median(scores[:, 1000])


def test_search_bench_smoke(tmp_path, capsys):
    report = main(
        [
            "--n",
            "4000",
            "--flat-threshold",
            "1000",
            "--queries",
            "12",
            "--no-progress",
            "--workdir",
            str(tmp_path / "work"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert report["index"]["type"] == "ivf-pq-fastscan"
    assert report["recall_at_50"] >= 0.9
    assert report["knn"]["p50_ms"] > 0 and "knn_cold" in report
    saved = json.loads((tmp_path / "out" / "search-4000.json").read_text())
    assert saved["n"] == 4000
    assert "| kNN p50 / p95 (warm) |" in capsys.readouterr().out
