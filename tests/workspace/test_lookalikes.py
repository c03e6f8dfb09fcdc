"""Look-alikes of a suspected-CSAM record, on the demo's own pictures (tests/workspace/lookalikes):

- a PDQ blocklist catches a copy resized to half, re-encoded at JPEG quality 50 and cut 1 %
  per side, and does not catch a different picture; its distance is the list's own;
- a picture the server fetches from the web is hashed, and refused when a PDQ list matches it;
- confirming a suspected-CSAM flag quarantines its look-alikes (image-embedding neighbours and
  PDQ matches) at once, everywhere: pages, the API, search by words and by meaning, exports,
  image routes, check-links;
- an admin releases one with a reason that lands in the audit log; reading a flag's stored URL
  for a report leaves an audit row too (without the URL).

The dataset is built once for the module (real OpenCLIP embeddings, FAISS, PDQ hashes made by
``loupe embed``'s code); each test has its own review database.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings
from app.images.phash import CONFIDENT_DISTANCE, hash_bytes, read_hashes
from app.main import create_app
from app.review.store import ReviewStore
from app.vectors.hashing import is_current
from app.workspace import workspace
from tests.factories import SMALL_CLIP
from tests.images.conftest import LoopbackServer, Route
from tests.web.review_support import add_people, sign_in
from tests.workspace.lookalikes import (
    COPIES,
    FLAGGED,
    LEFT_OUT,
    half_jpeg50_crop1,
    picture,
    write_lookalike_source,
)

NAME = "look"


@pytest.fixture(scope="module")
def server():
    running = LoopbackServer("127.0.0.1")
    yield running
    running.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory, server):
    from app import build

    root = tmp_path_factory.mktemp("lookalikes")
    data = write_lookalike_source(root, lambda sample_id: server.url(f"/img/{sample_id}.jpg"))
    for sample_id, body in data.pictures.items():
        server.routes[f"/img/{sample_id}.jpg"] = Route(
            headers={"Content-Type": "image/jpeg"}, body=body
        )
    data_dir = root / "indexes"
    build.build_dataset(data_dir, NAME, [data.source], images=data.images, progress=False)
    settings = Settings(data_dir=data_dir, state_dir=root / "build-state", clip_model=SMALL_CLIP)
    results = build.embed(settings, NAME, progress=False)
    assert [r.kind for r in results] == ["image", "caption", "pdq"]
    build.index(settings, NAME, progress=False)
    data.data_dir = data_dir  # type: ignore[attr-defined]
    return data


@pytest.fixture
def settings(built, tmp_path, monkeypatch) -> Settings:
    env = {
        "LOUPE_DATA_DIR": str(built.data_dir),
        "LOUPE_STATE_DIR": str(tmp_path / "state"),
        "LOUPE_REMOTE_ALLOWLIST": '["127.0.0.1/32"]',
        "LOUPE_CLIP_MODEL": SMALL_CLIP,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(remote_images=True)


@pytest.fixture
def app_client(settings):
    app = create_app(settings)
    with TestClient(app) as client:
        add_people(app.state.workspace.review)
        yield client, app


def ids_of(response) -> set[str]:
    return {str(r["sample_id"]) for r in response.json()["records"]}


def import_pdq(tmp_path: Path, hex_hashes: list[str], *extra: str) -> str:
    listing = tmp_path / f"pdq-{len(list(tmp_path.iterdir()))}.csv"
    listing.write_text("pdq_hash,quality\n" + "".join(f"{h},100\n" for h in hex_hashes))
    result = CliRunner().invoke(cli, ["blocklist", "import", str(listing), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def hidden_ids(settings: Settings) -> set[str]:
    with workspace(settings) as ws:
        return set(ws.review.safety.hidden(NAME).sample_ids)


# --- hashes at embed time ----------------------------------------------------------------------
def test_embed_hashes_every_local_picture_by_position(built):
    from app.catalog.layout import DatasetPaths

    paths = DatasetPaths(built.data_dir / NAME)
    assert is_current(paths)
    positions, hashes, quality = read_hashes(paths.vectors)
    assert len(positions) == len(built.local) and (quality == 100).sum() >= len(built.local) - 2
    # The stored hash is the one hash_bytes computes from the file (the canonical decode).
    first = hash_bytes(built.pictures[FLAGGED], 40_000_000)
    assert first is not None and first.digest() in {h.tobytes() for h in hashes}


# --- PDQ blocklists ----------------------------------------------------------------------------
def test_a_pdq_list_catches_a_smaller_recompressed_cropped_copy_not_a_different_picture(
    settings, tmp_path
):
    copy = hash_bytes(half_jpeg50_crop1(picture("astronaut")), 40_000_000)
    different = hash_bytes(built_jpeg(picture(LEFT_OUT)), 40_000_000)
    assert copy is not None and different is not None
    said = import_pdq(tmp_path, [different.hex])
    assert "within 31 bits" in said
    assert hidden_ids(settings) == set(), "a picture that is in no record hides nothing"

    import_pdq(tmp_path, [copy.hex], "--name", "hotline list")
    hidden = hidden_ids(settings)
    # The original, which the list only knows as a smaller, recompressed, cropped copy, and
    # the other astronaut copies in the dataset (the blurred crop is 34 bits from the original
    # but may fall within 31 of this copy); no other picture.
    assert {FLAGGED, "2001", "2002"} <= hidden <= {FLAGGED, *COPIES}


def built_jpeg(image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def test_each_pdq_list_keeps_its_own_distance(settings, tmp_path):
    copy = hash_bytes(half_jpeg50_crop1(picture("astronaut")), 40_000_000)
    import_pdq(tmp_path, [copy.hex], "--max-distance", "0", "--dataset", NAME)
    assert hidden_ids(settings) == {"2001"}, "distance 0: only the identical hash"


def test_a_sha256_shaped_list_is_never_taken_for_pdq(settings, tmp_path):
    copy = hash_bytes(half_jpeg50_crop1(picture("astronaut")), 40_000_000)
    listing = tmp_path / "hashes.txt"
    listing.write_text(copy.hex + "\n")
    result = CliRunner().invoke(cli, ["blocklist", "import", str(listing)])
    assert result.exit_code == 0 and " hex64 entries" in result.output
    assert hidden_ids(settings) == set()


def test_a_fetched_picture_matching_a_pdq_list_is_refused_and_hidden(
    settings, app_client, server, tmp_path, built
):
    client, app = app_client
    import_pdq(tmp_path, [hash_bytes(built.pictures[FLAGGED], 10**8).hex])
    other = client.get(f"/images/{built.remote_other}/thumb", params={"ds": NAME})
    assert other.status_code == 200
    kept = app.state.workspace.images.remote_hashes.get(NAME, built.remote_other)
    assert kept is not None and kept.quality == 100

    refused = client.get(f"/images/{built.remote_copy}/thumb", params={"ds": NAME})
    assert refused.status_code == 404
    for path in (f"/api/records/{built.remote_copy}", f"/images/{built.remote_copy}/display"):
        assert client.get(path, params={"ds": NAME}).status_code == 404, path
    store: ReviewStore = app.state.workspace.review
    (entry,) = store.audit.entries(action="blocklist.match_fetched")
    assert entry.new["sample_ids"] == [built.remote_copy]
    # Fetched once, never served, never fetched again.
    assert server.paths_seen().count(f"/img/{built.remote_copy}.jpg") == 1
    assert built.remote_copy in hidden_ids(settings)


# --- the quarantine ----------------------------------------------------------------------------
def flag_and_confirm(client, app) -> dict:
    """fiona flags the astronaut as suspected CSAM; gus confirms it (real HTTP, JSON)."""
    token = sign_in(client, app, "fiona")
    flagged = client.post(
        "/review/flag",
        params={"ds": NAME},
        data={"sample_id": FLAGGED, "category": "suspected_csam", "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert flagged.status_code == 200, flagged.text
    assert flagged.json()["hidden"] is True
    flag_id = flagged.json()["flags"][0]["id"]
    token = sign_in(client, app, "gus")
    confirmed = client.post(
        f"/review/flags/{flag_id}/confirm",
        data={"csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()


def test_confirming_quarantines_the_look_alikes_everywhere_at_once(
    settings, app_client, server, built
):
    client, app = app_client
    sign_in(client, app, None)
    # The server fetched the remote copy before anything was flagged: its hash is kept.
    assert client.get(f"/images/{built.remote_copy}/thumb", params={"ds": NAME}).status_code == 200
    answer = flag_and_confirm(client, app)
    quarantine = answer["quarantine"]
    expected = {*COPIES, built.remote_copy}
    assert quarantine["added"] == len(expected), quarantine
    assert quarantine["methods"]["knn"].startswith("3 within cosine similarity 0.9")

    store: ReviewStore = app.state.workspace.review
    rows = {q.sample_id: q for q in store.quarantine.entries(dataset=NAME)}
    assert set(rows) == expected
    assert rows["2003"].reason == "knn" and rows["2003"].similarity >= 0.9
    assert rows["2001"].reason == "pdq" and rows["2001"].distance <= CONFIDENT_DISTANCE
    assert rows[built.remote_copy].reason == "pdq"
    assert all(q.url_sha256 and len(q.url_sha256) == 64 for q in rows.values())
    (entry,) = store.audit.entries(action="quarantine.add")
    assert entry.actor == "gus" and len(entry.new["added"]) == len(expected)

    hidden = {FLAGGED, *expected}
    served_before = len(server.paths_seen())
    for who in (None, "alice", "carol"):  # signed out, a reviewer, an admin: nobody sees them
        sign_in(client, app, who)
        for sample_id in hidden:
            for path in (
                f"/records/{sample_id}",
                f"/api/records/{sample_id}",
                f"/images/{sample_id}/thumb",
                f"/images/{sample_id}/display",
                f"/api/records/{sample_id}/similar",
            ):
                assert client.get(path, params={"ds": NAME}).status_code == 404, (who, path)
        listed = client.get("/api/records", params={"ds": NAME, "size": 100})
        assert not ids_of(listed) & hidden and listed.json()["total"] == 24 - len(hidden)
        words = client.get("/api/records", params={"ds": NAME, "q": "astronaut", "size": 100})
        assert ids_of(words) == set(), "every astronaut caption belongs to a hidden record"
        meaning = client.get(
            "/api/search", params={"ds": NAME, "q": "an astronaut", "mode": "meaning"}
        )
        assert meaning.status_code == 200
        assert not {str(r["sample_id"]) for r in meaning.json()["records"]} & hidden
        similar = client.get("/api/records/2005/similar", params={"ds": NAME, "k": 50})
        assert not {str(r["sample_id"]) for r in similar.json()["records"]} & hidden
        # Each hidden record's own embedding as the query (it would be its own nearest), ten
        # times over: the later ones run on the event loop (app.web.offload), unfiltered, so
        # the hidden set is checked in memory rather than by a catalog query.
        dataset = app.state.workspace.datasets[NAME]
        hidden_positions = app.state.workspace.catalog.hidden.of(NAME).ordered.tolist()
        embedded = [dataset.vectors().vector_of(pos, "image") for pos in hidden_positions]
        assert sum(v is not None for v in embedded) >= 3  # quarantined after indexing
        for vector in (v for v in embedded if v is not None):
            for _ in range(10):
                nearest = client.post(
                    "/api/search/vector",
                    params={"ds": NAME},
                    json={"vector": vector.tolist(), "k": 50, "fields": ["url"]},
                )
                assert nearest.status_code == 200
                assert not {str(r["sample_id"]) for r in nearest.json()["records"]} & hidden
        exported = client.get("/export", params={"ds": NAME, "format": "csv"})
        rows_out = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(rows_out) == 24 - len(hidden)
        assert not {r["sample_id"] for r in rows_out} & hidden
        page = client.get("/", params={"ds": NAME, "size": 100}).text
        assert not any(f"/images/{s}/" in page for s in hidden)
        assert client.get("/api/overview", params={"ds": NAME}).json()["hidden_rows"] == len(hidden)
    assert len(server.paths_seen()) == served_before, "no hidden picture was fetched"

    # Another process (the CLI) sees the quarantine too: check-links fetches none of them.
    server.requests.clear()
    result = CliRunner().invoke(cli, ["check-links", NAME, "--sample", "100", "--workers", "2"])
    assert result.exit_code == 0, result.output
    seen = set(server.paths_seen())
    assert len(seen) == 24 - len(hidden)
    assert not seen & {f"/img/{s}.jpg" for s in hidden}


def test_the_quarantine_is_listed_for_admins_by_id_and_url_hash_only(app_client, built):
    client, app = app_client
    flag_and_confirm(client, app)
    sign_in(client, app, "carol")
    page = client.get("/review/quarantine")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    table = soup.select_one("#quarantine")
    # This state folder never fetched the remote copy: the three local look-alikes.
    assert table is not None and len(table.select("tr.quarantine-row")) == len(COPIES)
    assert table.select("img") == [] and table.select("a") == []
    assert "astronaut" not in page.text and "/img/" not in page.text
    api = client.get("/api/review/quarantine").json()
    assert {r["sample_id"] for r in api["records"]} == set(COPIES)
    assert "url" not in api["records"][0] and "caption" not in json.dumps(api)
    sign_in(client, app, "alice")
    assert client.get("/review/quarantine").status_code == 403
    assert client.get("/api/review/quarantine").status_code == 403


def test_an_admin_releases_one_record_with_a_logged_reason(app_client):
    client, app = app_client
    answer = flag_and_confirm(client, app)
    store: ReviewStore = app.state.workspace.review
    token = sign_in(client, app, "alice")
    release = {"ds": NAME, "sample_id": "2003", "reason": "a different astronaut photo"}
    refused = client.post("/review/quarantine/release", data={**release, "csrf_token": token})
    assert refused.status_code == 403
    token = sign_in(client, app, "carol")
    short = client.post(
        "/review/quarantine/release",
        data={**release, "reason": "no", "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert short.status_code == 400
    assert client.get("/api/records/2003", params={"ds": NAME}).status_code == 404
    done = client.post(
        "/review/quarantine/release", data={**release, "csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/review/quarantine")
    assert client.get("/api/records/2003", params={"ds": NAME}).status_code == 200
    assert client.get("/api/records/2002", params={"ds": NAME}).status_code == 404
    (entry,) = store.audit.entries(action="quarantine.release")
    assert entry.actor == "carol" and entry.target == f"record:{NAME}/2003"
    assert entry.new["reason"] == "a different astronaut photo"
    assert entry.previous["rows"][0]["released_at"] is None
    # Re-opening and confirming the same flag again does not bring the released record back.
    flag_id = answer["id"]
    store.flags.reopen(flag_id, store.users.get("carol"), "checked twice")
    token = sign_in(client, app, "bob")
    again = client.post(
        f"/review/flags/{flag_id}/confirm",
        data={"csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert again.json()["quarantine"]["added"] == 0
    assert client.get("/api/records/2003", params={"ds": NAME}).status_code == 200


def test_the_admin_report_page_shows_the_stored_url_as_text_and_logs_each_viewing(
    app_client, server
):
    client, app = app_client
    answer = flag_and_confirm(client, app)
    flag_id = answer["id"]
    url = server.url(f"/img/{FLAGGED}.jpg")
    sign_in(client, app, "alice")
    assert client.get(f"/review/flags/{flag_id}/report").status_code == 403
    token = sign_in(client, app, "carol")
    store: ReviewStore = app.state.workspace.review
    first = client.get(f"/review/flags/{flag_id}/report")
    assert first.status_code == 200 and url not in first.text
    assert store.audit.entries(action="flag.read_url") == []
    shown = client.post(f"/review/flags/{flag_id}/report", data={"csrf_token": token})
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    soup = BeautifulSoup(shown.text, "html.parser")
    assert soup.select_one("#report-url").text == url
    assert not soup.select(f'a[href="{url}"]') and not soup.select(f'img[src="{url}"]')
    client.post(f"/review/flags/{flag_id}/report", data={"csrf_token": token})
    entries = store.audit.entries(action="flag.read_url")
    assert len(entries) == 2, "each viewing writes a row"
    assert entries[0].actor == "carol" and entries[0].target == f"flag:{flag_id}"
    assert entries[0].dataset == NAME and entries[0].new["sample_id"] == FLAGGED
    assert url not in json.dumps([e.new for e in entries]) and "/img/" not in str(entries)


def test_a_confirmation_whose_search_never_ran_is_searched_when_a_workspace_opens(settings, built):
    from app.review.flags import RecordRef

    store = ReviewStore.open(settings)
    try:
        add_people(store)
        flag = store.flags.flag(
            store.users.get("fiona"), NAME, RecordRef(FLAGGED), "suspected_csam"
        ).flags[0]
        store.flags.confirm(flag.id, store.users.get("gus"))  # the process "died" here
        assert [f.id for f in store.quarantine.pending()] == [flag.id]
        pending = CliRunner().invoke(cli, ["quarantine", "list"])
        assert f"flag #{flag.id}" in pending.output and "not searched yet" in pending.output
    finally:
        store.close()
    with workspace(settings) as ws:
        assert ws.review.quarantine.pending() == []
        hidden = ws.catalog.hidden.of(NAME)
        assert len(hidden) == 1 + len(COPIES)  # no fetched picture yet in this state folder
    listed = CliRunner().invoke(cli, ["quarantine", "list"])
    assert listed.exit_code == 0
    assert all(sample_id in listed.output for sample_id in COPIES)
    assert "http" not in listed.output and "astronaut" not in listed.output
    released = CliRunner().invoke(
        cli,
        ["quarantine", "release", NAME, "2003", "--reason", "a blurred crop, not a copy"]
        + ["--as", "carol"],
    )
    assert released.exit_code == 0, released.output
    assert "2003" not in hidden_ids(settings)
    refused = CliRunner().invoke(
        cli, ["quarantine", "release", NAME, "2002", "--reason", "xx", "--as", "carol"]
    )
    assert refused.exit_code == 2 and "at least" in refused.output


def test_hashes_of_every_dataset_are_matched_in_numpy_order(built):
    """The hash file is by position and ascending, as the quarantine's lookup needs."""
    from app.catalog.layout import DatasetPaths

    positions, _, _ = read_hashes(DatasetPaths(built.data_dir / NAME).vectors)
    assert np.all(np.diff(positions) > 0)
