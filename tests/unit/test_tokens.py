from __future__ import annotations

import pytest

from crowd.identity.tokens import SecretKind, hash_secret, new_secret, secret_kind
from crowd.ids import new_id


@pytest.mark.parametrize("kind", list(SecretKind))
def test_a_new_secret_declares_its_kind(kind: SecretKind) -> None:
    secret = new_secret(kind)
    assert secret_kind(secret) is kind
    assert secret != new_secret(kind)


@pytest.mark.parametrize(
    "junk", ["", "crowd", "crowd_pk_short", "crowd_zz_" + "a" * 43, "bearer_pk_" + "a" * 43, "a" * 60]
)
def test_anything_else_has_no_kind(junk: str) -> None:
    assert secret_kind(junk) is None


def test_the_stored_hash_is_stable_and_does_not_contain_the_secret() -> None:
    secret = new_secret(SecretKind.WORKER_TOKEN)
    assert hash_secret(secret) == hash_secret(secret)
    assert len(hash_secret(secret)) == 64
    assert secret.split("_", 2)[-1] not in hash_secret(secret)  # the random part after "crowd_wt_", whole


def test_ids_are_prefixed_and_random() -> None:
    ids = {new_id("prj") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("prj_") and len(i) == 24 for i in ids)
