"""The client's address behind proxies, and what per-address limits count under."""

from __future__ import annotations

import pytest

from crowd.addresses import client_address, rate_key, trusted_networks

PROXIES = trusted_networks("10.0.0.5, 172.16.0.0/12")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.7", [], "203.0.113.7"),
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),  # not a proxy: its header is its own word
        ("10.0.0.5", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.5", ["1.1.1.1, 198.51.100.1"], "198.51.100.1"),  # the left is what the client claimed
        ("10.0.0.5", ["198.51.100.1, 172.16.3.4"], "198.51.100.1"),  # a chain of proxies
        ("10.0.0.5", ["1.1.1.1", "198.51.100.1, 172.20.0.1"], "198.51.100.1"),  # several headers
        ("10.0.0.5", ["172.16.0.9"], "172.16.0.9"),  # only proxies: the first of them
        ("10.0.0.5", [], "10.0.0.5"),
        ("10.0.0.5", ["not-an-address"], "10.0.0.5"),
        (None, ["198.51.100.1"], "unknown"),
    ],
)
def test_the_client_is_the_right_most_address_no_trusted_proxy_added(
    peer: str | None, forwarded: list[str], expected: str
) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("10.0.0.5", ["198.51.100.1"], trusted_networks("")) == "10.0.0.5"


def test_ipv6_clients_count_by_their_64() -> None:
    assert rate_key("2001:db8:1:2:aaaa::1") == rate_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("::ffff:203.0.113.7") == rate_key("203.0.113.7") == "203.0.113.7"


def test_a_bad_proxy_setting_is_an_error() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        trusted_networks("10.0.0.5, proxy.internal")
