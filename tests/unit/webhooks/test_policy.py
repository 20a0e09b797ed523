from __future__ import annotations

import base64
import random

import pytest

from crowd.errors import ServiceUnavailable
from crowd.webhooks.policy import LONGEST_WAIT_SECONDS, public_address, retry_delay, sign, verify
from crowd.webhooks.sealing import Sealer


def test_a_signature_verifies_and_binds_secret_body_and_time() -> None:
    header = sign("secret", 1_700_000_000, b'{"a":1}')
    assert header.startswith("t=1700000000,v1=")
    assert verify("secret", header, b'{"a":1}', now=1_700_000_100)
    assert not verify("other", header, b'{"a":1}', now=1_700_000_100)
    assert not verify("secret", header, b'{"a":2}', now=1_700_000_100)
    assert not verify("secret", header, b'{"a":1}', now=1_700_000_000 + 301)  # too old: a replay
    assert not verify("secret", "garbage", b'{"a":1}', now=1_700_000_000)
    assert not verify("secret", "t=1700000000", b'{"a":1}', now=1_700_000_000)


def test_retries_back_off_exponentially_with_jitter_up_to_an_hour() -> None:
    rng = random.Random(1)
    delays = [retry_delay(n, rng) for n in range(1, 16)]
    assert 5 <= delays[0] <= 10
    assert all(d <= LONGEST_WAIT_SECONDS for d in delays)
    assert delays[8] > delays[2]
    assert len({round(d, 3) for d in delays}) == len(delays)  # jittered


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # link-local: the classic metadata address
        "100.100.100.200",  # shared address space (100.64.0.0/10): a cloud's metadata address
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",  # multicast, which is_global alone lets through
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "198.18.0.1",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fd00::1",
        "fec0::1",  # site-local (deprecated), is_global alone lets it through
        "ff02::1",  # multicast
        "2001:db8::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:100.100.100.200",
        "::ffff:0:7f00:1",  # IPv4-translated
        "::7f00:1",  # IPv4-compatible
        "::a9fe:a9fe",
        "64:ff9b::7f00:1",  # NAT64 to 127.0.0.1
        "64:ff9b::a64:6464",  # NAT64 to 10.100.100.100
        "64:ff9b:1::808:808",  # local-use NAT64: somebody's own gateway
        "2002:7f00:1::1",  # 6to4 through 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 through 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, a public client
        "not an address",
        "",
    ],
)
def test_webhooks_may_not_reach_inside(address: str) -> None:
    assert not public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "100.63.255.255",  # just below the shared space
        "100.128.0.1",  # just above it
        "2606:2800:220:1:248:1893:25c8:1946",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 to a public address
        "2002:808:808::1",  # 6to4 through a public address
    ],
)
def test_webhooks_may_reach_public_addresses(address: str) -> None:
    assert public_address(address)


def test_secrets_are_sealed_and_unsealed() -> None:
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal("my secret")
    assert "my secret" not in sealed
    assert base64.b64decode(sealed)
    assert sealer.unseal(sealed) == "my secret"
    assert sealer.seal("my secret") != sealed  # a fresh nonce each time
    with pytest.raises(ServiceUnavailable):
        Sealer(None).seal("x")
