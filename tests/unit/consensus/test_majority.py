"""Majority vote: shares, the tie rule, weights."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus.majority import MajorityVote


def test_vote_shares_and_winner() -> None:
    model = MajorityVote().fit([0, 0, 0, 1], [0, 1, 2, 0], [2, 2, 1, 0], n_classes=3)
    np.testing.assert_allclose(model.predict_proba(), [[0, 1 / 3, 2 / 3], [1, 0, 0]])
    assert model.predict().tolist() == [2, 0]


def test_tie_goes_to_the_smallest_class_whatever_the_order() -> None:
    assert MajorityVote().fit([0, 0], [0, 1], [2, 1]).predict().tolist() == [1]
    assert MajorityVote().fit([0, 0], [1, 0], [1, 2]).predict().tolist() == [1]


def test_task_without_answers_is_uniform() -> None:
    model = MajorityVote().fit([0], [0], [1], n_tasks=2, n_classes=2)
    np.testing.assert_allclose(model.predict_proba()[1], [0.5, 0.5])
    assert model.predict().tolist() == [1, 0]


def test_weighted_vote() -> None:
    # Two weak workers say 0, one strong worker says 1.
    model = MajorityVote().fit([0, 0, 0], [0, 1, 2], [0, 0, 1], weights=[1.0, 1.0, 3.0])
    np.testing.assert_allclose(model.predict_proba(), [[0.4, 0.6]])
    assert model.predict().tolist() == [1]


def test_weights_must_cover_every_worker() -> None:
    with pytest.raises(ValueError, match="weights"):
        MajorityVote().fit([0], [1], [0], weights=[1.0])
    with pytest.raises(ValueError, match="weights"):
        MajorityVote().fit([0], [0], [0], weights=[-1.0])


def test_empty() -> None:
    assert MajorityVote().fit([], [], []).predict().shape == (0,)
