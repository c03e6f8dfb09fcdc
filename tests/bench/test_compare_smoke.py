"""The parts of bench/compare_clip_retrieval.py that run without clip-retrieval installed."""

from __future__ import annotations

import http.server
import json
import threading

import numpy as np
import pytest

from app.vectors.precomputed import find_shards
from bench import compare_clip_retrieval as compare


def test_defaults_and_bad_arguments(tmp_path):
    args = compare.parse_args(["--out", str(tmp_path)])
    assert (args.n, args.queries, args.warmup, args.out) == (50_000, 200, 20, tmp_path)
    for bad in (["--n", "10"], ["--queries", "0"], ["--warmup", "-1"]):
        with pytest.raises(SystemExit):
            compare.parse_args(bad)


def test_embeddings_are_written_aligned_in_embedding_reader_layout(tmp_path):
    layout = compare.Layout(tmp_path)
    compare.write_embeddings(layout, 2_000, seed=1)
    (shard,) = find_shards(layout.emb)  # Loupe's own alignment check accepts it
    assert (shard.rows, shard.dim, shard.text_emb is not None) == (2_000, compare.DIM, True)
    vectors = np.load(shard.img_emb)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    queries = compare.make_queries(2_000, 1, 5)
    assert queries.shape == (5, compare.DIM)
    assert not np.isin(queries[:, 0], vectors[:, 0]).any()  # new points, not stored ones


def test_both_request_bodies_ask_for_fifty_by_embedding():
    vector = np.full(compare.DIM, 1 / np.sqrt(compare.DIM), dtype=np.float32)
    cr = compare.cr_body(vector)
    assert (cr["num_images"], cr["modality"], cr["deduplicate"]) == (50, "image", False)
    assert len(cr["embedding_input"]) == compare.DIM
    assert compare.loupe_body(vector)["k"] == 50
    assert compare.cr_urls([{"URL": "a"}, {"url": "b"}]) == ["a", "b"]
    assert compare.loupe_urls({"records": [{"url": "a"}]}) == ["a"]


def test_percentiles():
    result = compare.percentiles([float(i) for i in range(1, 101)])
    assert result["p50_ms"] == pytest.approx(50.5)
    assert result["p95_ms"] == pytest.approx(95.05)


@pytest.mark.parametrize("protocol", ["HTTP/1.0", "HTTP/1.1"])
def test_the_client_keeps_its_connection_or_opens_it_again(protocol):
    """KeepAlive over a real loopback server: kept alive (HTTP/1.1), or reopened after each
    answer when the server closes (Flask's development server speaks HTTP/1.0)."""
    peers: list[int] = []

    class Answer(http.server.BaseHTTPRequestHandler):
        protocol_version = protocol

        def do_POST(self):  # noqa: N802 (the standard library's name)
            peers.append(self.client_address[1])
            body = self.rfile.read(int(self.headers["Content-Length"]))
            data = json.dumps({"echo": json.loads(body)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = compare.KeepAlive(server.server_address[1])
    try:
        for i in range(3):
            status, data = client.request("POST", "/knn-service", json.dumps([i]).encode())
            assert status == 200 and json.loads(data) == {"echo": [i]}
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    assert len(set(peers)) == (1 if protocol == "HTTP/1.1" else 3)
