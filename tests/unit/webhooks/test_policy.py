from __future__ import annotations

import base64
import random

import pytest

from crowd.errors import ServiceUnavailable
from crowd.webhooks.policy import LONGEST_WAIT_SECONDS, forbidden_address, retry_delay, sign, verify
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
    ("address", "forbidden"),
    [
        ("127.0.0.1", True),
        ("10.0.0.8", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
    ],
)
def test_webhooks_may_not_reach_inside(address: str, forbidden: bool) -> None:
    assert forbidden_address(address) is forbidden


def test_secrets_are_sealed_and_unsealed() -> None:
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal("my secret")
    assert "my secret" not in sealed
    assert base64.b64decode(sealed)
    assert sealer.unseal(sealed) == "my secret"
    assert sealer.seal("my secret") != sealed  # a fresh nonce each time
    with pytest.raises(ServiceUnavailable):
        Sealer(None).seal("x")
