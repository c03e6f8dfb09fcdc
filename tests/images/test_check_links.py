"""`loupe check-links` on a real ingested dataset whose URLs point at a loopback server."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from app.commands.images import check_links
from app.images.linkstatus import LinkStatusStore
from tests.factories import laion_table
from tests.images.conftest import Route, image_bytes

N = 30


@pytest.fixture
def cli():
    app = typer.Typer()
    app.command()(check_links)
    app.command("noop")(lambda: None)  # two commands: typer keeps the sub-command name
    return app


@pytest.fixture
def links_dataset(tmp_path, http_server, monkeypatch):
    from app.build import build_dataset

    body = image_bytes()
    urls, md5s = [], []
    for i in range(N):
        path = f"/img/{i}.jpg"
        urls.append(http_server.url(path))
        kind = i % 3
        if kind == 0:
            http_server.routes[path] = Route(headers={"Content-Type": "image/jpeg"}, body=body)
        elif kind == 1:
            http_server.routes[path] = Route(404)
        else:
            http_server.routes[path] = Route(
                headers={"Content-Type": "text/html"}, body=b"<html>moved</html>"
            )
        md5s.append(hashlib.md5(body).hexdigest() if i != 3 else "0" * 32)  # 3 has changed
    table = laion_table(N)
    table = table.set_column(table.schema.get_field_index("URL"), "URL", pa.array(urls))
    table = table.append_column("md5", pa.array(md5s))
    source = tmp_path / "src" / "part-0.parquet"
    source.parent.mkdir()
    pq.write_table(table, source)
    data_dir = tmp_path / "indexes"
    data_dir.mkdir()
    build_dataset(data_dir, "links", [source], progress=False)
    monkeypatch.setenv("LOUPE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOUPE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LOUPE_REMOTE_ALLOWLIST", '["127.0.0.1/32"]')
    monkeypatch.setenv("LOUPE_REMOTE_READ_TIMEOUT_S", "2")
    return tmp_path / "state" / "linkstatus.sqlite3"


def test_check_links_records_statuses_and_prints_rot(cli, links_dataset, http_server):
    result = CliRunner().invoke(cli, ["check-links", "links", "--sample", "100", "--workers", "4"])
    assert result.exit_code == 0, result.output
    assert len(http_server.requests) == N  # every sampled URL fetched exactly once
    stats = LinkStatusStore(links_dataset).rot_stats("links")
    assert stats.checked == N
    assert stats.by_status["ok"] == 9 and stats.by_status["changed"] == 1
    assert stats.by_status["dead"] == 10 and stats.by_status["not_image"] == 10
    assert "alive (ok + changed): 33.3%" in result.output
    assert "127.0.0.1" in result.output  # the by-domain table

    again = CliRunner().invoke(cli, ["check-links", "links", "--sample", "10"])
    assert again.exit_code == 0 and "0 to fetch" in again.output
    assert len(http_server.requests) == N  # checked recently: nothing fetched again


def test_sample_is_seeded_and_bounded(cli, links_dataset, http_server):
    result = CliRunner().invoke(cli, ["check-links", "links", "--sample", "5", "--seed", "3"])
    assert result.exit_code == 0, result.output
    first = sorted(r.path for r in http_server.requests)
    assert len(first) == 5
    http_server.requests.clear()
    CliRunner().invoke(cli, ["check-links", "links", "--sample", "5", "--seed", "3", "--recheck"])
    assert sorted(r.path for r in http_server.requests) == first


def test_refused_without_allowlist(cli, links_dataset, http_server, monkeypatch):
    monkeypatch.setenv("LOUPE_REMOTE_ALLOWLIST", "[]")
    result = CliRunner().invoke(cli, ["check-links", "links", "--sample", "6"])
    assert result.exit_code == 0, result.output
    assert http_server.requests == []
    assert LinkStatusStore(links_dataset).rot_stats("links").by_status["blocked_address"] == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check-links", "nosuch"], "no dataset 'nosuch'"),
        (["check-links", "Bad/Name"], "invalid dataset name"),
    ],
)
def test_clear_errors(cli, links_dataset, args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output


def test_bad_allowlist_is_a_clear_error(cli, links_dataset, monkeypatch):
    monkeypatch.setenv("LOUPE_REMOTE_ALLOWLIST", '["intranet"]')
    result = CliRunner().invoke(cli, ["check-links", "links"])
    assert result.exit_code == 2 and "remote_allowlist entry 'intranet'" in result.output
