"""Label sets: the fit, its online step, the set confidence, gold, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crowd.consensus.multilabel import MultiLabelModel, MultiLabelParams, set_confidence


def label_crowd(seed: int, n_tasks: int = 200, n_labels: int = 4, n_workers: int = 15) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random((n_tasks, n_labels)) < 0.3
    accuracy = np.linspace(0.55, 0.97, n_workers)
    tasks = np.repeat(np.arange(n_tasks), 5)
    workers = np.concatenate([rng.choice(n_workers, 5, replace=False) for _ in range(n_tasks)])
    right = rng.random((len(tasks), n_labels)) < accuracy[workers, None]
    return {"tasks": tasks, "workers": workers, "marks": np.where(right, truth[tasks], ~truth[tasks]), "truth": truth}


def fitted(seed: int = 0, **kwargs: object) -> tuple[MultiLabelModel, dict[str, np.ndarray]]:
    crowd = label_crowd(seed)
    return MultiLabelModel().fit(crowd["tasks"], crowd["workers"], crowd["marks"], **kwargs), crowd  # type: ignore[arg-type]


def test_set_confidence_by_hand() -> None:
    np.testing.assert_allclose(set_confidence(np.array([[0.9, 0.2], [0.5, 0.5]])), [0.9 * 0.8, 0.25])


def test_fit_beats_the_vote_and_ranks_workers() -> None:
    model, crowd = fitted()
    votes = np.zeros(crowd["truth"].shape)
    np.add.at(votes, crowd["tasks"], crowd["marks"])
    majority = votes / 5 > 0.5
    ours = np.mean(np.all(model.predict() == crowd["truth"], axis=1))
    assert ours > np.mean(np.all(majority == crowd["truth"], axis=1))
    quality = model.worker_quality()
    assert np.corrcoef(quality.reliability, np.linspace(0.55, 0.97, 15))[0, 1] > 0.9
    assert np.all((quality.low <= quality.high) & (quality.low >= 0) & (quality.high <= 1))
    assert quality.spammer[-1] > quality.spammer[0]  # the best worker is the furthest from a spammer
    assert np.all(np.diff(model.log_posterior_) >= -1e-9)


def test_online_step_equals_the_fit() -> None:
    model, crowd = fitted(1)
    online = model.params_.online()
    for task in range(0, 200, 7):
        mine = crowd["tasks"] == task
        np.testing.assert_allclose(
            online.posterior(crowd["workers"][mine], crowd["marks"][mine]), model.posteriors_[task], rtol=1e-11
        )
    np.testing.assert_allclose(online.posterior([], np.zeros((0, 4))), model.params_.prevalence)
    stranger = online.posterior([-1], [[True, False, False, False]])
    assert stranger[0] > model.params_.prevalence[0]
    assert stranger[1] < model.params_.prevalence[1]


def test_gold_is_clamped() -> None:
    truth = [True, False, True, False]
    model, _ = fitted(2, gold={5: truth})
    np.testing.assert_array_equal(model.posteriors_[5], np.array(truth, dtype=float))
    assert model.confidence()[5] == 1.0
    with pytest.raises(ValueError, match="gold for task 5"):
        fitted(2, gold={5: [True]})


def test_deterministic_and_order_free() -> None:
    crowd = label_crowd(3)
    first = MultiLabelModel().fit(crowd["tasks"], crowd["workers"], crowd["marks"])
    order = np.random.default_rng(1).permutation(len(crowd["tasks"]))
    second = MultiLabelModel().fit(crowd["tasks"][order], crowd["workers"][order], crowd["marks"][order])
    np.testing.assert_array_equal(first.posteriors_, second.posteriors_)


def test_serialisation_round_trip() -> None:
    model, _ = fitted(4)
    restored = MultiLabelParams.from_dict(json.loads(json.dumps(model.params_.to_dict())))
    np.testing.assert_array_equal(restored.sensitivity, model.params_.sensitivity)
    np.testing.assert_array_equal(restored.prevalence, model.params_.prevalence)
    assert restored.newcomer == model.params_.newcomer
    assert set(model.params_.worker_dict(0)) == {"sensitivity", "specificity"}


def test_marks_must_be_a_table() -> None:
    with pytest.raises(ValueError, match="2-D"):
        MultiLabelModel().fit([0], [0], [True])
