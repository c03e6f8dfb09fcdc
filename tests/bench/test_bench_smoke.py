"""The browse benchmark runs end to end on a tiny dataset, so `make bench` cannot rot unseen."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pytest

from bench import datagen
from bench.browse import main


def test_chunks_are_deterministic_and_laion_shaped() -> None:
    first = datagen.laion_chunk(3, 0, 5_000, 1_000)
    assert first.equals(datagen.laion_chunk(3, 0, 5_000, 1_000))
    assert first.schema == datagen.SCHEMA
    assert first.num_rows == 5_000
    ids = first.column("SAMPLE_ID").to_numpy()
    assert len(np.unique(ids)) == len(ids)
    language = first.column("LANGUAGE")
    english = pc.fill_null(pc.equal(language, "en"), False).to_numpy(zero_copy_only=False)
    similarity = first.column("similarity").to_numpy()
    assert similarity[english].min() >= 0.28
    assert similarity.min() >= 0.26
    assert 0.38 < english.mean() < 0.52
    assert 0.03 < language.null_count / first.num_rows < 0.15
    punsafe = first.column("punsafe").to_numpy()
    assert np.median(punsafe) < 0.1 and (punsafe > 0.5).any()
    assert 4.9 < first.column("aesthetic").to_numpy().mean() < 5.5
    assert set(pc.utf8_length(first.column("md5")).to_pylist()) == {32}
    assert pc.all(pc.starts_with(first.column("URL"), "http")).as_py()
    licences = pc.value_counts(first.column("LICENSE")).to_pylist()
    assert max(licences, key=lambda v: v["counts"])["values"] == "?"
    assert pc.min(pc.utf8_length(first.column("TEXT"))).as_py() > 0


@pytest.mark.slow
def test_browse_bench_smoke(tmp_path, capsys) -> None:
    out = tmp_path / "bench"
    report = main(
        ["--rows", "20000", "--repeat", "2", "--warmup", "1", "--ingest-runs", "2"]
        + ["--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert "| operation | p50 ms | p95 ms | target (p50) | met? |" in printed
    operations = [row.operation for row in report.rows]
    for expected in (
        "metadata ingest",
        "caption text index build",
        "filtered first page",
        "OFFSET 100,000",
        "keyset cursor",
        "count under filters",
        "Explorer.facets",
        "Explorer.histograms",
        "caption search, rare word",
        "50 rows by sample_id",
        "random sample",
        "HTTP GET /api/records",
    ):
        assert any(expected in op for op in operations), expected
    timed = [row for row in report.rows if row.samples_ms]
    assert len(timed) >= 25
    assert all(len(row.samples_ms) == 2 and row.p50_ms > 0 for row in timed)
    saved = json.loads((out / "results-20000.json").read_text())
    assert len(saved["rows"]) == len(report.rows)
    ingest_row = next(row for row in report.rows if "metadata ingest" in row.operation)
    assert "median of 2 builds" in ingest_row.operation
    assert not (out / "ingest-runs").exists()  # the scratch builds are removed
    assert (out / "results-20000.md").read_text().startswith("### 20,000 rows")

    # --keep reuses the generated parquet and the ingested dataset.
    again = main(
        [
            "--rows",
            "20000",
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--out",
            str(out),
            "--keep",
            "--no-http",
        ]
    )
    assert any("reused" in note for note in again.notes)
    assert any("earlier run" in note for note in again.notes)


@pytest.mark.slow
def test_lab_bench_smoke(tmp_path, capsys) -> None:
    from bench.lab import main as lab_main

    report = lab_main(["--rows", "3000", "--repeat", "2", "--warmup", "0", "--out", str(tmp_path)])
    operations = [row.operation for row in report.rows]
    assert any("slider step" in op for op in operations)
    assert any("compare mode" in op for op in operations)
    assert all(row.p50_ms is not None for row in report.rows)
    assert (tmp_path / "lab-results-3000.md").is_file()
