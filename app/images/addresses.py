"""Which network addresses the image fetcher may connect to.

The fetcher must never become a way into the network Loupe runs in (SSRF): a URL in a dataset,
or a redirect from a host we do not control, could point at 127.0.0.1, a router's admin page,
a cloud metadata service (169.254.169.254) or a database on 10.x. So every address a host name
resolves to is checked here, and the connection is then made to that checked address only.

Refused: loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT) and any
other non-global address, plus the IPv6 forms that carry an IPv4 address inside (mapped,
compatible, NAT64, 6to4, Teredo) when the carried address is refused. Networks in the
allow-list are always permitted (tests, intranets).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# host, port -> addresses as text; replaceable so tests can say what a name resolves to.
Resolver = Callable[[str, int], list[str]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class BlockedAddress(Exception):
    """The target is not one the fetcher may reach; raised before any packet is sent to it."""


class NameNotResolved(Exception):
    """DNS gave no address for the host (the link is gone)."""


class ResolveTimeout(Exception):
    """DNS did not answer within the connect timeout."""


def parse_allowlist(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings from settings; a bad entry is a configuration error, said plainly."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"remote_allowlist entry {entry!r} is not a network (use CIDR like 127.0.0.1/32)"
            ) from None
    return tuple(networks)


def refusal_reason(ip: IPAddress) -> str | None:
    """Why the fetcher may not connect to ``ip``, or None if it is a public address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_refusal(ip)
    return _v6_refusal(ip)


def _v4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (ip in _CGNAT, "shared (CGNAT)"),
        (not ip.is_global, "not globally routable"),
    )
    for refused, reason in checks:
        if refused:
            return f"{reason} address {ip}"
    return None


def _v6_refusal(ip: ipaddress.IPv6Address) -> str | None:
    if ip.scope_id:
        return f"scoped address {ip}"
    if ip.teredo is not None:
        # Teredo tunnels to an obfuscated IPv4 client; nothing in a dataset needs one.
        return f"Teredo tunnel address {ip}"
    if ip in _NAT64_LOCAL:
        return f"local-use NAT64 address {ip}"
    embedded = _embedded_v4(ip)
    if embedded is not None:
        form, v4 = embedded
        inner = _v4_refusal(v4)
        # A public IPv4 reached through NAT64 or 6to4 is fine (IPv6-only networks need it).
        return f"{inner} (inside IPv6 {form} address {ip})" if inner else None
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_site_local, "site-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not globally routable"),
    )
    for refused, reason in checks:
        if refused:
            return f"{reason} address {ip}"
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return "IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def check_address(address: str, allowlist: Sequence[IPNetwork] = ()) -> IPAddress:
    """The parsed address if the fetcher may connect to it; BlockedAddress otherwise."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise BlockedAddress(f"not an IP address: {address!r}") from None
    if any(ip.version == net.version and ip in net for net in allowlist):
        return ip
    reason = refusal_reason(ip)
    if reason is not None:
        raise BlockedAddress(f"refused {reason}")
    return ip


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses the system resolver gives for ``host`` (TCP)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NameNotResolved(f"{host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedResolver:
    """Resolve a host under a time limit and return only addresses that pass the check.

    If any address of a name is refused the whole name is refused: a name that mixes public
    and private addresses is exactly what a rebinding attack looks like.
    """

    def __init__(
        self,
        allowlist: Sequence[IPNetwork] = (),
        resolver: Resolver = system_resolver,
        workers: int = 8,
    ) -> None:
        self._allowlist = tuple(allowlist)
        self._resolver = resolver
        # getaddrinfo has no timeout of its own; a pool thread lets us stop waiting for it.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loupe-dns")

    def resolve(self, host: str, port: int, timeout: float) -> list[IPAddress]:
        literal = _literal_ip(host)
        if literal is not None:
            return [check_address(literal, self._allowlist)]
        future = self._pool.submit(self._resolver, host, port)
        try:
            addresses = future.result(timeout=timeout)
        except FutureTimeout:
            raise ResolveTimeout(f"no DNS answer for {host} within {timeout:g} s") from None
        if not addresses:
            raise NameNotResolved(f"{host}: no address")
        return [check_address(address, self._allowlist) for address in addresses]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _literal_ip(host: str) -> str | None:
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
