"""img2dataset output as people have it: LAION's SAMPLE_ID carried through is the record's id
(the images stay found by img2dataset's key), and its download results become link statuses
without fetching anything again."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings
from app.images.linkseed import status_of
from app.main import create_app
from tests.images.conftest import image_bytes
from tests.images.test_image_stores import write_shard

KEYS = ["000000000", "000000001", "000000002", "000000003", "000000004", "000000005"]
SAMPLE_IDS = [3001, 3002, 3003, 3004, 3005, 3006]
STATUSES = [
    "success",
    "failed_to_download",
    "failed_to_download",
    "failed_to_download",
    "success",
    "failed_to_resize",
]
ERRORS = [
    None,
    "HTTP Error 404: Not Found",
    "Use of image disallowed by X-Robots-Tag directive",
    "<urlopen error [Errno -2] Name or service not known>",
    None,
    "image too small",
]


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        ("success", None, ("ok", None)),
        ("failed_to_download", "HTTP Error 404: Not Found", ("dead", 404)),
        ("failed_to_download", "HTTP Error 503: Service Unavailable", ("dead", 503)),
        (
            "failed_to_download",
            "Use of image disallowed by X-Robots-Tag directive",
            ("opted_out", None),
        ),
        ("failed_to_download", "<urlopen error timed out>", ("timeout", None)),
        ("failed_to_download", "The read operation timed out", ("timeout", None)),
        (
            "failed_to_download",
            "<urlopen error [Errno -2] Name or service not known>",
            ("gone", None),
        ),
        (
            "failed_to_download",
            "<urlopen error [Errno -3] Temporary failure in name resolution>",
            ("gone", None),
        ),
        ("failed_to_download", "SSL: CERTIFICATE_VERIFY_FAILED", ("dead", None)),
        ("failed_to_resize", "cannot identify image file <_io.BytesIO>", ("not_image", None)),
        ("failed_to_resize", "image area too large", ("too_large", None)),
        ("failed_to_resize", "image too small", ("ok", None)),
        (None, None, None),
    ],
)
def test_img2dataset_results_map_onto_link_statuses(status, error, expected):
    assert status_of(status, error) == expected


@pytest.fixture
def img2dataset_output(tmp_path):
    """One shard of img2dataset's webdataset output: a parquet, and a tar of the pictures
    that were downloaded, named by key."""
    folder = tmp_path / "out"
    table = pa.table(
        {
            "key": KEYS,
            "url": [f"https://site{i}.example/{i}.jpg" for i in range(6)],
            "caption": [f"caption {i}" for i in range(6)],
            "status": STATUSES,
            "error_message": ERRORS,
            "SAMPLE_ID": pa.array(SAMPLE_IDS, pa.int64()),
            "similarity": pa.array([0.3, 0.31, 0.32, 0.33, 0.34, 0.35], pa.float32()),
        }
    )
    folder.mkdir()
    pq.write_table(table, folder / "00000.parquet")
    shards = tmp_path / "shards"
    write_shard(shards / "00000.tar", {KEYS[0]: image_bytes(), KEYS[4]: image_bytes()})
    return folder, shards


def test_sample_id_is_the_id_and_statuses_are_seeded(img2dataset_output, tmp_path, monkeypatch):
    folder, shards = img2dataset_output
    data_dir, state_dir = tmp_path / "indexes", tmp_path / "state"
    monkeypatch.setenv("LOUPE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOUPE_STATE_DIR", str(state_dir))
    result = CliRunner().invoke(
        cli, ["ingest", "i2d", str(folder), "--images", str(shards), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "Link statuses of 6 records taken from img2dataset" in result.output
    with TestClient(create_app(Settings(data_dir=data_dir, state_dir=state_dir))) as client:
        record = client.get("/api/records/3001", params={"ds": "i2d"}).json()
        assert record["sample_id"] == "3001" and record["image_key"] == KEYS[0]
        assert client.get("/api/records/000000000", params={"ds": "i2d"}).status_code == 404
        # The picture is found in the tar by img2dataset's key.
        thumb = client.get("/images/3001/thumb", params={"ds": "i2d"})
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        links = client.get("/api/overview", params={"ds": "i2d"}).json()["links"]
        assert links["checked"] == 6 and links["alive"] == 3
        by_status = links["by_status"]
        assert (by_status["dead"], by_status["opted_out"], by_status["gone"]) == (1, 1, 1)
        dead = client.get("/api/records", params={"ds": "i2d", "link": "dead"}).json()
        assert [r["sample_id"] for r in dead["records"]] == ["3002"]
