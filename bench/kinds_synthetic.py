"""Synthetic crowds with known truth for bench/kinds.py: skill recovery per kind, and the routing simulation.

Each generator draws a crowd whose workers differ in skill the way the
kind's model says they can (and a little beyond it), answers tasks with it,
and returns the truth and every worker's true skill. The score is the Spearman
rank correlation between the fitted reliability and the true skill, and the
fit's accuracy against the truth next to majority vote's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from crowd.consensus.comparisons import LEFT, RIGHT, Comparisons
from crowd.consensus.distances import kendall_tau_b, spearman_rho
from crowd.consensus.multilabel import MultiLabelModel
from crowd.consensus.ordinal import RatingModel, ordered_probit
from crowd.consensus.pair_posterior import information_gain
from crowd.consensus.pairwise import fit_pairwise


def assignments(rng: np.random.Generator, n_tasks: int, n_workers: int, overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """``overlap`` distinct random workers per task; workers' loads differ (a Zipf-like activity)."""
    activity = rng.pareto(1.5, n_workers) + 1.0
    activity /= activity.sum()
    workers = np.concatenate([rng.choice(n_workers, overlap, replace=False, p=activity) for _ in range(n_tasks)])
    return np.repeat(np.arange(n_tasks), overlap), workers


# --- multi-label -----------------------------------------------------------------------------


def multi_crowd(
    seed: int, n_tasks: int = 400, n_labels: int = 6, n_workers: int = 60, overlap: int = 5
) -> dict[str, Any]:
    """Workers with an overall accuracy, per-label departures from it, some over- or under-marking."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.1, 0.35, n_labels)
    truth = rng.random((n_tasks, n_labels)) < prevalence
    accuracy = rng.uniform(0.55, 0.97, n_workers)
    lean = rng.normal(0.0, 0.04, (n_workers, 1)) + rng.normal(0.0, 0.03, (n_workers, n_labels))
    sensitivity = np.clip(accuracy[:, None] + lean, 0.02, 0.99)
    specificity = np.clip(accuracy[:, None] - lean, 0.02, 0.99)
    tasks, workers = assignments(rng, n_tasks, n_workers, overlap)
    right = np.where(truth[tasks], sensitivity[workers], specificity[workers])
    marks = np.where(rng.random(right.shape) < right, truth[tasks], ~truth[tasks])
    skill = (sensitivity * prevalence + specificity * (1 - prevalence)).mean(axis=1)
    return {"tasks": tasks, "workers": workers, "marks": marks, "truth": truth, "skill": skill}


def multi_recovery(seed: int) -> dict[str, float]:
    crowd = multi_crowd(seed)
    n_tasks, n_workers = len(crowd["truth"]), len(crowd["skill"])
    model = MultiLabelModel().fit(crowd["tasks"], crowd["workers"], crowd["marks"], n_tasks, n_workers)
    answered = np.bincount(crowd["workers"], minlength=n_workers) > 0
    votes = np.zeros(crowd["truth"].shape)
    np.add.at(votes, crowd["tasks"], crowd["marks"])
    majority = votes / np.bincount(crowd["tasks"], minlength=n_tasks)[:, None] > 0.5
    quality = model.worker_quality()
    return {
        "skill_spearman": spearman_rho(quality.reliability[answered], crowd["skill"][answered]),
        "exact": float(np.mean(np.all(model.predict() == crowd["truth"], axis=1))),
        "exact_mv": float(np.mean(np.all(majority == crowd["truth"], axis=1))),
    }


# --- ratings ---------------------------------------------------------------------------------


def rating_crowd(
    seed: int, n_tasks: int = 600, n_grades: int = 5, n_workers: int = 60, overlap: int = 5
) -> dict[str, Any]:
    """Workers with a bias, a noise and a share of careless answers (the ordinal centre's three traits)."""
    rng = np.random.default_rng(seed)
    grade_prior = rng.dirichlet(np.full(n_grades, 4.0))
    truth = rng.choice(n_grades, n_tasks, p=grade_prior)
    bias, noise = rng.normal(0.0, 0.6, n_workers), rng.uniform(0.3, 1.5, n_workers)
    careless = rng.beta(1.0, 9.0, n_workers)
    matrices = (1 - careless)[:, None, None] * ordered_probit(n_grades, bias, noise) + careless[
        :, None, None
    ] / n_grades
    tasks, workers = assignments(rng, n_tasks, n_workers, overlap)
    cumulative = np.cumsum(matrices[workers, truth[tasks]], axis=1)
    grades = np.minimum((rng.random((len(tasks), 1)) > cumulative).sum(axis=1), n_grades - 1)
    skill = np.einsum("k,wkk->w", grade_prior, matrices)
    return {"tasks": tasks, "workers": workers, "grades": grades, "truth": truth, "skill": skill, "k": n_grades}


def rating_recovery(seed: int) -> dict[str, float]:
    crowd = rating_crowd(seed)
    n_tasks, n_workers, k = len(crowd["truth"]), len(crowd["skill"]), crowd["k"]
    model = RatingModel().fit(crowd["tasks"], crowd["workers"], crowd["grades"], n_tasks, n_workers, k)
    answered = np.bincount(crowd["workers"], minlength=n_workers) > 0
    counts = np.zeros((n_tasks, k))
    np.add.at(counts, (crowd["tasks"], crowd["grades"]), 1)
    quality = model.worker_quality()
    return {
        "skill_spearman": spearman_rho(quality.reliability[answered], crowd["skill"][answered]),
        "accuracy": float(np.mean(model.predict() == crowd["truth"])),
        "accuracy_mv": float(np.mean(np.argmax(counts, axis=1) == crowd["truth"])),
        "mae": float(np.mean(np.abs(model.predict() - crowd["truth"]))),
    }


# --- pairwise --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerNoise:
    """The uniform draws behind each answer, fixed in advance: the i-th answer is the same whenever it is asked."""

    draws: np.ndarray  # answers × 4: side order, judgment, guess, engaged or not

    @classmethod
    def of(cls, rng: np.random.Generator, n_answers: int) -> AnswerNoise:
        return cls(rng.random((n_answers, 4)))


@dataclass(frozen=True)
class PairCrowd:
    scores: np.ndarray
    engaged: np.ndarray
    position: np.ndarray

    def answer(self, noise: AnswerNoise, first: np.ndarray, second: np.ndarray, workers: np.ndarray) -> Comparisons:
        """Sides shown in random order; engaged workers judge by Bradley-Terry with their position bias."""
        u = noise.draws[: len(first)]
        flip = u[:, 0] < 0.5
        left, right = np.where(flip, second, first), np.where(flip, first, second)
        d = self.scores[left] - self.scores[right] + self.position[workers]
        judged = np.where(u[:, 1] < 1 / (1 + np.exp(-d)), LEFT, RIGHT)
        guessed = np.where(u[:, 2] < 0.5, LEFT, RIGHT)
        outcomes = np.where(u[:, 3] < self.engaged[workers], judged, guessed)
        units = np.unique(first * len(self.scores) + second, return_inverse=True)[1].reshape(-1)
        return Comparisons.of(
            units, workers, left, right, outcomes, n_items=len(self.scores), n_workers=len(self.engaged)
        )


def pair_crowd(rng: np.random.Generator, n_items: int, n_workers: int) -> PairCrowd:
    return PairCrowd(rng.normal(0.0, 1.5, n_items), rng.uniform(0.2, 1.0, n_workers), rng.normal(0.3, 0.3, n_workers))


def pairwise_answers(
    seed: int, n_items: int = 100, n_pairs: int = 600, overlap: int = 5, n_workers: int = 60
) -> tuple[PairCrowd, Comparisons]:
    """A crowd with position bias and spammers answering ``n_pairs`` random pairs, ``overlap`` answers each."""
    rng = np.random.default_rng(seed)
    crowd = pair_crowd(rng, n_items, n_workers)
    first = rng.integers(0, n_items, n_pairs)
    second = (first + rng.integers(1, n_items, n_pairs)) % n_items
    pairs = np.unique(np.column_stack([np.minimum(first, second), np.maximum(first, second)]), axis=0)
    tasks, workers = assignments(rng, len(pairs), n_workers, overlap)
    return crowd, crowd.answer(AnswerNoise.of(rng, len(tasks)), pairs[tasks, 0], pairs[tasks, 1], workers)


def pairwise_recovery(seed: int) -> dict[str, float]:
    crowd, comparisons = pairwise_answers(seed)
    result = fit_pairwise(comparisons)
    answered = np.bincount(comparisons.workers, minlength=len(crowd.engaged)) > 0
    return {
        "skill_spearman": spearman_rho(result.quality.reliability[answered], crowd.engaged[answered]),
        "score_spearman": spearman_rho(result.params.scores, crowd.scores),
        "position_bias": float(result.params.crowd_position_bias),
        "true_position_bias": float(np.mean(crowd.position)),
    }


# --- routing=informative ---------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingRun:
    kendall: float
    spearman: float


def routing_run(
    seed: int,
    informative: bool,
    n_items: int = 40,
    n_candidates: int = 300,
    budget: int = 400,
    batch: int = 20,
    n_workers: int = 30,
) -> RoutingRun:
    """Spend ``budget`` answers on a fixed pool of candidate pairs, chosen at random or by information gain.

    Both policies start from the same random first batch; the informative one
    then refits after every ``batch`` answers and asks about the ``batch``
    candidates of highest :func:`information_gain` (score means and variances
    of the items, as the server has them), one answer each. The worker of each
    answer is random in both. The result is the final fit's rank agreement
    with the true scores.
    """
    rng = np.random.default_rng(seed)
    crowd = PairCrowd(rng.normal(0.0, 1.0, n_items), rng.uniform(0.5, 1.0, n_workers), np.zeros(n_workers))
    all_pairs = np.array([(i, j) for i in range(n_items) for j in range(i + 1, n_items)])
    candidates = all_pairs[rng.choice(len(all_pairs), n_candidates, replace=False)]
    noise, workers = AnswerNoise.of(rng, budget), rng.integers(0, n_workers, budget)
    chooser = np.random.default_rng(seed + 1)
    asked = list(chooser.choice(n_candidates, batch))
    while len(asked) < budget:
        if informative:
            fit = fit_pairwise(crowd.answer(noise, *candidates[asked].T, workers[: len(asked)]))
            mean = fit.params.scores[candidates[:, 0]] - fit.params.scores[candidates[:, 1]]
            spread = fit.params.variances[candidates[:, 0]] + fit.params.variances[candidates[:, 1]]
            gain = information_gain(mean, spread, fit.params.newcomer_engaged)
            asked += list(np.argsort(-gain, kind="stable")[:batch])
        else:
            asked += list(chooser.choice(n_candidates, batch))
    final = fit_pairwise(crowd.answer(noise, *candidates[asked[:budget]].T, workers))
    return RoutingRun(kendall_tau_b(final.params.scores, crowd.scores), spearman_rho(final.params.scores, crowd.scores))
