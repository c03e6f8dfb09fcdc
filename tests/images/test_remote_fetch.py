"""The guarded fetcher against a real HTTP server on loopback.

The tests' allow-list admits 127.0.0.1/32 only, so the server is reachable while every other
refused address (127.0.0.2, ::1, private ranges) still is refused. Refused private targets are
IP literals: the guard turns them down at the resolution step, before any packet is sent.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import subprocess
import threading
import time
from http.server import ThreadingHTTPServer

import pytest

from app.images.addresses import BlockedAddress, check_address, parse_allowlist
from app.images.remote import FetchLimits, RemoteFetcher
from tests.images.conftest import LoopbackServer, Route, image_bytes, png_bomb

ALLOW_LOOPBACK_1 = parse_allowlist(["127.0.0.1/32"])


def limits(**overrides) -> FetchLimits:
    base = dict(
        connect_timeout_s=1.0,
        read_timeout_s=0.5,
        deadline_s=2.0,
        max_bytes=200_000,
        max_redirects=3,
        concurrency=4,
        per_host_concurrency=2,
        max_pixels=4_000_000,
        allowlist=ALLOW_LOOPBACK_1,
    )
    base.update(overrides)
    return FetchLimits(**base)


@pytest.fixture
def fetcher():
    with RemoteFetcher(limits()) as f:
        yield f


def test_good_image(fetcher, http_server):
    http_server.routes["/cat.jpg"] = Route(
        headers={"Content-Type": "image/jpeg"}, body=image_bytes(64, 48)
    )
    outcome = fetcher.fetch(http_server.url("/cat.jpg"))
    assert outcome.status == "ok", outcome.detail
    assert outcome.http_status == 200
    assert outcome.image is not None and outcome.image.size == (64, 48)
    assert outcome.image.mode == "RGB"


def test_sends_a_clear_user_agent_and_no_cookie_or_referer(fetcher, http_server):
    http_server.routes["/start"] = Route(
        302, headers={"Location": "/cat.png", "Set-Cookie": "track=1; Path=/"}
    )
    http_server.routes["/cat.png"] = Route(
        headers={"Content-Type": "application/octet-stream"}, body=image_bytes(fmt="PNG")
    )
    outcome = fetcher.fetch(http_server.url("/start"))
    assert outcome.status == "ok", outcome.detail
    assert http_server.paths_seen() == ["/start", "/cat.png"]
    second = {k.lower(): v for k, v in http_server.requests[1].headers.items()}
    assert "cookie" not in second and "referer" not in second and "authorization" not in second
    assert second["user-agent"].startswith("Loupe/")
    assert outcome.final_url.endswith("/cat.png")


@pytest.mark.parametrize("code", [404, 410, 500, 503])
def test_http_errors_are_dead(fetcher, http_server, code):
    http_server.routes["/x.jpg"] = Route(code, body=b"nope")
    outcome = fetcher.fetch(http_server.url("/x.jpg"))
    assert (outcome.status, outcome.http_status) == ("dead", code)


def test_huge_file_announced(fetcher, http_server):
    http_server.routes["/big.jpg"] = Route(
        headers={"Content-Length": "50000000", "Content-Type": "image/jpeg"}, body=b"\xff" * 10
    )
    outcome = fetcher.fetch(http_server.url("/big.jpg"))
    assert outcome.status == "too_large" and "announced" in outcome.detail


def test_huge_file_streamed_without_length(fetcher, http_server):
    http_server.routes["/big.jpg"] = Route(
        headers={"Content-Type": "image/jpeg"}, stream_bytes=3_000_000
    )
    outcome = fetcher.fetch(http_server.url("/big.jpg"))
    assert outcome.status == "too_large"
    assert outcome.seconds < 2.0


def test_slow_response_times_out(fetcher, http_server):
    http_server.routes["/slow.jpg"] = Route(wait_before_headers_s=10, body=image_bytes())
    started = time.monotonic()
    outcome = fetcher.fetch(http_server.url("/slow.jpg"))
    assert outcome.status == "timeout"
    assert time.monotonic() - started < 2.0


def test_dripping_body_hits_the_total_deadline(fetcher, http_server):
    # Each byte arrives well within the read timeout; only the total deadline stops it.
    http_server.routes["/drip.jpg"] = Route(
        headers={"Content-Type": "image/jpeg"}, drip_interval_s=0.1
    )
    started = time.monotonic()
    outcome = fetcher.fetch(http_server.url("/drip.jpg"))
    assert outcome.status == "timeout"
    assert 1.5 < time.monotonic() - started < 3.5


def test_decompression_bomb(fetcher, http_server):
    http_server.routes["/bomb.png"] = Route(
        headers={"Content-Type": "image/png"}, body=png_bomb(60_000, 60_000)
    )
    http_server.routes["/big.png"] = Route(
        headers={"Content-Type": "image/png"}, body=png_bomb(3_000, 3_000)
    )  # over 4M-pixel limit
    assert fetcher.fetch(http_server.url("/bomb.png")).status == "too_large"
    outcome = fetcher.fetch(http_server.url("/big.png"))
    assert outcome.status == "too_large" and "pixel limit" in outcome.detail


@pytest.mark.parametrize("content_type", ["image/jpeg", "text/html; charset=utf-8"])
def test_html_posing_as_image(fetcher, http_server, content_type):
    page = b"<!doctype html><html><body>This image is no longer available</body></html>"
    http_server.routes["/cat.jpg"] = Route(headers={"Content-Type": content_type}, body=page)
    outcome = fetcher.fetch(http_server.url("/cat.jpg"))
    assert outcome.status == "not_image" and outcome.image is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("noai", "opted_out"),
        ("noindex, noimageai", "opted_out"),
        ("loupe: noai", "opted_out"),
        ("googlebot: noai", "ok"),  # addressed to another crawler
        ("noarchive", "ok"),
    ],
)
def test_opt_out_header(fetcher, http_server, header, expected):
    http_server.routes["/cat.jpg"] = Route(
        headers={"Content-Type": "image/jpeg", "X-Robots-Tag": header}, body=image_bytes()
    )
    outcome = fetcher.fetch(http_server.url("/cat.jpg"))
    assert outcome.status == expected
    assert (outcome.image is None) == (expected == "opted_out")


def test_changed_hash(fetcher, http_server):
    body = image_bytes()
    http_server.routes["/cat.jpg"] = Route(headers={"Content-Type": "image/jpeg"}, body=body)
    url = http_server.url("/cat.jpg")
    other = hashlib.md5(b"the image the crawler saw").hexdigest()
    changed = fetcher.fetch(url, md5=other)
    assert changed.status == "changed" and changed.image is None
    assert fetcher.fetch(url, md5=hashlib.md5(body).hexdigest().upper()).status == "ok"
    assert fetcher.fetch(url, sha256=hashlib.sha256(body).hexdigest()).status == "ok"
    assert fetcher.fetch(url, sha256=hashlib.sha256(b"x").hexdigest()).status == "changed"
    assert fetcher.fetch(url, md5="not-a-hash").status == "ok"  # malformed: cannot judge


def test_loopback_refused_without_allowlist(http_server):
    http_server.routes["/cat.jpg"] = Route(body=image_bytes())
    with RemoteFetcher(limits(allowlist=())) as fetcher:
        outcome = fetcher.fetch(http_server.url("/cat.jpg"))
    assert outcome.status == "blocked_address" and "loopback" in outcome.detail
    assert http_server.requests == []


def test_redirect_to_refused_loopback_is_not_followed(fetcher, http_server, second_loopback_server):
    second_loopback_server.routes["/secret"] = Route(body=image_bytes())
    http_server.routes["/r"] = Route(
        302, headers={"Location": second_loopback_server.url("/secret")}
    )
    outcome = fetcher.fetch(http_server.url("/r"))
    assert outcome.status == "blocked_address" and "127.0.0.2" in outcome.detail
    assert http_server.paths_seen() == ["/r"]
    assert second_loopback_server.requests == []


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/admin",
        "http://192.168.1.1:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fd00::1]/",
        "http://0.0.0.0:80/",
        "http://2130706434/",  # 127.0.0.2 written as one number
    ],
)
def test_redirect_to_private_ranges_refused_before_connecting(fetcher, http_server, target):
    host = target.split("//")[1].split("/")[0].rsplit(":", 1)[0].strip("[]")
    if not host.isdigit():
        # The guard itself refuses the literal: so the fetch below cannot send a packet there.
        with pytest.raises(BlockedAddress):
            check_address(host, ALLOW_LOOPBACK_1)
    http_server.routes["/r"] = Route(301, headers={"Location": target})
    started = time.monotonic()
    outcome = fetcher.fetch(http_server.url("/r"))
    assert outcome.status == "blocked_address", outcome.detail
    assert time.monotonic() - started < 0.5  # refused at once, no connection attempt


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://example.invalid/x.jpg", "gopher://127.0.0.1:70/"]
)
def test_redirect_to_other_schemes_refused(fetcher, http_server, target):
    http_server.routes["/r"] = Route(302, headers={"Location": target})
    outcome = fetcher.fetch(http_server.url("/r"))
    assert outcome.status == "blocked_address" and "scheme" in outcome.detail


def test_redirect_count_is_bounded(fetcher, http_server):
    http_server.routes["/loop"] = Route(302, headers={"Location": "/loop"})
    outcome = fetcher.fetch(http_server.url("/loop"))
    assert outcome.status == "dead" and "redirects" in outcome.detail
    assert len(http_server.requests) == 4  # the first request and max_redirects=3 more


def test_connects_to_the_checked_address_with_the_original_host(http_server):
    """A name is resolved once, checked, and the socket goes to that address; the request
    still names the host (virtual hosting works)."""
    http_server.routes["/cat.jpg"] = Route(body=image_bytes())
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    with RemoteFetcher(limits(), resolver=resolver) as fetcher:
        outcome = fetcher.fetch(f"http://images.test:{http_server.port}/cat.jpg")
    assert outcome.status == "ok", outcome.detail
    assert asked == ["images.test"]
    assert http_server.requests[0].headers["Host"] == f"images.test:{http_server.port}"


@pytest.mark.parametrize("answers", [["127.0.0.2"], ["127.0.0.1", "10.0.0.1"], ["::1"]])
def test_names_resolving_to_refused_addresses(http_server, answers):
    http_server.routes["/cat.jpg"] = Route(body=image_bytes())
    with RemoteFetcher(limits(), resolver=lambda host, port: answers) as fetcher:
        outcome = fetcher.fetch(f"http://rebind.test:{http_server.port}/cat.jpg")
    assert outcome.status == "blocked_address"
    assert http_server.requests == []


def test_dns_failure_is_gone_and_slow_dns_times_out():
    from app.images.addresses import NameNotResolved

    def no_such_host(host: str, port: int) -> list[str]:
        raise NameNotResolved(f"{host}: Name or service not known")

    with RemoteFetcher(limits(), resolver=no_such_host) as fetcher:
        assert fetcher.fetch("http://gone.test/x.jpg").status == "gone"

    def slow(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["127.0.0.1"]

    with RemoteFetcher(limits(), resolver=slow) as fetcher:
        started = time.monotonic()
        assert fetcher.fetch("http://slow-dns.test/x.jpg").status == "timeout"
        assert time.monotonic() - started < 2.0


def test_connection_refused_is_dead():
    with ThreadingHTTPServer(("127.0.0.1", 0), None) as probe:  # take a port, then free it
        port = probe.server_address[1]
    with RemoteFetcher(limits()) as fetcher:
        outcome = fetcher.fetch(f"http://127.0.0.1:{port}/x.jpg")
    assert outcome.status == "dead" and "connection failed" in outcome.detail


def test_per_host_limit(http_server):
    http_server.routes["/slow.jpg"] = Route(wait_before_headers_s=1.0, body=image_bytes())
    http_server.routes["/fast.jpg"] = Route(body=image_bytes())
    with RemoteFetcher(limits(per_host_concurrency=1, read_timeout_s=2, deadline_s=3)) as f:
        first = threading.Thread(target=f.fetch, args=(http_server.url("/slow.jpg"),))
        first.start()
        time.sleep(0.2)
        busy = f.fetch(http_server.url("/fast.jpg"), slot_wait_s=0.1)
        waited = f.fetch(http_server.url("/fast.jpg"), slot_wait_s=3)
        first.join()
    assert busy.status == "busy"
    assert waited.status == "ok"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
            "-days",
            "1",
            "-subj",
            "/CN=images.test",
            "-addext",
            "subjectAltName=DNS:images.test",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )
    return folder / "cert.pem", folder / "key.pem"


def test_tls_is_verified_against_the_host_name(tls_files):
    cert, key = tls_files
    server = LoopbackServer("127.0.0.1")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server.httpd.socket = server_context.wrap_socket(server.httpd.socket, server_side=True)
    server.routes["/cat.jpg"] = Route(body=image_bytes())
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        with RemoteFetcher(
            limits(), resolver=lambda h, p: ["127.0.0.1"], ssl_context=trust
        ) as fetcher:
            good = fetcher.fetch(f"https://images.test:{server.port}/cat.jpg")
            wrong_name = fetcher.fetch(f"https://other.test:{server.port}/cat.jpg")
        with RemoteFetcher(limits(), resolver=lambda h, p: ["127.0.0.1"]) as default_trust:
            untrusted = default_trust.fetch(f"https://images.test:{server.port}/cat.jpg")
    finally:
        server.close()
    assert good.status == "ok", good.detail
    assert wrong_name.status == "dead" and "certificate" in wrong_name.detail.lower()
    assert untrusted.status == "dead" and "certificate" in untrusted.detail.lower()
