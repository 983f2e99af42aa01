"""Which IP a request is counted and recorded under: the peer, unless it is a trusted proxy."""

from __future__ import annotations

import pytest

from stratabase.api.client_ip import limit_key, resolve
from stratabase.exceptions import ConfigError
from stratabase.settings import load_settings, parse_proxy_networks

PROXIES = parse_proxy_networks("10.0.0.5, 10.1.0.0/16, ::1")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "client"),
    [
        # No trusted proxies (the default): the header is nobody's to believe.
        ("127.0.0.1", ["203.0.113.9"], "", "127.0.0.1"),
        ("198.51.100.4", ["203.0.113.9"], "", "198.51.100.4"),
        # A peer that is not one of our proxies cannot speak for anyone else.
        ("198.51.100.4", ["203.0.113.9"], PROXIES, "198.51.100.4"),
        # Our proxy's word is taken; what the client prepended is not.
        ("10.0.0.5", ["203.0.113.9"], PROXIES, "203.0.113.9"),
        ("10.0.0.5", ["1.2.3.4, 203.0.113.9"], PROXIES, "203.0.113.9"),
        ("10.0.0.5", ["1.2.3.4", "203.0.113.9"], PROXIES, "203.0.113.9"),
        # Two of our proxies in a row are skipped.
        ("10.0.0.5", ["1.2.3.4, 203.0.113.9, 10.1.7.7"], PROXIES, "203.0.113.9"),
        # Only proxies in the chain: the leftmost is as far as we can see.
        ("10.0.0.5", ["10.1.2.3, 10.1.7.7"], PROXIES, "10.1.2.3"),
        # No header from a proxy: the proxy itself.
        ("10.0.0.5", [], PROXIES, "10.0.0.5"),
        # Something that is not an address stops the walk at the last trusted hop.
        ("10.0.0.5", ["203.0.113.9, unknown"], PROXIES, "10.0.0.5"),
        ("10.0.0.5", ["evil, 10.1.0.9"], PROXIES, "10.1.0.9"),
        # Ports, brackets, IPv6 and IPv4-mapped IPv6 peers.
        ("10.0.0.5", ["203.0.113.9:4711"], PROXIES, "203.0.113.9"),
        ("::1", ["[2001:db8::7]:443"], PROXIES, "2001:db8::7"),
        ("::ffff:10.0.0.5", ["203.0.113.9"], PROXIES, "203.0.113.9"),
        (None, ["203.0.113.9"], PROXIES, None),
    ],
)
def test_resolve(
    peer: str | None, forwarded_for: list[str], trusted: object, client: str | None
) -> None:
    networks = parse_proxy_networks(trusted) if isinstance(trusted, str) else trusted
    assert resolve(peer, forwarded_for, networks) == client  # type: ignore[arg-type]


def test_trusted_proxies_setting_is_parsed_and_checked() -> None:
    settings = load_settings(trusted_proxies=" 10.0.0.5 ,192.168.0.0/24,, fd00::/8")
    assert [str(n) for n in settings.trusted_proxy_networks] == [
        "10.0.0.5/32",
        "192.168.0.0/24",
        "fd00::/8",
    ]
    assert load_settings().trusted_proxy_networks == ()
    with pytest.raises(ConfigError) as refused:
        load_settings(trusted_proxies="10.0.0.5, proxy.internal")
    assert refused.value.field == "STRATABASE_TRUSTED_PROXIES"
    assert "'proxy.internal' is not an IP address or CIDR network" in str(refused.value)


def test_ipv6_clients_are_limited_per_64() -> None:
    assert limit_key("203.0.113.9") == "ip:203.0.113.9"
    assert limit_key("::ffff:203.0.113.9") == "ip:203.0.113.9"
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:ffff:1:2:3")
    assert limit_key("2001:db8:1:2::1") == "ip:2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key(None) == "ip:unknown"
