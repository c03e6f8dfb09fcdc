"""The embedding map over HTTP, on the tiny dataset (its image and caption maps were computed
by `loupe index`, as tests.factories builds it): the points payload holds exactly the visible
records, the filter mask agrees with the grid's count, the ``region`` filter selects the
records whose point lies inside, and a map that does not match its embeddings is a 409 that
names `loupe index`.

The payload is parsed here from its bytes by a reader written from the format description
(docs/map.md), not by the server's own decoder.
"""

from __future__ import annotations

import json
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.catalog.layout import DatasetPaths
from app.config import Settings
from app.explore.map import FLAG_HIT, FLAG_MATCH, MapExplorer, MapSearch, colours_current
from app.main import create_app
from app.review.flags import RecordRef
from app.review.store import ReviewStore
from app.vectors.layout import load_layout

BLOCKED = "1003"  # on a sample-id blocklist
FLAGGED = "1007"  # flagged as suspected CSAM
KINDS = ("image", "caption")


# --- reading the payload from its bytes --------------------------------------------------------

TYPES = {"uint8": "<u1", "uint16": "<u2", "uint32": "<u4"}


def parse_payload(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    assert data[:8] == b"LOUPEMAP"
    (length,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12 : 12 + length])
    assert (12 + length) % 8 == 0, "the first column starts 8-byte aligned"
    columns = {}
    for column in header["columns"]:
        assert column["offset"] % 8 == 0
        raw = data[column["offset"] : column["offset"] + column["bytes"]]
        array = np.frombuffer(raw, dtype=TYPES[column["type"]])
        if column["components"] > 1:
            array = array.reshape(-1, column["components"])
        columns[column["name"]] = array
    return header, columns


def points(client: TestClient, **params) -> tuple[dict, dict[str, np.ndarray]]:
    response = client.get("/api/map/points", params={"ds": "tiny", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    return parse_payload(response.content)


def all_records(client: TestClient, **params) -> list[dict]:
    response = client.get("/api/records", params={"ds": "tiny", "size": 200, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next"] is None
    return body["records"]


def layout_positions(tiny_data_dir: Path, kind: str) -> set[int]:
    return set(load_layout(DatasetPaths(tiny_data_dir / "tiny"), kind).positions.tolist())


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def positions_by_id(tiny_data_dir, tmp_path_factory) -> dict[str, int]:
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path_factory.mktemp("plain"))
    with TestClient(create_app(settings)) as client:
        return {str(r["sample_id"]): r["pos"] for r in all_records(client)}


@pytest.fixture
def hidden_client(tiny_data_dir, tmp_path):
    """The tiny dataset with one record on a blocklist and one flagged as suspected CSAM,
    both hidden after the map was computed (as a flag saved later is)."""
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state")
    store = ReviewStore.open(settings)
    try:
        store.blocklists.import_values([BLOCKED], "sample_id", actor="test", source="test")
        reviewer = store.users.add("rita", "a long enough password", "reviewer", actor="test")
        store.flags.flag(reviewer, "tiny", [RecordRef(FLAGGED)], "suspected_csam", "")
    finally:
        store.close()
    with TestClient(create_app(settings)) as client:
        yield client


# --- what the map holds -------------------------------------------------------------------------


def test_index_computed_both_maps_and_their_colours(tiny_data_dir):
    paths = DatasetPaths(tiny_data_dir / "tiny")
    for kind in KINDS:
        layout = load_layout(paths, kind)
        assert layout.count > 100 and layout.clusters
        assert colours_current(paths, kind), kind


def test_points_payload_holds_exactly_the_visible_records(
    hidden_client, tiny_data_dir, positions_by_id
):
    hidden = {positions_by_id[BLOCKED], positions_by_id[FLAGGED]}
    visible = {r["pos"] for r in all_records(hidden_client)}
    assert len(visible) == 118 and not visible & hidden
    for kind in KINDS:
        laid_out = layout_positions(tiny_data_dir, kind)
        assert hidden <= laid_out, "both were laid out before they were hidden"
        header, columns = points(hidden_client, kind=kind)
        sent = columns["pos"].tolist()
        assert len(sent) == len(set(sent)) == header["count"] == header["total"]
        assert set(sent) == laid_out - hidden, kind
        assert not header["sampled"]
        for name in ("xy", "cluster", "language", "similarity", "punsafe", "flags"):
            assert len(columns[name]) == header["count"], name
        # The viewport's detail of the whole map leaves them out too.
        x0, y0, x1, y1 = header["bounds"]
        bbox = f"{x0 - 1:.6f},{y0 - 1:.6f},{x1 + 1:.6f},{y1 + 1:.6f}"
        _, detail = points(hidden_client, kind=kind, bbox=bbox)
        assert set(detail["pos"].tolist()) == laid_out - hidden
        info = hidden_client.get("/api/map", params={"ds": "tiny", "kind": kind}).json()
        assert info["points"] == info["total"] == len(laid_out - hidden)
        assert sum(c["size"] for c in info["clusters"]) == info["total"]
    # Every record has a caption embedding: the caption map's points are the visible count.
    total = hidden_client.get("/api/count", params={"ds": "tiny"}).json()["total"]
    info = hidden_client.get("/api/map", params={"ds": "tiny", "kind": "caption"}).json()
    assert info["points"] == total == 118


def test_hidden_points_have_no_card_and_no_record(hidden_client, positions_by_id):
    for sample_id in (BLOCKED, FLAGGED):
        pos = positions_by_id[sample_id]
        for path in ("/map/card", "/map/point"):
            response = hidden_client.get(
                path, params={"ds": "tiny", "pos": pos}, follow_redirects=False
            )
            assert response.status_code == 404, (path, sample_id)


def test_classroom_mode_leaves_what_it_hides_out_of_the_map(tiny_data_dir, tmp_path):
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state", classroom_mode=True)
    with TestClient(create_app(settings)) as client:
        shown = all_records(client)
        assert 0 < len(shown) < 120
        assert all(r["punsafe"] <= settings.punsafe_threshold for r in shown)
        visible = {r["pos"] for r in shown}
        for kind in KINDS:
            _, columns = points(client, kind=kind)
            assert set(columns["pos"].tolist()) == visible & layout_positions(tiny_data_dir, kind)
        unsafe = next(p for p in range(120) if p not in visible)
        card = client.get("/map/card", params={"ds": "tiny", "pos": unsafe})
        assert card.status_code == 404


# --- filters -----------------------------------------------------------------------------------

FILTERS = [
    {"lang": "en"},
    {"punsafe_max": "0.3", "aesthetic_min": "5"},
    {"q": "cat"},
    {"q": "astronaut", "lang": "en"},
    {"contains": "coffee"},
    {"nodup": "true"},
    {"lang": ["de", "fr"], "similarity_min": "0.3"},
]


@pytest.mark.parametrize(
    "params", FILTERS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items())
)
def test_the_filter_mask_is_the_grids_selection(client, tiny_data_dir, params):
    count = client.get("/api/count", params={"ds": "tiny", **params}).json()["total"]
    grid = {r["pos"] for r in all_records(client, **params)}
    assert len(grid) == count
    # Every record has a caption embedding: the mask counts what the grid counts.
    header, columns = points(client, kind="caption", **params)
    chosen = columns["pos"][(columns["flags"] & FLAG_MATCH) > 0]
    assert len(chosen) == count
    assert set(chosen.tolist()) == grid
    info = client.get("/api/map", params={"ds": "tiny", "kind": "caption", **params}).json()
    assert info["points"] == count and info["total"] == 120
    hits = (columns["flags"] & FLAG_HIT) > 0
    assert hits.any() == ("q" in params)
    # The image map has no point for the records without a picture: the rest agree.
    _, image = points(client, kind="image", **params)
    chosen = set(image["pos"][(image["flags"] & FLAG_MATCH) > 0].tolist())
    assert chosen == grid & layout_positions(tiny_data_dir, "image")


def test_flags_alone_refresh_the_mask(client):
    header, columns = points(client, kind="caption", lang="en", fields="flags")
    assert [c["name"] for c in header["columns"]] == ["flags"]
    _, whole = points(client, kind="caption", lang="en")
    assert np.array_equal(columns["flags"], whole["flags"])


def test_a_search_by_meaning_highlights_its_nearest_records(client):
    params = {"q": "a cat", "mode": "meaning", "lang": "de"}
    nearest = {r["pos"] for r in all_records(client, **params)}
    assert nearest
    _, columns = points(client, kind="caption", **params)
    hits = columns["pos"][(columns["flags"] & FLAG_HIT) > 0]
    assert set(hits.tolist()) == nearest
    info = client.get("/api/map", params={"ds": "tiny", "kind": "caption", **params}).json()
    assert info["selection"] == "nearest" and info["points"] == len(nearest)


# --- the region filter -----------------------------------------------------------------------


def inside(layout, x0, y0, x1, y1) -> set[int]:
    xy = np.asarray(layout.xy, dtype=np.float64)
    mask = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    return set(layout.positions[mask].tolist())


@pytest.mark.parametrize("kind", KINDS)
def test_the_region_filter_selects_the_records_whose_point_is_inside(client, tiny_data_dir, kind):
    layout = load_layout(DatasetPaths(tiny_data_dir / "tiny"), kind)
    bx0, by0, bx1, by1 = layout.bounds
    x0, x1 = bx0 + 0.1 * (bx1 - bx0), bx0 + 0.6 * (bx1 - bx0)
    y0, y1 = by0 - 1, by1 + 1
    expected = inside(layout, round(x0, 6), round(y0, 6), round(x1, 6), round(y1, 6))
    assert 0 < len(expected) < layout.count
    # The ends in either order: the filter puts them in order.
    region = f"{kind}:{x1:.6f},{y0:.6f},{x0:.6f},{y1:.6f}"
    count = client.get("/api/count", params={"ds": "tiny", "region": region}).json()["total"]
    assert count == len(expected)
    assert {r["pos"] for r in all_records(client, region=region)} == expected
    english = {r["pos"] for r in all_records(client, lang="en")}
    both = client.get("/api/count", params={"ds": "tiny", "region": region, "lang": "en"})
    assert both.json()["total"] == len(expected & english)
    words = {r["pos"] for r in all_records(client, q="photo", region=region)}
    assert words == expected & {r["pos"] for r in all_records(client, q="photo")}
    facets = client.get("/api/facets", params={"ds": "tiny", "region": region}).json()
    assert sum(v["count"] for v in facets["language"]) <= len(expected)
    exported = client.get("/export", params={"ds": "tiny", "region": region, "format": "jsonl"})
    assert exported.status_code == 200
    assert {json.loads(line)["pos"] for line in exported.text.splitlines()} == expected
    # The map's own mask agrees.
    _, columns = points(client, kind=kind, region=region)
    assert set(columns["pos"][(columns["flags"] & FLAG_MATCH) > 0].tolist()) == expected


@pytest.mark.parametrize(
    "region",
    ["image:1,2,3", "pixels:1,2,3,4", "image:1,2,3,x", "image:1e5,1,2,3", "image:", "1,2,3,4"],
)
def test_a_malformed_region_is_a_422_naming_it(client, region):
    response = client.get("/api/count", params={"ds": "tiny", "region": region})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["region"]
    page = client.get("/", params={"ds": "tiny", "region": region})
    assert page.status_code == 422 and "region" in page.text


# --- single points ------------------------------------------------------------------------------


def test_a_point_opens_its_record(client, positions_by_id):
    pos = positions_by_id["1012"]
    response = client.get("/map/point", params={"ds": "tiny", "pos": pos}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/records/1012?ds=tiny"
    missing = client.get("/map/point", params={"ds": "tiny", "pos": 10_000})
    assert missing.status_code == 404


def test_the_hover_card_is_the_grids_card_blurred_above_the_threshold(client, positions_by_id):
    # Every tenth record of the tiny set has punsafe 0.9 (tests.factories).
    unsafe = client.get("/map/card", params={"ds": "tiny", "pos": positions_by_id["1010"]})
    assert unsafe.status_code == 200
    assert 'class="card is-blurred"' in unsafe.text and "Click to reveal" in unsafe.text
    safe = client.get("/map/card", params={"ds": "tiny", "pos": positions_by_id["1012"]})
    assert "is-blurred" not in safe.text and 'data-sample-id="1012"' in safe.text
    # The caption that holds markup is escaped, as in the grid.
    markup = client.get("/map/card", params={"ds": "tiny", "pos": positions_by_id["1005"]})
    assert "<script>" not in markup.text and "&lt;script&gt;" in markup.text


# --- the page -----------------------------------------------------------------------------------


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parsed(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = PageParser()
    parser.feed(html)
    return parser.tags


def test_the_page_works_without_javascript(client, tiny_data_dir):
    response = client.get("/map", params={"ds": "tiny", "lang": "en"})
    assert response.status_code == 200
    tags = parsed(response.text)
    scripts = [a for t, a in tags if t == "script"]
    assert all(a.get("src") for a in scripts), "no inline script"
    assert {"src": "/static/map.js", "defer": None} in scripts
    assert not any("style" in a for _, a in tags), "no style attribute"
    assert not any(k.startswith("on") for _, a in tags for k in a), "no inline handler"
    assert any(t == "canvas" for t, _ in tags)
    info = client.get("/api/map", params={"ds": "tiny", "lang": "en"}).json()
    assert f"{info['points']}</strong> of {info['total']} points match" in response.text
    # The regions: each a link to the grid with the filters and the box of its points.
    layout = load_layout(DatasetPaths(tiny_data_dir / "tiny"), "image")
    links = [a["href"] for t, a in tags if t == "a" and "region=" in (a.get("href") or "")]
    assert len(links) == sum(1 for c in info["clusters"] if c["size"])
    for href in links:
        query = parse_qs(urlparse(href).query)
        assert query["lang"] == ["en"] and query["ds"] == ["tiny"]
        kind, _, numbers = query["region"][0].partition(":")
        assert kind == "image"
        box = [float(v) for v in numbers.split(",")]
        grid = client.get("/api/count", params={k: v[0] for k, v in query.items()})
        assert grid.json()["total"] == len(
            inside(layout, *box) & {r["pos"] for r in all_records(client, lang="en")}
        )


def test_the_caption_map_is_a_kind_away(client):
    response = client.get("/map", params={"ds": "tiny", "kind": "caption"})
    assert response.status_code == 200 and "caption embeddings" in response.text
    info = client.get("/api/map", params={"ds": "tiny"}).json()
    assert info["kind"] == "image" and info["kinds"] == {"image": True, "caption": True}
    assert info["languages"][0] is None and "en" in info["languages"]
    assert set(info["format"]["columns"]) >= {"xy", "pos", "cluster", "flags", "punsafe"}


# --- a map that does not fit its embeddings ------------------------------------------------------


@pytest.fixture
def copied(tiny_data_dir, tmp_path) -> Path:
    data_dir = tmp_path / "indexes"
    shutil.copytree(tiny_data_dir / "tiny", data_dir / "tiny", symlinks=True)
    return data_dir


def test_a_misaligned_layout_is_a_409_that_names_loupe_index(copied, tmp_path):
    meta_path = copied / "tiny" / "vectors" / "image.layout.json"
    meta = json.loads(meta_path.read_text())
    meta["count"] += 1
    meta_path.write_text(json.dumps(meta))
    settings = Settings(data_dir=copied, state_dir=tmp_path / "state")
    with TestClient(create_app(settings)) as client:
        for path, params in (
            ("/api/map", {"kind": "image"}),
            ("/api/map/points", {"kind": "image"}),
            ("/api/count", {"region": "image:0,0,1,1"}),
        ):
            response = client.get(path, params={"ds": "tiny", **params})
            assert response.status_code == 409, path
            detail = response.json()["detail"]
            assert "`loupe index tiny`" in detail and str(tmp_path) not in detail
        page = client.get("/map", params={"ds": "tiny", "kind": "image"})
        assert page.status_code == 409 and "loupe index tiny" in page.text
        # The caption map is untouched.
        assert client.get("/api/map", params={"ds": "tiny", "kind": "caption"}).status_code == 200


def test_new_embeddings_take_the_stale_map_away(copied):
    from app import build

    paths = DatasetPaths(copied / "tiny")
    before = build._embeddings_made(paths)
    build._drop_stale_maps(paths, before)
    assert load_layout(paths, "image").count
    build._drop_stale_maps(paths, {**before, "image": "another time"})
    assert not (paths.vectors / "image.layout.json").exists()
    assert not (paths.vectors / "image.layout-colours.npz").exists()
    assert load_layout(paths, "caption").count


# --- large maps: a sample, the density layer, the detail of a viewport ---------------------------


def test_above_the_limit_a_sample_travels_with_the_density_of_all(client):
    workspace = client.app.state.workspace
    handle = workspace.datasets["tiny"]
    maps = MapExplorer(workspace.explorer, workspace.semantic, max_points=50, detail_points=20)
    from app.catalog.filters import RecordFilter

    data = maps.payload(handle, "caption", RecordFilter(), MapSearch())
    header, columns = parse_payload(data)
    assert header["sampled"] and header["count"] == 50 and header["total"] == 120
    assert header["density"]["width"] == 256
    grid = np.frombuffer(
        data[
            header["density"]["offset"] : header["density"]["offset"] + header["density"]["bytes"]
        ],
        dtype="<u4",
    )
    assert grid.sum() == 120
    again = parse_payload(maps.payload(handle, "caption", RecordFilter(), MapSearch()))[1]
    assert np.array_equal(again["pos"], columns["pos"]), "the same sample every time"
    x0, y0, x1, y1 = header["bounds"]
    box = (x0, y0, (x0 + x1) / 2, y1)
    detail_header, detail = parse_payload(
        maps.payload(handle, "caption", RecordFilter(), MapSearch(), bbox=box)
    )
    assert detail_header["count"] <= 20 and not detail_header["sampled"]
    # Every detail point lies in the box (its uint16 x within the box's steps).
    assert (detail["xy"][:, 0] <= 65535 // 2 + 1).all()
    # The sample's points in the box are among the detail's when the detail is not capped.
    if not detail_header["capped"]:
        in_box = columns["pos"][columns["xy"][:, 0] <= 65535 // 2]
        assert set(in_box.tolist()) <= set(detail["pos"].tolist())


def test_loupe_index_computes_the_map_unless_told_not_to(copied, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from app.cli import app as cli
    from app.explore.map import remove_colours
    from app.vectors.layout import LayoutError, remove_layout

    monkeypatch.setenv("LOUPE_DATA_DIR", str(copied))
    monkeypatch.setenv("LOUPE_STATE_DIR", str(tmp_path / "state"))
    paths = DatasetPaths(copied / "tiny")
    remove_layout(paths, "image")
    remove_colours(paths, "image")
    skipped = CliRunner().invoke(cli, ["index", "tiny", "--no-layout", "--no-progress"])
    assert skipped.exit_code == 0, skipped.output
    assert "map:" not in skipped.output
    with pytest.raises(LayoutError):
        load_layout(paths, "image")
    built = CliRunner().invoke(cli, ["index", "tiny", "--no-progress"])
    assert built.exit_code == 0, built.output
    assert "image map: 117 points" in built.output
    assert "caption map: 120 points" in built.output and "already up to date" in built.output
    assert load_layout(paths, "image").count == 117 and colours_current(paths, "image")


def test_a_region_too_large_for_a_filter_is_refused_in_a_sentence(client, monkeypatch):
    from app.explore import map as explore_map

    monkeypatch.setattr(explore_map, "MAX_REGION_RECORDS", 10)
    response = client.get("/api/count", params={"ds": "tiny", "region": "image:-999,-999,999,999"})
    assert response.status_code == 409
    assert response.json()["detail"].startswith("region: the box holds 117 points")
