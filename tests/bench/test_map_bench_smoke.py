"""bench/map.py's payload and paint sections run end to end on a small served dataset, so the
benchmark cannot rot unseen (a real server, a real chromium)."""

from __future__ import annotations

import pytest

from bench.map import main

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_payload_and_paint_run_on_a_small_dataset(tmp_path):
    common = ["--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    common += ["--no-progress"]
    size = ["--rows", "3000", "--sample", "600", "--repeat", "2", "--keep"]
    payload = main([*common, "payload", *size])
    assert payload["visible"] == payload["points"] == 3000
    full = payload["cases"][0]
    assert full["bytes"] > 3000 * 16 and full["p50"] > 0
    assert (tmp_path / "out" / "map-payload-3000.md").is_file()
    paint = main([*common, "paint", *size])
    assert paint["points"] == 3000 and paint["first_frame_ms"]["p50"] > 0
    assert (tmp_path / "out" / "map-paint-3000.md").is_file()
