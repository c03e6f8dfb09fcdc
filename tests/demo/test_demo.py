"""The demo dataset: deterministic, offline, realistic enough to exercise every part of Loupe."""

from __future__ import annotations

import hashlib
import io
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from app.demo import images as demo_images
from app.demo.build import DEFAULT_RECORDS, DemoSource, build_demo_source

SMALL = 200


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSource, float]:
    """The default demo source (1200 records), built once for this module, and its build time."""
    started = time.perf_counter()
    source = build_demo_source(tmp_path_factory.mktemp("demo-full"))
    return source, time.perf_counter() - started


@pytest.fixture(scope="module")
def rows(full) -> list[dict]:
    return pq.read_table(full[0].parquet).to_pylist()


@pytest.fixture(scope="module")
def provenance(full) -> dict[int, dict]:
    return {r["SAMPLE_ID"]: r for r in pq.read_table(full[0].provenance).to_pylist()}


def _image_md5s(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_same_rows_and_same_image_bytes(tmp_path):
    first = build_demo_source(tmp_path / "a", seed=7, n_records=SMALL)
    second = build_demo_source(tmp_path / "b", seed=7, n_records=SMALL)
    assert pq.read_table(first.parquet).equals(pq.read_table(second.parquet))
    assert first.parquet.read_bytes() == second.parquet.read_bytes()
    assert first.provenance.read_bytes() == second.provenance.read_bytes()
    assert _image_md5s(first.images_dir) == _image_md5s(second.images_dir)


def test_another_seed_gives_another_dataset(tmp_path):
    first = build_demo_source(tmp_path / "a", seed=1, n_records=SMALL)
    second = build_demo_source(tmp_path / "b", seed=2, n_records=SMALL)
    assert pq.read_table(first.parquet)["TEXT"] != pq.read_table(second.parquet)["TEXT"]


def test_tiny_builds_work(tmp_path):
    source = build_demo_source(tmp_path, seed=3, n_records=1)
    assert pq.read_table(source.parquet).num_rows == 1
    assert len(list(source.images_dir.iterdir())) == 1
    with pytest.raises(ValueError):
        build_demo_source(tmp_path / "none", n_records=0)


# --- offline ------------------------------------------------------------------------------------


def test_every_base_image_loads_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the demo tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    demo_images.load_base.cache_clear()
    try:
        for base in demo_images.BASE_IMAGES:
            image = demo_images.load_base(base.key)
            assert image.mode == "RGB"
            assert 64 <= max(image.size) <= demo_images.MAX_SIDE, base.key
            assert base.credit and base.licence and base.origin
    finally:
        demo_images.load_base.cache_clear()


# --- the default build --------------------------------------------------------------------------


def test_default_build_is_quick_and_large_enough(full, rows):
    _, seconds = full
    assert len(rows) == DEFAULT_RECORDS >= 1000
    assert seconds < 60, f"building the demo source took {seconds:.1f} s"


def test_columns_have_laion_names_and_types(full):
    schema = pq.read_schema(full[0].parquet)
    expected = {
        "SAMPLE_ID": "int64",
        "URL": "string",
        "TEXT": "string",
        "LANGUAGE": "string",
        "WIDTH": "int64",
        "HEIGHT": "int64",
        "LICENSE": "string",
        "NSFW": "string",
        "similarity": "double",
        "punsafe": "double",
        "pwatermark": "double",
        "aesthetic": "double",
        "md5": "string",
        "hash": "int64",
    }
    assert {f.name: str(f.type) for f in schema} == expected


def test_ids_and_urls_are_unique(rows):
    assert len({r["SAMPLE_ID"] for r in rows}) == len(rows)
    assert len({r["URL"] for r in rows}) == len(rows)


def test_every_image_decodes_matches_its_size_and_md5(full, rows):
    folder = full[0].images_dir
    assert len(list(folder.iterdir())) == len(rows)
    for row in rows:
        data = (folder / f"{row['SAMPLE_ID']}.jpg").read_bytes()
        assert hashlib.md5(data).hexdigest() == row["md5"]
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG"
            image.load()
            assert image.size == (row["WIDTH"], row["HEIGHT"])
            assert max(image.size) <= demo_images.MAX_SIDE


def test_urls_only_name_example_hosts(rows):
    hosts = [urlparse(r["URL"]).hostname or "" for r in rows]
    assert all(r["URL"].startswith("https://") for r in rows)
    assert all(h.endswith(".example") for h in hosts)
    counts = sorted((hosts.count(h) for h in set(hosts)), reverse=True)
    assert len(counts) >= 25
    assert counts[0] > 5 * counts[-1]  # a skewed mix: big hosts and a long tail


def test_captions_come_in_many_languages_with_english_the_majority(rows):
    languages = [r["LANGUAGE"] for r in rows]
    known = {lang for lang in languages if lang}
    assert len(known) >= 6
    assert languages.count("en") > len(rows) / 2
    assert {"de", "fr", "es", "ja", "zh"} <= known
    assert any(lang is None for lang in languages)  # LAION-1B-nolang style captions
    assert any("ス" in r["TEXT"] or "の" in r["TEXT"] for r in rows if r["LANGUAGE"] == "ja")


def test_some_captions_need_html_escaping(rows):
    texts = [r["TEXT"] for r in rows]
    assert any("<" in t and ">" in t for t in texts)
    assert any("&" in t for t in texts)
    assert any('"' in t for t in texts)
    assert any("'" in t for t in texts)


def test_captions_describe_their_base_image(rows, provenance):
    english = [r for r in rows if r["LANGUAGE"] == "en"]
    cats = [r for r in english if provenance[r["SAMPLE_ID"]]["base"] == "chelsea"]
    assert cats
    assert sum(
        ("cat" in r["TEXT"].lower()) or ("kitten" in r["TEXT"].lower()) for r in cats
    ) >= 0.8 * len(cats)


def test_score_distributions_look_like_laion(rows):
    sim = np.array([r["similarity"] for r in rows])
    english = np.array([r["LANGUAGE"] == "en" for r in rows])
    assert sim[english].min() >= 0.28
    assert sim.min() >= 0.26
    assert abs(sim[english].mean() - 0.32) < 0.01

    punsafe = np.array([r["punsafe"] for r in rows])
    assert ((0 <= punsafe) & (punsafe <= 1)).all()
    assert 0.03 <= (punsafe > 0.5).mean() <= 0.12
    assert np.median(punsafe) < 0.05
    for row in rows:
        expected = (
            "UNLIKELY" if row["punsafe"] < 0.5 else "UNSURE" if row["punsafe"] < 0.8 else "NSFW"
        )
        assert row["NSFW"] == expected

    watermark = np.array([r["pwatermark"] for r in rows])
    assert 0.05 <= (watermark > 0.5).mean() <= 0.2
    stock = np.array(["stock" in r["TEXT"].lower() for r in rows])
    assert stock.any()
    assert watermark[stock].mean() > watermark[~stock].mean() + 0.15

    aesthetic = np.array([r["aesthetic"] for r in rows])
    assert ((1 <= aesthetic) & (aesthetic <= 10)).all()
    assert 4.9 < aesthetic.mean() < 5.7
    assert 0.5 < aesthetic.std() < 1.1

    licences = [r["LICENSE"] for r in rows]
    assert licences.count("?") > 0.8 * len(rows)
    assert all(lic == "?" or lic.startswith("https://creativecommons.org/") for lic in licences)


def _thumb(folder: Path, sample_id: int) -> np.ndarray:
    with Image.open(folder / f"{sample_id}.jpg") as image:
        return np.asarray(image.convert("L").resize((16, 16)), dtype=float)


def test_near_duplicate_groups_hold_real_near_duplicates(full, rows, provenance):
    folder = full[0].images_dir
    by_id = {r["SAMPLE_ID"]: r for r in rows}
    groups: dict[int, list[dict]] = {}
    for item in provenance.values():
        groups.setdefault(item["dup_group"], []).append(item)
    clusters = [g for g in groups.values() if len(g) > 1]
    assert len(clusters) >= 50
    kinds = {item["dup_kind"] for g in clusters for item in g}
    assert kinds >= {"original", "copy", "requality", "trim", "rescale", "watermark"}

    near, far = [], []
    ids = sorted(provenance)
    for group in clusters:
        original = next((i for i in group if i["dup_kind"] == "original"), None)
        if original is None:
            continue  # the cut at n_records can drop an original
        for item in group:
            if item is original:
                continue
            if item["dup_kind"] == "copy":
                assert by_id[item["SAMPLE_ID"]]["md5"] == by_id[original["SAMPLE_ID"]]["md5"]
            if item["dup_kind"] in ("copy", "requality", "rescale", "trim"):
                near.append(
                    np.abs(
                        _thumb(folder, item["SAMPLE_ID"]) - _thumb(folder, original["SAMPLE_ID"])
                    ).mean()
                )
        other = ids[(ids.index(original["SAMPLE_ID"]) + 97) % len(ids)]
        if provenance[other]["base"] != original["base"]:
            far.append(np.abs(_thumb(folder, other) - _thumb(folder, original["SAMPLE_ID"])).mean())
    # Same picture, slightly changed: pixels agree far better than with an unrelated picture.
    assert np.median(near) < 8
    assert np.median(far) > 4 * np.median(near)


# --- `loupe demo` -------------------------------------------------------------------------------


CLI_RECORDS = 80


@pytest.mark.slow
def test_loupe_demo_builds_once_then_rebuilds_with_force(tmp_path, monkeypatch):
    import duckdb
    from bs4 import BeautifulSoup
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from app.catalog.layout import DatasetPaths
    from app.catalog.manifest import read_manifest
    from app.cli import app as cli_app
    from app.config import Settings
    from app.main import create_app

    data_dir = tmp_path / "data"
    monkeypatch.setenv("LOUPE_DATA_DIR", str(data_dir))
    runner = CliRunner()

    # A small demo: the records are the same recipe, and embedding 1,200 images would take
    # most of the test's time.
    result = runner.invoke(cli_app, ["demo", "--records", str(CLI_RECORDS)])
    assert result.exit_code == 0, result.output
    assert "Built the demo dataset" in result.output
    paths = DatasetPaths(data_dir / "demo")
    assert paths.exists()
    manifest = read_manifest(paths.manifest)
    assert manifest.row_count == CLI_RECORDS
    assert manifest.parts["vectors"]["image"]["count"] == CLI_RECORDS
    assert manifest.title == "Loupe demo" and manifest.description
    assert manifest.source_format == "laion"
    assert len(list(paths.images.iterdir())) == CLI_RECORDS
    assert (paths.root / "demo_provenance.parquet").is_file()
    # The temporary source folder is gone; only the dataset is left.
    assert sorted(p.name for p in data_dir.iterdir()) == ["demo"]
    con = duckdb.connect(str(paths.catalog), read_only=True)
    try:
        languages = con.execute("SELECT count(DISTINCT language) FROM records").fetchall()[0][0]
        domains = con.execute(
            "SELECT count(*) FROM records WHERE domain NOT LIKE '%.example'"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert languages >= 6 and domains == 0

    again = runner.invoke(cli_app, ["demo"])
    assert again.exit_code == 0
    assert "already exists" in again.output
    assert read_manifest(paths.manifest).built_at == manifest.built_at

    # The web app opens the demo and shows a caption full of markup as text, not as markup.
    settings = Settings(data_dir=data_dir, state_dir=tmp_path / "state")
    with TestClient(create_app(settings)) as client:
        response = client.get("/", params={"q": "alert"})
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    assert 'alert("x")' in page.get_text() or "onerror=alert(1)" in page.get_text()
    assert not any("alert" in (s.string or "") for s in page.find_all("script"))
    assert not page.find_all("img", attrs={"onerror": True})

    forced = runner.invoke(cli_app, ["demo", "--force", "--records", str(CLI_RECORDS)])
    assert forced.exit_code == 0, forced.output
    rebuilt = read_manifest(paths.manifest)
    assert rebuilt.row_count == CLI_RECORDS
    assert sorted(p.name for p in data_dir.iterdir()) == ["demo"]


def test_loupe_demo_names_an_unwritable_data_folder(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from app.cli import app as cli_app

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("LOUPE_DATA_DIR", str(not_a_folder / "data"))
    result = CliRunner().invoke(cli_app, ["demo"])
    assert result.exit_code == 2
    assert "cannot write to the data folder" in result.output
    assert str(not_a_folder / "data") in result.output
