"""Which addresses the fetcher may reach: a table, checked without any network traffic."""

from __future__ import annotations

import pytest

from app.images.addresses import (
    BlockedAddress,
    GuardedResolver,
    NameNotResolved,
    ResolveTimeout,
    check_address,
    parse_allowlist,
)

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.0.1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%2", "scoped"),
    ("224.0.0.251", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("100.64.0.1", "CGNAT"),
    ("192.0.2.10", "private"),  # documentation range
    ("::ffff:127.0.0.1", "mapped"),
    ("::ffff:169.254.169.254", "mapped"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("64:ff9b::10.0.0.1", "NAT64"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("2002:c0a8:0001::1", "6to4"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("fec0::1", "site-local"),
    ("not-an-ip", "not an IP"),
]

ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:0808:0808::1",
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_refused(address, why):
    with pytest.raises(BlockedAddress, match=why):
        check_address(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_allowed(address):
    check_address(address)


def test_allowlist_admits_only_its_networks():
    allow = parse_allowlist(["127.0.0.1/32", "10.20.0.0/16"])
    check_address("127.0.0.1", allow)
    check_address("10.20.3.4", allow)
    for address in ("127.0.0.2", "10.21.0.1", "::1"):
        with pytest.raises(BlockedAddress):
            check_address(address, allow)


def test_bad_allowlist_entry_is_a_clear_error():
    with pytest.raises(ValueError, match="remote_allowlist entry 'intranet'"):
        parse_allowlist(["intranet"])


def test_resolver_refuses_a_name_if_any_address_is_refused():
    resolver = GuardedResolver(resolver=lambda host, port: ["8.8.8.8", "192.168.1.1"])
    with pytest.raises(BlockedAddress, match="192.168.1.1"):
        resolver.resolve("mixed.test", 80, timeout=1)
    resolver.close()


def test_resolver_errors():
    def raise_(host, port):
        raise NameNotResolved(host)

    empty = GuardedResolver(resolver=lambda host, port: [])
    with pytest.raises(NameNotResolved):
        empty.resolve("nothing.test", 80, timeout=1)
    failing = GuardedResolver(resolver=raise_)
    with pytest.raises(NameNotResolved):
        failing.resolve("nothing.test", 80, timeout=1)

    import threading

    release = threading.Event()
    hanging = GuardedResolver(resolver=lambda host, port: release.wait(5) and [])
    with pytest.raises(ResolveTimeout):
        hanging.resolve("hang.test", 80, timeout=0.1)
    release.set()
    for resolver in (empty, failing, hanging):
        resolver.close()


def test_literals_skip_dns():
    def explode(host, port):
        raise AssertionError("an IP literal must not be looked up")

    resolver = GuardedResolver(resolver=explode)
    assert [str(a) for a in resolver.resolve("93.184.216.34", 80, 1)] == ["93.184.216.34"]
    with pytest.raises(BlockedAddress):
        resolver.resolve("[::1]", 80, 1)
    resolver.close()
