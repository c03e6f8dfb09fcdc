"""bench/embed_hashing.py runs end to end on a tiny demo, so the figures in
docs/perceptual-hashing.md can be measured again."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_embed_hashing_bench_smoke(capsys) -> None:
    from bench.embed_hashing import main

    report = main(["--records", "24", "--workers", "1", "2", "--clip-sample", "0"])
    printed = capsys.readouterr().out
    assert "images/s" in printed and "load average at end" in printed
    assert set(report["hashing"]) == {1, 2}
    assert all(r["hashed"] == 24 for r in report["hashing"].values())
    assert set(report["draft"]) == {1024, 1600}
