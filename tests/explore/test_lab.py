"""The threshold lab's statistics, checked against numbers computed here with numpy and
pyarrow on generated data — rows exactly at a threshold included (LAION's rule is ≥)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from app.catalog.filters import RecordFilter
from app.config import Settings
from app.explore.lab import DISTRIBUTION_BINS, log_odds
from app.explore.pipeline import PresetError, load_presets
from app.main import create_app
from app.workspace import workspace
from tests.factories import laion_table

ROWS = 300
LANGS = ["en", "de", "fr", "ja"]


def scores(seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Multiples of 1/64 are exact in float32 and float64: "exactly at a threshold" is exact.
    similarity = np.round(rng.uniform(0.15, 0.45, ROWS) * 64) / 64
    similarity[:12] = 0.25  # a dozen records exactly at the threshold
    aesthetic = np.round(rng.normal(5.2, 0.9, ROWS) * 8) / 8
    aesthetic[12:20] = 5.0
    return {
        "similarity": similarity.astype(np.float32),
        "aesthetic": aesthetic.astype(np.float32),
        "punsafe": np.round(rng.beta(0.6, 6, ROWS) * 64).astype(np.float32) / 64,
        "width": rng.integers(100, 1500, ROWS).astype(np.int32),
    }


def captions(values: dict[str, np.ndarray]) -> list[str]:
    # Records under similarity 0.25 often say "blurry": the filter's taste shows in the words.
    out = []
    for i in range(ROWS):
        low = values["similarity"][i] < 0.25
        out.append(f"picture {i} of a {'blurry' if low and i % 3 else 'sunny'} harbour")
    return out


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray], list[str], list[str]]:
    from app.build import build_dataset

    values = scores()
    languages = [LANGS[i % 4] for i in range(ROWS)]
    texts = captions(values)
    table = laion_table(ROWS)
    replace = {
        "similarity": pa.array(values["similarity"], pa.float32()),
        "aesthetic": pa.array(values["aesthetic"], pa.float32()),
        "punsafe": pa.array(values["punsafe"], pa.float32()),
        "WIDTH": pa.array(values["width"], pa.int32()),
        "LANGUAGE": pa.array(languages),
        "TEXT": pa.array(texts),
    }
    for name, column in replace.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    root = tmp_path_factory.mktemp("lab")
    source = root / "src" / "part-0.parquet"
    source.parent.mkdir()
    pq.write_table(table, source)
    build_dataset(root / "indexes", "lab", [source], progress=False)
    return root / "indexes", values, languages, texts


@pytest.fixture(scope="module")
def opened(lab_data, tmp_path_factory):
    with workspace(
        Settings(data_dir=lab_data[0], state_dir=tmp_path_factory.mktemp("state"))
    ) as ws:
        yield ws


def kept_mask(values, languages, *, similarity_min=None, aesthetic_min=None, lang=None):
    mask = np.ones(ROWS, dtype=bool)
    if similarity_min is not None:
        mask &= values["similarity"] >= similarity_min
    if aesthetic_min is not None:
        mask &= values["aesthetic"] >= aesthetic_min
    if lang is not None:
        mask &= np.isin(np.array(languages), lang)
    return mask


def test_kept_and_dropped_are_exact_with_rows_at_the_threshold(opened, lab_data):
    _, values, languages, _ = lab_data
    thresholds = RecordFilter(similarity_min=0.25, aesthetic_min=5.0)
    result = opened.lab.run(opened.dataset("lab"), thresholds)
    mask = kept_mask(values, languages, similarity_min=0.25, aesthetic_min=5.0)
    assert result.total == ROWS
    assert result.kept.count == int(mask.sum())
    assert result.dropped.count == ROWS - int(mask.sum())
    assert result.kept.share == pytest.approx(mask.mean())
    # The twelve rows exactly at 0.25 count as kept where their aesthetic passes too.
    at_line = (values["similarity"] == 0.25) & (values["aesthetic"] >= 5.0)
    assert at_line.sum() > 0 and mask[at_line].all()


def test_composition_and_distributions_match_numpy(opened, lab_data):
    _, values, languages, _ = lab_data
    result = opened.lab.run(opened.dataset("lab"), RecordFilter(similarity_min=0.3))
    mask = kept_mask(values, languages, similarity_min=0.3)
    whole, kept = Counter(languages), Counter(np.array(languages)[mask].tolist())
    shifts = {s.value: s for s in result.composition["language"]}
    for lang in LANGS:
        assert shifts[lang].whole == whole[lang] and shifts[lang].kept == kept[lang]
        assert shifts[lang].kept_share == pytest.approx(kept[lang] / mask.sum())
    assert not result.composition_approximate
    (similarity,) = [d for d in result.distributions if d.score == "similarity"]
    edges = np.linspace(0.0, 0.5, DISTRIBUTION_BINS + 1)
    index = np.clip(
        np.floor(values["similarity"].astype(np.float64) / (0.5 / DISTRIBUTION_BINS)),
        0,
        DISTRIBUTION_BINS - 1,
    ).astype(int)
    assert similarity.kept == np.bincount(index[mask], minlength=DISTRIBUTION_BINS).tolist()
    assert similarity.dropped == np.bincount(index[~mask], minlength=DISTRIBUTION_BINS).tolist()
    assert similarity.edges[0] == edges[0] and similarity.edges[-1] == pytest.approx(edges[-1])


def test_boundary_strips_hold_the_nearest_records_on_each_side(opened, lab_data):
    _, values, languages, _ = lab_data
    thresholds = RecordFilter(similarity_min=0.3, lang=["en", "de"])
    result = opened.lab.run(opened.dataset("lab"), thresholds, focus="similarity_min")
    others = np.isin(np.array(languages), ["en", "de"])
    above = np.sort(values["similarity"][others & (values["similarity"] >= 0.3)])
    below = np.sort(values["similarity"][others & (values["similarity"] < 0.3)])[::-1]
    kept = [r["similarity"] for r in result.just_kept]
    dropped = [r["similarity"] for r in result.just_dropped]
    assert kept == pytest.approx(above[: len(kept)].tolist()) and len(kept) == 8
    assert dropped == pytest.approx(below[: len(dropped)].tolist()) and len(dropped) == 8
    assert all(r["language"] in ("en", "de") for r in result.just_kept + result.just_dropped)
    assert min(kept) >= 0.3 > max(dropped)


@pytest.mark.parametrize(
    ("focus", "thresholds"),
    [
        ("similarity_min", {"similarity_min": 0.3, "lang": ["en", "de"]}),
        ("aesthetic_min", {"aesthetic_min": 5.5, "similarity_min": 0.25}),
        ("punsafe_max", {"punsafe_max": 0.125}),
    ],
)
def test_the_band_of_a_sampled_dataset_finds_the_same_strips(
    opened, focus, thresholds, monkeypatch
):
    """A dataset of a million rows or more reads one band around the threshold, placed by its
    1 % sample; the strips are the ones the two exact top-N queries find. (300 rows have a
    sample of 3, too few to place a band: the whole table stands in for it here.)"""
    from app.catalog import splits
    from app.catalog.queries import _table

    dataset = opened.dataset("lab")
    exact = opened.lab.run(dataset, RecordFilter(**thresholds), focus=focus)
    monkeypatch.setattr(splits, "_sample_table", _table)
    searched_everywhere = []
    monkeypatch.setattr(splits, "nearest", lambda *a, **k: searched_everywhere.append(a) or [])
    opened.catalog.sampled.add(dataset.name)
    try:
        banded = opened.lab.run(dataset, RecordFilter(**thresholds), focus=focus)
    finally:
        opened.catalog.sampled.discard(dataset.name)
    assert [r["pos"] for r in banded.just_kept] == [r["pos"] for r in exact.just_kept]
    assert [r["pos"] for r in banded.just_dropped] == [r["pos"] for r in exact.just_dropped]
    assert len(exact.just_kept) == len(exact.just_dropped) == 8
    assert searched_everywhere == []  # both strips came from the band


def test_a_maximum_threshold_keeps_its_lower_side(opened, lab_data):
    _, values, _, _ = lab_data
    result = opened.lab.run(opened.dataset("lab"), RecordFilter(punsafe_max=0.125))
    assert result.kept.count == int((values["punsafe"] <= 0.125).sum())
    assert all(r["punsafe"] <= 0.125 for r in result.just_kept)
    assert all(r["punsafe"] > 0.125 for r in result.just_dropped)
    assert [r["punsafe"] for r in result.just_kept] == sorted(
        [r["punsafe"] for r in result.just_kept], reverse=True
    )


def test_compare_mode_counts_who_leaves_and_which_languages_lose_most(opened, lab_data):
    _, values, languages, _ = lab_data
    a, b = RecordFilter(similarity_min=0.25), RecordFilter(similarity_min=0.3)
    comparison = opened.lab.compare(opened.dataset("lab"), a, b, seed=3)
    in_a = kept_mask(values, languages, similarity_min=0.25)
    leaving = in_a & ~kept_mask(values, languages, similarity_min=0.3)
    assert comparison.leaving == int(leaving.sum()) and comparison.entering == 0
    assert len(comparison.sample) == min(12, int(leaving.sum()))
    assert all(0.25 <= r["similarity"] < 0.3 for r in comparison.sample)
    again = opened.lab.compare(opened.dataset("lab"), a, b, seed=3)
    assert [r["pos"] for r in again.sample] == [r["pos"] for r in comparison.sample]
    losses = {x.value: x for x in comparison.losses["language"]}
    for lang in LANGS:
        lost = int((leaving & (np.array(languages) == lang)).sum())
        before = int((in_a & (np.array(languages) == lang)).sum())
        if lang in losses:
            assert (losses[lang].leaving, losses[lang].before) == (lost, before)


def test_the_filters_taste_shows_in_the_words(opened):
    words, approximate = opened.lab.words(opened.dataset("lab"), RecordFilter(similarity_min=0.25))
    assert not approximate
    assert words[0].word == "blurry" and words[0].z > 2


def test_log_odds_agree_with_a_direct_computation():
    from app.catalog.splits import WordCount

    counts = [WordCount("a", 10, 40), WordCount("b", 30, 5), WordCount("c", 20, 20)]
    words = log_odds(counts, kept_n=100, dropped_n=100, top=3)
    kept, dropped = np.array([10, 30, 20.0]), np.array([40, 5, 20.0])
    alpha = 1000 * (kept + dropped) / (kept + dropped).sum()
    a0, nk, nd = alpha.sum(), kept.sum(), dropped.sum()
    delta = np.log((dropped + alpha) / (nd + a0 - dropped - alpha)) - np.log(
        (kept + alpha) / (nk + a0 - kept - alpha)
    )
    z = delta / np.sqrt(1 / (dropped + alpha) + 1 / (kept + alpha))
    assert [w.word for w in words] == ["a"] and words[0].z == pytest.approx(z[0])
    assert z[1] < 0  # "b" is over-represented among the kept: not listed


def test_api_lab_agrees_with_api_count(lab_data, tmp_path):
    settings = Settings(data_dir=lab_data[0], state_dir=tmp_path / "state")
    params = {"similarity_min": 0.25, "aesthetic_min": 5, "lang": ["en", "fr"]}
    with TestClient(create_app(settings)) as client:
        lab = client.get("/api/lab", params={**params, "b_similarity_min": 0.3}).json()
        kept = client.get("/api/count", params=params).json()["total"]
        assert lab["kept"] == kept and lab["kept"] + lab["dropped"] == lab["total"] == ROWS
        dropped_by = RecordFilter(**params).thresholds_query()
        dropped = client.get("/api/count", params={"dropped_by": dropped_by}).json()["total"]
        assert lab["dropped"] == dropped
        leaving = client.get(
            "/api/count", params={**params, "dropped_by": "similarity_min=0.3"}
        ).json()["total"]
        assert lab["compare"]["leaving"] == leaving
        # Every lab state is a URL; the grid links open the same sets.
        grid = client.get(lab["grid"]["dropped"].replace("/?", "/api/records?"))
        assert grid.json()["total"] == lab["dropped"]
        leaving_grid = client.get(lab["grid"]["leaving"].replace("/?", "/api/records?"))
        assert leaving_grid.json()["total"] == leaving
        page = client.get("/lab", params={**params, "focus": "similarity_min"})
        assert page.status_code == 200 and "Just kept" in page.text
        assert client.get("/lab", params={"focus": "nonsense"}).status_code == 422
        assert client.get("/api/lab", params={"dropped_by": "q=x"}).status_code == 422


def test_presets_load_and_a_user_file_adds_one(tmp_path):
    presets = load_presets()
    names = {p.name for p in presets.items}
    assert {
        "LAION-2B-en",
        "LAION-400M",
        "Stable Diffusion 2.0",
        "Re-LAION-5B research-safe",
    } <= names
    assert presets.by_id["laion-2b-multi"].record_filter(["en", "de", "fr"]).lang == ["de", "fr"]
    mine = tmp_path / "mine.toml"
    mine.write_text(
        '[[preset]]\nid = "mine"\nname = "Mine"\nrule = "aesthetic ≥ 5.5"\nsource = "me"\n'
        "[preset.filters]\naesthetic_min = 5.5\n",
        encoding="utf-8",
    )
    assert load_presets(mine).by_id["mine"].filters == {"aesthetic_min": 5.5}
    mine.write_text(
        '[[preset]]\nid = "bad"\nname = "B"\nrule = "r"\nsource = "s"\n[preset.filters]\nq = "x"\n',
        encoding="utf-8",
    )
    with pytest.raises(PresetError, match="unknown filter 'q'"):
        load_presets(mine)
