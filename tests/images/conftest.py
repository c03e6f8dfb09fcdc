"""Fixtures for the image tests: images made with Pillow, and a real HTTP server on loopback.

The server is Python's threaded ``http.server`` bound to a loopback address; it records every
request it receives, so a test can assert that a refused target was never reached.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image


def image_bytes(
    width: int = 64,
    height: int = 48,
    fmt: str = "JPEG",
    colour: tuple[int, int, int] = (200, 40, 40),
    exif: Image.Exif | None = None,
) -> bytes:
    """A small image; the top-left quarter is white so orientation can be checked."""
    image = Image.new("RGB", (width, height), colour)
    image.paste((255, 255, 255), (0, 0, width // 2, height // 2))
    out = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    wait_before_headers_s: float = 0.0  # slow server: nothing at all for a while
    drip_interval_s: float = 0.0  # slow body: one byte per interval, forever
    stream_bytes: int = 0  # body of this many bytes with no Content-Length


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]


class LoopbackServer:
    """A threaded HTTP server on ``host`` (a loopback address) serving ``routes``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append(SeenRequest(self.path, dict(self.headers.items())))
                route = server.routes.get(self.path, Route(404, body=b"not found"))
                try:
                    server._answer(self, route)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the fetcher gave up on purpose (size cap, deadline)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def _answer(self, handler: BaseHTTPRequestHandler, route: Route) -> None:
        if route.wait_before_headers_s and self._stop.wait(route.wait_before_headers_s):
            return
        handler.send_response(route.status)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        if route.body and "Content-Length" not in route.headers and not route.stream_bytes:
            handler.send_header("Content-Length", str(len(route.body)))
        handler.end_headers()
        if route.drip_interval_s:
            while not self._stop.wait(route.drip_interval_s):
                handler.wfile.write(b"x")
                handler.wfile.flush()
            return
        if route.stream_bytes:
            chunk = b"\xff" * 65536
            for _ in range(route.stream_bytes // len(chunk) + 1):
                handler.wfile.write(chunk)
            return
        handler.wfile.write(route.body)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def paths_seen(self) -> list[str]:
        return [r.path for r in self.requests]

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def second_loopback_server() -> Iterator[LoopbackServer]:
    """A server on 127.0.0.2 (still loopback, outside the tests' allow-list of 127.0.0.1/32)."""
    server = LoopbackServer("127.0.0.2")
    yield server
    server.close()


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    return image_bytes


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
