"""Ratings: the ordinal centre, the fit, its online step, summaries and serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from crowd.consensus.online import UNKNOWN_WORKER
from crowd.consensus.ordinal import (
    RatingModel,
    RatingParams,
    grade_confidence,
    normal_cdf,
    ordered_probit,
    ordinal_centres,
    posterior_means,
    posterior_medians,
)


def test_normal_cdf() -> None:
    np.testing.assert_allclose(normal_cdf(np.array([0.0, 1.959963984540054, -1.0])), [0.5, 0.975, 0.158655254], 1e-8)


def test_ordered_probit_rows_are_distributions_that_know_the_order() -> None:
    matrix = ordered_probit(5, 0.0, 0.6)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    assert matrix[3, 4] > matrix[3, 0]  # 4 is nearer 5 than 1
    assert np.all(np.argmax(matrix, axis=1) == np.arange(5))
    high = ordered_probit(5, 1.0, 0.3)
    assert np.argmax(high[2]) == 3  # a high rater answers one grade up
    assert high[4, 4] > 0.99  # and piles up at the top
    assert np.diagonal(ordered_probit(5, 0.0, 0.01)).min() > 0.999


def rating_crowd(seed: int, n_tasks: int = 300, n_workers: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, n_tasks)
    bias, noise = rng.choice([-1.0, 0.0, 1.0], n_workers), rng.uniform(0.3, 1.0, n_workers)
    matrices = ordered_probit(5, bias, noise)
    tasks = np.repeat(np.arange(n_tasks), 5)
    workers = np.concatenate([rng.choice(n_workers, 5, replace=False) for _ in range(n_tasks)])
    cumulative = np.cumsum(matrices[workers, truth[tasks]], axis=1)
    grades = np.minimum((rng.random((len(tasks), 1)) > cumulative).sum(axis=1), 4)
    return {"tasks": tasks, "workers": workers, "grades": grades, "truth": truth, "bias": bias}


def test_centres_find_each_workers_bias() -> None:
    crowd = rating_crowd(0)
    counts = np.zeros((20, 5, 5))
    np.add.at(counts, (crowd["workers"], crowd["truth"][crowd["tasks"]], crowd["grades"]), 1.0)
    centres = ordinal_centres(counts, 1.0, 1.0)
    assert np.corrcoef(centres.bias, crowd["bias"])[0, 1] > 0.9
    np.testing.assert_allclose(centres.matrices.sum(axis=2), 1.0)


def test_fit_beats_the_vote_and_knows_the_biased_raters() -> None:
    crowd = rating_crowd(1)
    model = RatingModel().fit(crowd["tasks"], crowd["workers"], crowd["grades"], 300, 20, 5)
    votes = np.zeros((300, 5))
    np.add.at(votes, (crowd["tasks"], crowd["grades"]), 1)
    assert np.mean(model.predict() == crowd["truth"]) > np.mean(np.argmax(votes, axis=1) == crowd["truth"]) + 0.05
    assert np.all(np.diff(model.log_posterior_) >= -1e-9)
    assert (
        np.sign(model.params_.bias[crowd["bias"] != 0]).tolist() == np.sign(crowd["bias"][crowd["bias"] != 0]).tolist()
    )


def test_online_step_equals_the_fit_for_every_task() -> None:
    crowd = rating_crowd(2, n_tasks=60)
    model = RatingModel().fit(crowd["tasks"], crowd["workers"], crowd["grades"], 61, 20, 5)
    online = model.params_.online()
    for task in range(60):
        mine = crowd["tasks"] == task
        posterior = online.posterior(crowd["workers"][mine], crowd["grades"][mine])
        np.testing.assert_allclose(posterior, model.posteriors_[task], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(online.posterior([], []), model.params_.priors)  # task 60 has no answers
    stranger = model.params_.priors * model.params_.newcomer[:, 3]
    np.testing.assert_allclose(online.posterior([UNKNOWN_WORKER], [3]), stranger / stranger.sum())


def test_gold_is_clamped_and_the_fit_is_deterministic() -> None:
    crowd = rating_crowd(3, n_tasks=80)
    args = (crowd["tasks"], crowd["workers"], crowd["grades"], 80, 20, 5)
    model = RatingModel().fit(*args, gold={4: 0})
    np.testing.assert_array_equal(model.posteriors_[4], [1, 0, 0, 0, 0])
    again = RatingModel().fit(*args, gold={4: 0})
    np.testing.assert_array_equal(model.posteriors_, again.posteriors_)
    order = np.random.default_rng(0).permutation(len(crowd["tasks"]))
    shuffled = RatingModel().fit(*(column[order] for column in args[:3]), 80, 20, 5, gold={4: 0})
    np.testing.assert_array_equal(model.posteriors_, shuffled.posteriors_)


def test_summaries() -> None:
    posteriors = np.array([[0.1, 0.3, 0.2, 0.4], [0.6, 0.4, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_array_equal(posterior_medians(posteriors), [2, 0, 1])
    np.testing.assert_allclose(posterior_means(posteriors), [1.9, 0.4, 1.5])
    np.testing.assert_allclose(posterior_means(posteriors, [1, 2, 3, 4]), [2.9, 1.4, 2.5])
    np.testing.assert_allclose(grade_confidence(posteriors, [2, 0, 1]), [0.2, 0.6, 0.25])
    np.testing.assert_allclose(grade_confidence(posteriors, [2, 0, 1], tolerance=1), [0.9, 1.0, 0.75])


def test_worker_quality_and_serialisation() -> None:
    crowd = rating_crowd(4, n_tasks=100)
    model = RatingModel().fit(crowd["tasks"], crowd["workers"], crowd["grades"], 100, 20, 5)
    quality = model.worker_quality(tolerance=1)
    assert np.all((quality.low >= 0) & (quality.low <= quality.high) & (quality.high <= 1))
    assert np.all((quality.reliability >= 0) & (quality.reliability <= 1))
    assert quality.answers.sum() == len(crowd["tasks"])
    assert quality.reliability.mean() > model.worker_quality(tolerance=0).reliability.mean()
    restored = RatingParams.from_dict(json.loads(json.dumps(model.params_.to_dict())))
    np.testing.assert_array_equal(restored.confusions, model.params_.confusions)
    np.testing.assert_array_equal(restored.priors, model.params_.priors)
    assert set(json.loads(json.dumps(model.params_.worker_dict(0)))) == {"confusion", "bias", "noise", "spam"}
    assert math.isfinite(quality.row(0)["high"])


def test_a_scale_needs_two_grades() -> None:
    with pytest.raises(ValueError, match="two grades"):
        RatingModel().fit([0, 1], [0, 1], [0, 0], n_grades=1)
