"""Agreement with crowd-kit 1.4.2 on small fixtures (skipped when crowd-kit is not installed).

Set up like crowd-kit — no smoothing beyond a 1e-10 floor, priors as the mean
posterior, majority-vote start, plain EM steps (no SQUAREM jumps) — our EM
must reproduce its numbers step for step.
"""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus.dawid_skene import DawidSkene
from crowd.consensus.majority import MajorityVote

crowdkit = pytest.importorskip("crowdkit.aggregation")
pd = pytest.importorskip("pandas")

pytestmark = pytest.mark.filterwarnings("ignore")  # crowd-kit 1.4.2 warns under pandas 3

LIKE_CROWDKIT = {
    "alpha": 1e-10,
    "shrinkage": 0.0,
    "alpha_prior": 0.0,
    "tol": -np.inf,
    "posterior_tol": 0.0,
    "accelerate": False,
}


def fixture(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_tasks, n_workers, n_classes = 40, 7, 3
    truth = rng.integers(0, n_classes, n_tasks)
    skill = rng.uniform(0.5, 0.95, n_workers)
    tasks = np.repeat(np.arange(n_tasks), 4)
    workers = np.concatenate([rng.choice(n_workers, 4, replace=False) for _ in range(n_tasks)])
    right = rng.random(len(tasks)) < skill[workers]
    labels = np.where(right, truth[tasks], rng.integers(0, n_classes, len(tasks)))
    return tasks, workers, labels


def frame(tasks: np.ndarray, workers: np.ndarray, labels: np.ndarray) -> object:
    return pd.DataFrame({"task": tasks, "worker": workers, "label": labels})


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("steps", [1, 5])
def test_dawid_skene_matches_crowdkit(seed: int, steps: int) -> None:
    tasks, workers, labels = fixture(seed)
    theirs = crowdkit.DawidSkene(n_iter=steps, tol=-1.0).fit(frame(tasks, workers, labels))
    ours = DawidSkene(max_iter=steps, **LIKE_CROWDKIT).fit(tasks, workers, labels)
    their_posteriors = theirs.probas_.sort_index()[sorted(theirs.probas_.columns)].to_numpy()
    np.testing.assert_allclose(ours.posteriors_, their_posteriors, atol=1e-6)
    # crowd-kit ends each iteration with an M-step, so its matrices are one M-step ahead of its posteriors;
    # ours end with the E-step of the matrices they report.
    ahead = DawidSkene(max_iter=steps + 1, **LIKE_CROWDKIT).fit(tasks, workers, labels)
    for worker in range(ahead.confusions_.shape[0]):
        errors = theirs.errors_.loc[worker]  # rows: answered label, columns: true class
        their_matrix = errors.reindex(index=range(3), columns=range(3)).fillna(0).to_numpy().T
        np.testing.assert_allclose(ahead.confusions_[worker], their_matrix, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_majority_vote_shares_match_crowdkit(seed: int) -> None:
    tasks, workers, labels = fixture(seed)
    theirs = crowdkit.MajorityVote().fit_predict_proba(frame(tasks, workers, labels))
    ours = MajorityVote().fit(tasks, workers, labels).predict_proba()
    np.testing.assert_allclose(ours, theirs.sort_index()[sorted(theirs.columns)].to_numpy())
