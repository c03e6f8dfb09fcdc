"""The guarded image fetcher: one GET per URL, on Loupe's terms.

What it guarantees (issue 5):
- only http and https; every hop (first request and each redirect, bounded in number) has its
  host resolved and every address checked (``addresses``) before a connection is made, and the
  socket then connects to that checked address, never to a second DNS answer (no rebinding).
  TLS still verifies the certificate against the host name (SNI and hostname check use the
  name from the URL, only the TCP connection is pinned);
- connect and read timeouts plus a total deadline; a byte cap enforced while streaming;
  a concurrency limit over all hosts and per host;
- no cookies, no Referer, no credentials, a clear User-Agent; ``Accept-Encoding: identity`` so
  the byte cap counts what is decoded (no gzip bombs);
- ``X-Robots-Tag: noai`` / ``noimageai`` is respected the way img2dataset does: not read, not
  shown, recorded as ``opted_out``;
- the body is decoded with Pillow under the pixel limit and handed back as pixels; the fetched
  bytes themselves are never returned, so they can never be served as they came.

It is synchronous on purpose: the web layer calls it from a worker thread, the link checker
from a thread pool, and blocking sockets make every timeout easy to reason about.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import certifi
import httpcore
import httpx
from PIL import Image

from app.images.addresses import (
    BlockedAddress,
    GuardedResolver,
    IPNetwork,
    NameNotResolved,
    Resolver,
    ResolveTimeout,
    parse_allowlist,
    system_resolver,
)
from app.images.decode import ImageRefused, decode_image

if TYPE_CHECKING:
    from app.config import Settings

FetchStatus = Literal[
    "ok",
    "dead",
    "gone",
    "timeout",
    "not_image",
    "too_large",
    "opted_out",
    "changed",
    "blocked_address",
    "busy",  # no free fetch slot in time; says nothing about the link, never stored
]
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
OPT_OUT_DIRECTIVES = frozenset({"noai", "noimageai"})
UA_TOKEN = "loupe"  # the robots token a site may address us by, e.g. "loupe: noai"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    deadline_s: float = 20.0
    max_bytes: int = 20_000_000
    max_redirects: int = 5
    concurrency: int = 16
    per_host_concurrency: int = 2
    max_pixels: int = 40_000_000
    user_agent: str = "Loupe/0.1 (dataset explorer image check; honours X-Robots-Tag noai)"
    allowlist: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchLimits:
        return cls(
            connect_timeout_s=settings.remote_connect_timeout_s,
            read_timeout_s=settings.remote_read_timeout_s,
            deadline_s=settings.remote_deadline_s,
            max_bytes=settings.remote_max_bytes,
            max_redirects=settings.remote_max_redirects,
            concurrency=settings.remote_concurrency,
            per_host_concurrency=settings.remote_per_host_concurrency,
            max_pixels=settings.max_image_pixels,
            user_agent=settings.remote_user_agent,
            allowlist=parse_allowlist(settings.remote_allowlist),
        )


@dataclass
class FetchOutcome:
    status: FetchStatus
    detail: str
    url: str
    final_url: str | None = None
    http_status: int | None = None
    seconds: float = 0.0
    image: Image.Image | None = field(default=None, repr=False)  # only when status == "ok"


class _Stop(Exception):
    """Ends a fetch early with a status (raised inside the hop loop)."""

    def __init__(self, status: FetchStatus, detail: str, http_status: int | None = None) -> None:
        super().__init__(detail)
        self.status: FetchStatus = status
        self.detail = detail
        self.http_status = http_status


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore network backend that resolves, checks, and connects to the checked address.

    Every new TCP connection the pool opens goes through here, so a kept-alive connection
    was necessarily made to an address that passed the check.
    """

    def __init__(self, resolver: GuardedResolver) -> None:
        self._resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.NetworkStream:
        started = time.monotonic()
        budget = 10.0 if timeout is None else timeout
        addresses = self._resolver.resolve(host, port, budget)
        last_error: Exception | None = None
        for address in addresses:
            remaining = budget - (time.monotonic() - started)
            if remaining <= 0:
                raise httpcore.ConnectTimeout(f"connecting to {host} took too long")
            try:
                return super().connect_tcp(str(address), port, remaining, local_address, None)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:  # refused, unreachable: try the next address
                last_error = exc
        raise httpcore.ConnectError(str(last_error) if last_error else f"cannot reach {host}")


class _Slots:
    """At most ``total`` fetches at once, and at most ``per_host`` against one host."""

    def __init__(self, total: int, per_host: int) -> None:
        self._total = threading.BoundedSemaphore(total)
        self._per_host = per_host
        self._hosts: dict[str, list] = {}  # host -> [semaphore, holders]; dropped when unused
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, host: str, timeout: float | None) -> Iterator[bool]:
        ends = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            entry = self._hosts.setdefault(host, [threading.BoundedSemaphore(self._per_host), 0])
            entry[1] += 1
        got_host = got_total = False
        try:
            got_host = entry[0].acquire(timeout=_left(ends))
            got_total = got_host and self._total.acquire(timeout=_left(ends))
            yield got_total
        finally:
            if got_total:
                self._total.release()
            if got_host:
                entry[0].release()
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    self._hosts.pop(host, None)


def _left(ends: float | None) -> float | None:
    return None if ends is None else max(0.0, ends - time.monotonic())


class RemoteFetcher:
    """Fetch one image URL under ``FetchLimits``; thread-safe, one per process is enough."""

    def __init__(
        self,
        limits: FetchLimits,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.limits = limits
        self._resolver = GuardedResolver(limits.allowlist, resolver, workers=limits.concurrency)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(cafile=certifi.where()),
            max_connections=limits.concurrency,
            keepalive_expiry=15.0,
            network_backend=_GuardedBackend(self._resolver),
        )
        self._slots = _Slots(limits.concurrency, limits.per_host_concurrency)

    def close(self) -> None:
        self._pool.close()
        self._resolver.close()

    def __enter__(self) -> RemoteFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(
        self,
        url: str,
        *,
        md5: str | None = None,
        sha256: str | None = None,
        decode_target: int | None = None,
        slot_wait_s: float | None = None,
    ) -> FetchOutcome:
        """GET ``url`` and classify the result; never raises for anything the remote side does.

        ``md5``/``sha256`` are the dataset's hashes of the crawled bytes (``changed`` when they
        differ); ``decode_target`` lets JPEGs decode at reduced size; ``slot_wait_s`` bounds the
        wait for a free slot (None waits as long as it takes, for batch checks).
        """
        started = time.monotonic()
        deadline = started + self.limits.deadline_s
        current = url
        http_status: int | None = None
        try:
            for hop in range(self.limits.max_redirects + 1):
                target = _parse(current)
                with self._slots.hold(target.host, slot_wait_s) as got_slot:
                    if not got_slot:
                        return FetchOutcome("busy", "no free fetch slot", url, seconds=0.0)
                    if hop == 0:  # the deadline counts fetching, not queueing for a slot
                        started = time.monotonic()
                        deadline = started + self.limits.deadline_s
                    redirect, http_status, body = self._one_hop(target, deadline)
                if redirect is None:
                    image = self._judge(body, md5, sha256, decode_target, http_status)
                    return FetchOutcome(
                        "ok",
                        "image fetched",
                        url,
                        str(target),
                        http_status,
                        time.monotonic() - started,
                        image,
                    )
                current = redirect
            raise _Stop("dead", f"more than {self.limits.max_redirects} redirects", http_status)
        except _Stop as stop:
            return FetchOutcome(
                stop.status,
                stop.detail,
                url,
                current,
                stop.http_status or http_status,
                time.monotonic() - started,
            )

    # -- one request -----------------------------------------------------------------------

    def _one_hop(self, target: httpx.URL, deadline: float) -> tuple[str | None, int, bytes]:
        """One GET. Returns (redirect location or None, HTTP status, body)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Stop("timeout", f"no answer within {self.limits.deadline_s:g} s")
        timeouts = {
            "connect": min(self.limits.connect_timeout_s, remaining),
            "read": min(self.limits.read_timeout_s, remaining),
            "write": min(self.limits.read_timeout_s, remaining),
            "pool": min(self.limits.connect_timeout_s, remaining),
        }
        headers = [
            (b"Host", target.netloc),
            (b"User-Agent", self.limits.user_agent.encode("ascii", "replace")),
            (b"Accept", b"image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8"),
            (b"Accept-Encoding", b"identity"),
            (b"Connection", b"keep-alive"),
        ]
        request_url = httpcore.URL(
            scheme=target.raw_scheme,
            host=target.raw_host,
            port=target.port,
            target=target.raw_path,
        )
        try:
            with self._pool.stream(
                "GET", request_url, headers=headers, extensions={"timeout": timeouts}
            ) as response:
                status = response.status
                response_headers = httpx.Headers(response.headers)
                if status in REDIRECT_CODES:
                    location = response_headers.get("location")
                    if not location:
                        raise _Stop("dead", f"HTTP {status} redirect without a Location", status)
                    return str(target.join(location.strip())), status, b""
                if status >= 400:
                    raise _Stop("dead", f"HTTP {status}", status)
                if not 200 <= status < 300:
                    raise _Stop("dead", f"unexpected HTTP {status}", status)
                if _opted_out(response_headers.get_list("x-robots-tag")):
                    raise _Stop("opted_out", "X-Robots-Tag forbids AI use (noai/noimageai)", status)
                self._check_head(response_headers, status)
                return None, status, self._read_body(response, deadline, status)
        except _Stop:
            raise
        except BlockedAddress as exc:
            raise _Stop("blocked_address", str(exc)) from None
        except NameNotResolved as exc:
            raise _Stop("gone", f"host name does not resolve ({exc})") from None
        except (ResolveTimeout, httpcore.TimeoutException) as exc:
            raise _Stop("timeout", f"timed out ({type(exc).__name__})") from None
        except httpcore.ConnectError as exc:
            raise _Stop("dead", f"connection failed ({_short(exc)})") from None
        except (httpcore.ProtocolError, httpcore.NetworkError, ssl.SSLError) as exc:
            raise _Stop("dead", f"broken response ({_short(exc)})") from None
        except httpcore.UnsupportedProtocol as exc:
            raise _Stop("blocked_address", f"unsupported URL ({_short(exc)})") from None
        except (ValueError, OSError) as exc:  # malformed headers, unmapped socket errors
            raise _Stop("dead", f"broken response ({_short(exc)})") from None

    def _check_head(self, headers: httpx.Headers, status: int) -> None:
        length = headers.get("content-length")
        if length and length.strip().isdigit() and int(length) > self.limits.max_bytes:
            raise _Stop(
                "too_large",
                f"{int(length):,} bytes announced, limit {self.limits.max_bytes:,}",
                status,
            )
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type.startswith("text/") or content_type in (
            "application/json",
            "application/xhtml+xml",
            "application/xml",
        ):
            raise _Stop("not_image", f"served as {content_type}, not an image", status)

    def _read_body(self, response: httpcore.Response, deadline: float, status: int) -> bytes:
        body = bytearray()
        for chunk in response.iter_stream():
            body += chunk
            if len(body) > self.limits.max_bytes:
                raise _Stop("too_large", f"more than {self.limits.max_bytes:,} bytes", status)
            if time.monotonic() > deadline:
                raise _Stop(
                    "timeout", f"still downloading after {self.limits.deadline_s:g} s", status
                )
        return bytes(body)

    def _judge(
        self,
        body: bytes,
        md5: str | None,
        sha256: str | None,
        decode_target: int | None,
        status: int,
    ) -> Image.Image:
        try:
            image = decode_image(body, self.limits.max_pixels, decode_target)
        except ImageRefused as exc:
            raise _Stop(exc.kind, exc.detail, status) from None
        changed = _hash_differs(hashlib.md5, body, md5, 32) or _hash_differs(
            hashlib.sha256, body, sha256, 64
        )
        if changed:
            raise _Stop("changed", f"image bytes differ from the dataset's {changed}", status)
        return image


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise _Stop("dead", f"invalid URL ({_short(exc)})") from None
    if parsed.scheme not in ("http", "https"):
        raise _Stop("blocked_address", f"scheme {parsed.scheme or '(none)'!r} refused")
    if not parsed.host:
        raise _Stop("dead", "URL has no host")
    return parsed


def _opted_out(values: Sequence[str]) -> bool:
    """img2dataset's rule: ``noai``/``noimageai`` for everyone, or addressed to our token."""
    for value in values:
        token, colon, rest = value.partition(":")
        if colon:  # "googlebot: noindex" addresses someone else; "loupe: noai" addresses us
            if token.strip().lower() not in (UA_TOKEN, "*"):
                continue
            directives = rest
        else:
            directives = value
        if any(d.strip().lower() in OPT_OUT_DIRECTIVES for d in directives.split(",")):
            return True
    return False


def _hash_differs(algorithm: object, body: bytes, expected: str | None, length: int) -> str:
    """The hash's name when the dataset has a well-formed one that does not match, else ''."""
    if not expected or not isinstance(expected, str):
        return ""
    expected = expected.strip().lower()
    if len(expected) != length or any(c not in "0123456789abcdef" for c in expected):
        return ""  # malformed hash in the dataset: cannot say it changed
    actual = algorithm(body).hexdigest()  # type: ignore[operator]
    return "" if actual == expected else ("md5" if length == 32 else "sha256")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
