"""A dataset whose URLs point at a loopback image server, with records hidden three ways."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.images.conftest import Route, http_server, image_bytes  # noqa: F401 - a fixture

ROWS = 20
BLOCKED = ["1003", "1011"]  # a sample-id blocklist, imported with `loupe blocklist import`
FLAGGED = "1007"  # flagged as suspected CSAM by a reviewer


@dataclass
class HiddenDataset:
    data_dir: Path
    state_dir: Path
    env: dict[str, str]

    @property
    def hidden_ids(self) -> list[str]:
        return [*BLOCKED, FLAGGED]


@pytest.fixture
def hidden_dataset(tmp_path, http_server, monkeypatch) -> HiddenDataset:  # noqa: F811
    """20 LAION rows with local images and URLs on the loopback server; two of them on a
    blocklist, one flagged as suspected CSAM; the environment set as a user would set it."""
    from typer.testing import CliRunner

    from app.build import build_dataset
    from app.cli import app as cli
    from app.config import Settings
    from app.review.flags import RecordRef
    from app.review.store import ReviewStore
    from tests.factories import laion_table, write_images

    table = laion_table(ROWS)
    urls = [http_server.url(f"/img/{1000 + i}.jpg") for i in range(ROWS)]
    for i in range(ROWS):
        http_server.routes[f"/img/{1000 + i}.jpg"] = Route(
            headers={"Content-Type": "image/jpeg"}, body=image_bytes()
        )
    table = table.set_column(table.schema.get_field_index("URL"), "URL", pa.array(urls))
    source = tmp_path / "src" / "part-0.parquet"
    source.parent.mkdir()
    pq.write_table(table, source)
    images = write_images(tmp_path / "images", list(range(1000, 1000 + ROWS)))
    data_dir, state_dir = tmp_path / "indexes", tmp_path / "state"
    build_dataset(data_dir, "web", [source], images=images, progress=False)

    env = {
        "LOUPE_DATA_DIR": str(data_dir),
        "LOUPE_STATE_DIR": str(state_dir),
        "LOUPE_REMOTE_ALLOWLIST": '["127.0.0.1/32"]',
        "LOUPE_CLIP_MODEL": "ViT-S-32-alt",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ids = tmp_path / "blocked.txt"
    ids.write_text("\n".join(BLOCKED) + "\n", encoding="utf-8")
    imported = CliRunner().invoke(cli, ["blocklist", "import", str(ids), "--kind", "sample_id"])
    assert imported.exit_code == 0, imported.output

    store = ReviewStore.open(Settings())
    try:
        reviewer = store.users.add("rita", "a long enough password", "reviewer", actor="test")
        ref = RecordRef(FLAGGED, http_server.url(f"/img/{FLAGGED}.jpg"))
        store.flags.flag(reviewer, "web", [ref], "suspected_csam", "")
    finally:
        store.close()
    http_server.requests.clear()
    return HiddenDataset(data_dir, state_dir, env)
