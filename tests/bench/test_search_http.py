"""bench/search.py --catalog: the vectors' dataset borrows a real catalog's rows."""

from __future__ import annotations

import pytest

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest
from bench.search_http import link_catalog


def test_link_catalog_shares_the_rows_and_checks_the_count(tiny_data_dir, tmp_path) -> None:
    source = DatasetPaths(tiny_data_dir / "tiny")
    root = tmp_path / "data" / "bench"
    link_catalog(root, source.root, 120)
    linked = DatasetPaths(root)
    for part in ("catalog", "rows", "text_index"):
        assert getattr(linked, part).resolve() == getattr(source, part).resolve()
    manifest = read_manifest(linked.manifest)
    assert manifest.name == "bench" and manifest.row_count == 120
    assert manifest.built_at == read_manifest(source.manifest).built_at  # vectors align on it
    with pytest.raises(SystemExit, match="120 rows, not --n 1,000"):
        link_catalog(tmp_path / "other" / "bench", source.root, 1_000)
