"""A hidden record — on a blocklist, or flagged as suspected CSAM — is never fetched, decoded,
embedded, exported or shown, by any entry point: every one goes through the workspace.

The dataset's URLs point at a loopback image server that logs every request, and its images
are local files whose reads are logged too; the records hidden are known (conftest).
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.catalog.connection import CatalogConnection
from app.catalog.filters import RecordFilter
from app.catalog.hidden import HiddenPositions, HiddenSetUnknown
from app.catalog.layout import DatasetPaths
from app.catalog.queries import Catalog
from app.cli import app as cli
from app.config import Settings
from app.images import stores
from app.images.phash import read_hashes
from app.main import create_app
from app.vectors import store as vector_store
from app.workspace import workspace
from tests.workspace.conftest import BLOCKED, FLAGGED, ROWS


def hidden_urls(dataset) -> set[str]:
    return {f"/img/{sample_id}.jpg" for sample_id in dataset.hidden_ids}


def test_check_links_never_fetches_a_hidden_url(hidden_dataset, http_server):
    """The defect of issue 12: check-links sampled through a bare catalog and fetched both
    blocked URLs (and would have fetched a suspected-CSAM one)."""
    result = CliRunner().invoke(cli, ["check-links", "web", "--sample", "20", "--workers", "2"])
    assert result.exit_code == 0, result.output
    seen = set(http_server.paths_seen())
    assert len(seen) == ROWS - 3, "every visible URL checked once"
    assert not seen & hidden_urls(hidden_dataset)


def test_check_links_skips_a_record_hidden_after_it_was_sampled(
    hidden_dataset, http_server, monkeypatch
):
    from app.commands import images as command
    from app.workspace import Workspace

    sampled = command._sample

    def sample_then_flag(ws: Workspace, name: str, n: int, seed: int):
        rows = sampled(ws, name, n, seed)
        reviewer = ws.review.users.get("rita")
        ws.review.flags.flag(reviewer, name, [_ref(rows[0])], "suspected_csam", "")
        return rows

    monkeypatch.setattr(command, "_sample", sample_then_flag)
    result = CliRunner().invoke(cli, ["check-links", "web", "--sample", "20", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert len(http_server.paths_seen()) == ROWS - 4


def _ref(row):
    from app.review.flags import RecordRef

    return RecordRef(str(row["sample_id"]), row["url"])


def test_embed_never_decodes_or_embeds_a_hidden_record(hidden_dataset, monkeypatch):
    located: list[str] = []
    locate = stores.FolderStore.locate

    def spy(self, record):
        located.append(str(record["sample_id"]))
        return locate(self, record)

    monkeypatch.setattr(stores.FolderStore, "locate", spy)
    result = CliRunner().invoke(cli, ["embed", "web", "--no-progress"])
    assert result.exit_code == 0, result.output
    # Each visible record's picture is read twice: for its embedding and for its PDQ hash.
    assert len(located) == 2 * (ROWS - 3) and len(set(located)) == ROWS - 3
    assert not set(located) & set(hidden_dataset.hidden_ids)

    with workspace(Settings()) as ws:
        hidden = ws.catalog.hidden.of("web").positions
    assert len(hidden) == 3
    paths = DatasetPaths(hidden_dataset.data_dir / "web")
    for kind in vector_store.KINDS:
        embedded = set(vector_store.load_embeddings(paths, kind).positions.tolist())
        assert len(embedded) == ROWS - 3 and not embedded & hidden, kind
    hashed, _, _ = read_hashes(paths.vectors)
    assert len(hashed) == ROWS - 3 and not set(hashed.tolist()) & hidden
    index = CliRunner().invoke(cli, ["index", "web", "--no-progress"])
    assert index.exit_code == 0, index.output


def test_the_server_never_shows_fetches_or_exports_a_hidden_record(hidden_dataset, http_server):
    settings = Settings(remote_images=True)
    with TestClient(create_app(settings)) as client:
        for sample_id in hidden_dataset.hidden_ids:
            for path in (
                f"/records/{sample_id}",
                f"/api/records/{sample_id}",
                f"/images/{sample_id}/thumb",
                f"/images/{sample_id}/display",
                f"/records/{sample_id}/duplicates",
                f"/api/records/{sample_id}/similar",
            ):
                assert client.get(path, params={"ds": "web"}).status_code == 404, path
        listed = client.get("/api/records", params={"ds": "web", "size": 50}).json()
        ids = {str(r["sample_id"]) for r in listed["records"]}
        assert len(ids) == ROWS - 3 and not ids & set(hidden_dataset.hidden_ids)
        for words in ("photo", "picture", "cat"):
            found = client.get("/api/records", params={"ds": "web", "q": words, "size": 50})
            assert not {str(r["sample_id"]) for r in found.json()["records"]} & set(
                hidden_dataset.hidden_ids
            )
        exported = client.get("/export", params={"ds": "web", "format": "csv"})
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(rows) == ROWS - 3
        assert not {r["sample_id"] for r in rows} & set(hidden_dataset.hidden_ids)
        page = client.get("/", params={"ds": "web", "size": 50}).text
        for sample_id in hidden_dataset.hidden_ids:
            assert f"/records/{sample_id}?" not in page and f"/images/{sample_id}/" not in page
        assert client.get("/api/overview", params={"ds": "web"}).json()["hidden_rows"] == 3
    assert not set(http_server.paths_seen()) & hidden_urls(hidden_dataset)


def test_a_bare_catalog_reads_nothing_until_its_hidden_set_is_applied(hidden_dataset):
    """Failing closed: a catalog opened without the workspace cannot show a blocked record by
    accident, because it shows nothing at all."""
    catalog = Catalog(CatalogConnection(timeout_s=10))
    try:
        catalog.attach("web", DatasetPaths(hidden_dataset.data_dir / "web").catalog)
        for read in (
            lambda: catalog.page("web", []),
            lambda: catalog.count("web", []),
            lambda: catalog.rows_by_ids("web", [BLOCKED[0]]),
            lambda: catalog.rows_by_positions("web", [0, 1]),
            lambda: list(catalog.export_batches("web", [])),
            lambda: catalog.facet("web", "language", []),
        ):
            with pytest.raises(HiddenSetUnknown):
                read()
    finally:
        catalog.connection.close()


def test_the_workspace_owns_the_one_hidden_set(hidden_dataset):
    with workspace(Settings()) as ws:
        hidden = ws.catalog.hidden.of("web")
        rows = ws.catalog.rows_by_ids("web", [*hidden_dataset.hidden_ids, "1000"])
        assert [r["sample_id"] for r in rows] == ["1000"]
        # The explorer, the image service and the text index read the same object.
        assert ws.images.hidden is ws.catalog.hidden
        plan = ws.explorer.plan(ws.dataset("web"), RecordFilter(q="photo"))
        assert plan.hidden is hidden and plan.engine == "text"
        positions = set(np.asarray(hidden.ordered).tolist())
        assert positions == hidden.positions and len(positions) == 3
        flagged = ws.catalog.rows_by_ids("web", [FLAGGED])
        assert flagged == []


def test_a_hidden_set_says_which_positions_it_holds():
    hidden = HiddenPositions().replace("web", [40, 7, 12, 7])
    asked = np.array([7, 8, 12, 40, 41, -1, 0], dtype=np.int64)
    assert hidden.holds(asked).tolist() == [True, False, True, True, False, False, False]
    empty = HiddenPositions().replace("web", [])
    assert not empty.holds(asked).any() and empty.holds(asked).shape == asked.shape
