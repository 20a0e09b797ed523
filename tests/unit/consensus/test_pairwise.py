"""Comparisons: the Davidson algebra, the crowd Bradley-Terry fit, unit posteriors online, routing, rankings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crowd.consensus import laplacian
from crowd.consensus.bradley_terry import CrowdBradleyTerry, PairwiseParams, PairwiseSettings
from crowd.consensus.comparisons import LEFT, RIGHT, TIE, Comparisons, implied_pairs, ranking_comparisons, two_way_units
from crowd.consensus.davidson import Outcomes, answer_terms
from crowd.consensus.laplacian import ComparisonGraph
from crowd.consensus.pair_posterior import (
    ItemBelief,
    PairwiseOnline,
    information_gain,
    tie_margin,
    update_items,
)
from crowd.consensus.pairwise import FIRST, SECOND, TIED, beats_matrix, fit_pairwise, item_ranking, rank_task


def crowd_answers(
    seed: int,
    n_items: int = 30,
    n_units: int = 150,
    overlap: int = 4,
    n_workers: int = 12,
    position: float = 0.0,
    randomise_sides: bool = True,
    tie: float = 0.0,
) -> tuple[Comparisons, np.ndarray, np.ndarray]:
    """Answers of a crowd whose first half of workers is careful and second half guesses often."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.0, 1.5, n_items)
    engaged = np.where(np.arange(n_workers) < n_workers // 2, 0.95, 0.4)
    first = rng.integers(0, n_items, n_units)
    second = (first + rng.integers(1, n_items, n_units)) % n_items
    units = np.repeat(np.arange(n_units), overlap)
    workers = np.concatenate([rng.choice(n_workers, overlap, replace=False) for _ in range(n_units)])
    flip = rng.random(len(units)) < 0.5 if randomise_sides else np.zeros(len(units), dtype=bool)
    left = np.where(flip, second[units], first[units])
    right = np.where(flip, first[units], second[units])
    davidson = Outcomes.at(scores[left] - scores[right] + position, tie)
    u = rng.random(len(units))
    judged = np.where(u < davidson.left, LEFT, np.where(u < davidson.left + davidson.right, RIGHT, TIE))
    guessed = np.where(rng.random(len(units)) < 0.5, LEFT, RIGHT)
    outcomes = np.where(rng.random(len(units)) < engaged[workers], judged, guessed)
    comparisons = Comparisons.of(units, workers, left, right, outcomes, n_items=n_items, n_workers=n_workers)
    return comparisons, scores, engaged


# --- the answer model ------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [0.0, 0.7, 3.0])
def test_davidson_probabilities(tie: float) -> None:
    d = np.linspace(-4, 4, 9)
    p = Outcomes.at(d, tie)
    np.testing.assert_allclose(p.left + p.right + p.tie, 1.0)
    if tie == 0:
        np.testing.assert_allclose(p.left, 1 / (1 + np.exp(-d)))
    np.testing.assert_allclose(p.left[::-1], p.right)  # symmetric in d


@pytest.mark.parametrize("outcome", [LEFT, RIGHT, TIE])
def test_answer_terms_are_the_derivatives_of_the_log_likelihood(outcome: int) -> None:
    d, h = np.linspace(-3, 3, 13), 1e-5
    outcomes, engaged = np.full(13, outcome), np.full(13, 0.7)

    def log_likelihood(x: np.ndarray) -> np.ndarray:
        return answer_terms(x, outcomes, engaged, 0.8, 0.2).log_likelihood

    terms = answer_terms(d, outcomes, engaged, 0.8, 0.2)
    slope = (log_likelihood(d + h) - log_likelihood(d - h)) / (2 * h)
    curvature = -(log_likelihood(d + h) - 2 * log_likelihood(d) + log_likelihood(d - h)) / h**2
    np.testing.assert_allclose(terms.slope, slope, atol=1e-6)
    np.testing.assert_allclose(terms.curvature, np.maximum(curvature, 0.0), atol=1e-4)
    assert np.all((terms.engaged >= 0) & (terms.engaged <= 1))


def test_conjugate_gradients_agree_with_the_dense_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    first = rng.integers(0, 40, 200)
    graph = ComparisonGraph(first, (first + rng.integers(1, 40, 200)) % 40, 40)
    weights, rhs = rng.uniform(0.1, 1.0, 200), rng.normal(size=40)
    dense = graph.solve(weights, 0.3, rhs)
    np.testing.assert_allclose(graph.apply(weights, 0.3, dense), rhs, atol=1e-9)
    monkeypatch.setattr(laplacian, "DENSE_ITEMS", 10)
    np.testing.assert_allclose(graph.solve(weights, 0.3, rhs), dense, atol=1e-8)
    diagonal, inverse = graph.inverse_diagonal(weights, 0.3)
    assert inverse is None
    assert np.all(diagonal > 0)


# --- data shapes -----------------------------------------------------------------------------


def test_rankings_count_as_their_implied_pairs() -> None:
    assert implied_pairs(["a", "b", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    with pytest.raises(ValueError, match="each item once"):
        implied_pairs(["a", "a"])
    rows = ranking_comparisons([(0, 7, [2, 0, 1]), (0, 8, [0, 1, 2])])
    # units (task, item pair) numbered by first appearance: (0, 0-2), (0, 1-2), (0, 0-1)
    assert rows.units == [0, 1, 2, 2, 0, 1]
    assert rows.left == [0, 1, 0, 0, 0, 1]
    assert rows.right == [2, 2, 1, 1, 2, 2]
    assert rows.outcomes == [RIGHT, RIGHT, LEFT, LEFT, LEFT, LEFT]
    comparisons = Comparisons.of(rows.units, rows.workers, rows.left, rows.right, rows.outcomes, positional=[False] * 6)
    assert not two_way_units(comparisons).any()


def test_comparisons_are_checked() -> None:
    with pytest.raises(ValueError, match="itself"):
        Comparisons.of([0], [0], [1], [1], [LEFT])
    with pytest.raises(ValueError, match="unit's two items"):
        Comparisons.of([0, 0], [0, 1], [0, 0], [1, 2], [LEFT, LEFT])
    with pytest.raises(ValueError, match="outcomes"):
        Comparisons.of([0], [0], [0], [1], [3])
    c = Comparisons.of([0, 0, 1], [0, 1, 0], [0, 1, 2], [1, 0, 3], [LEFT, RIGHT, LEFT])
    np.testing.assert_array_equal(c.flipped, [False, True, False])
    np.testing.assert_array_equal(two_way_units(c), [True, True, False])


# --- the fit ---------------------------------------------------------------------------------


def test_fit_recovers_scores_and_tells_careful_workers_from_guessers() -> None:
    comparisons, scores, _engaged = crowd_answers(0)
    result = fit_pairwise(comparisons)
    assert np.corrcoef(result.params.scores, scores)[0, 1] > 0.9
    careful, careless = result.quality.reliability[:6], result.quality.reliability[6:]
    assert careful.mean() > careless.mean() + 0.1
    assert result.params.engaged[:6].mean() > result.params.engaged[6:].mean() + 0.15
    assert np.all((result.quality.low <= result.quality.reliability + 1e-9) & (result.quality.high <= 1))
    model = CrowdBradleyTerry().fit(comparisons)
    assert np.all(np.diff(model.log_posterior_) >= -1e-6)
    assert model.converged_


def test_position_bias_is_learnt_only_where_sides_vary() -> None:
    shown_both_ways, *_ = crowd_answers(1, n_units=300, position=0.8)
    assert fit_pairwise(shown_both_ways).params.crowd_position_bias == pytest.approx(0.8, abs=0.3)
    one_way, *_ = crowd_answers(1, n_units=300, position=0.8, randomise_sides=False)
    params = fit_pairwise(one_way).params
    assert params.crowd_position_bias == 0.0
    assert np.all(params.position_bias == 0.0)


def test_ties_are_fitted_and_reported() -> None:
    comparisons, *_ = crowd_answers(2, n_units=200, tie=3.0)
    result = fit_pairwise(comparisons)
    assert result.params.tie > 1.0
    assert tie_margin(result.params.tie) > 0
    assert 0 < result.params.spam_tie < 1
    assert result.posteriors[:, TIED].max() > 0.5
    np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0)


def test_fit_is_deterministic_and_free_of_row_order() -> None:
    comparisons, *_ = crowd_answers(3)
    c = comparisons
    order = np.random.default_rng(5).permutation(len(c))
    shuffled = Comparisons.of(
        c.units[order],
        c.workers[order],
        c.left[order],
        c.right[order],
        c.outcomes[order],
        n_items=c.n_items,
        n_workers=c.n_workers,
    )
    first, again, reordered = fit_pairwise(c), fit_pairwise(c), fit_pairwise(shuffled)
    np.testing.assert_array_equal(first.params.scores, again.params.scores)
    np.testing.assert_allclose(reordered.params.scores, first.params.scores, atol=1e-8)
    # a unit's first item is its first answer's left one, so reordering rows may swap a unit's two columns
    swapped = shuffled.first != c.first
    aligned = np.where(swapped[:, None], reordered.posteriors[:, ::-1], reordered.posteriors)
    np.testing.assert_allclose(aligned, first.posteriors, atol=1e-8)


def test_gold_clamps_units_and_grades_workers() -> None:
    comparisons, scores, _ = crowd_answers(4)
    c = comparisons
    truth = np.where(scores[c.first] > scores[c.second], 0, 1)
    gold = {unit: int(truth[unit]) for unit in range(0, 150, 3)}
    result = fit_pairwise(c, gold)
    for unit, outcome in gold.items():
        assert result.posteriors[unit, (FIRST, SECOND)[outcome]] == 1.0
    free = [u for u in range(150) if u not in gold]
    assert np.mean(result.winners()[free] == np.where(truth[free] == 0, FIRST, SECOND)) > 0.8
    with pytest.raises(ValueError, match="gold maps"):
        fit_pairwise(c, {0: 5})


# --- unit posteriors online, item updates, routing -------------------------------------------


def test_online_posterior_equals_the_fit_for_every_unit() -> None:
    comparisons, *_ = crowd_answers(5, tie=0.5)
    result = fit_pairwise(comparisons)
    online, c = PairwiseOnline(result.params), comparisons
    for unit in range(c.n_units):
        mine = c.units == unit
        posterior = online.posterior(result.params.cavity[unit], c.workers[mine], c.flipped[mine], c.outcomes[mine])
        np.testing.assert_allclose(posterior, result.posteriors[unit], atol=1e-10)


def test_online_posterior_for_a_new_unit_and_a_new_worker() -> None:
    comparisons, _scores, _ = crowd_answers(6)
    params = fit_pairwise(comparisons).params
    online = PairwiseOnline(params)
    best, worst = int(np.argmax(params.scores)), int(np.argmin(params.scores))
    cavity = online.cavity_of(best, worst)
    assert cavity[0] > 0
    prior_only = online.posterior(cavity, [], [], [])
    assert prior_only[FIRST] > 0.9
    against = online.posterior(cavity, [99, 99, 99], [False] * 3, [RIGHT] * 3)  # strangers say the worse one won
    assert against[FIRST] < prior_only[FIRST]
    unknown = online.cavity_of(best, 10_000)  # an item the fit never saw sits at the prior
    assert unknown[1] == pytest.approx(1.0 / (params.variances[best] + 1.0 / params.score_precision))


def test_update_items_moves_the_winner_up_and_narrows_both() -> None:
    params = fit_pairwise(crowd_answers(7)[0]).params
    first, second = ItemBelief(0.0, 1.0), ItemBelief(0.0, 0.5)
    won_first, won_second = update_items(first, second, LEFT, flipped=False, engaged=0.9, params=params)
    assert won_first.mean > 0 > won_second.mean
    assert won_first.variance < 1.0
    assert won_second.variance < 0.5
    flipped_first, _ = update_items(first, second, LEFT, flipped=True, engaged=0.9, params=params)
    assert flipped_first.mean < 0  # the left item was the second one


def test_information_gain_prefers_close_and_uncertain_pairs() -> None:
    gain = information_gain([0.0, 3.0, 0.0, 0.0], [1.0, 1.0, 0.05, 4.0], engaged=0.8)
    assert gain[0] > gain[1]  # close scores beat far ones
    assert gain[3] > gain[0] > gain[2]  # an uncertain difference beats a known one
    assert np.all(gain >= 0)
    assert information_gain([0.0], [1.0], engaged=0.0)[0] == pytest.approx(0.0, abs=1e-12)  # a guesser tells nothing


def test_ranking_scores_intervals_and_serialisation() -> None:
    result = fit_pairwise(crowd_answers(8)[0])
    ranking = item_ranking(result.params, level=0.9)
    assert ranking.ranks[np.argmax(ranking.scores)] == 1
    assert sorted(ranking.ranks.tolist()) == list(range(1, 31))
    assert np.all(ranking.low < ranking.scores)
    assert np.all(ranking.scores < ranking.high)
    restored = PairwiseParams.from_dict(json.loads(json.dumps(result.params.to_dict())))
    np.testing.assert_array_equal(restored.scores, result.params.scores)
    np.testing.assert_array_equal(restored.cavity, result.params.cavity)
    assert restored.engaged_prior == result.params.engaged_prior
    assert set(result.params.worker_dict(0)) == {"engaged", "position_bias"}


def test_rank_task_orders_by_expected_wins_and_reports_the_weakest_link() -> None:
    # local items 0, 1, 2: 2 beats 0 surely, 2 beats 1 at 0.7, 1 beats 0 at 0.9
    posteriors = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 0.9], [0.3, 0.0, 0.7]])
    beats = beats_matrix(3, [(0, 2), (0, 1), (1, 2)], posteriors)
    assert beats[2, 0] == 1.0
    assert beats[1, 0] == pytest.approx(0.9)
    assert beats[2, 1] == pytest.approx(0.7)
    order = rank_task([10, 11, 12], beats)
    assert order.order.tolist() == [12, 11, 10]
    assert order.confidence == pytest.approx(0.7)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="engaged_mean"):
        PairwiseSettings(engaged_mean=1.0)
    with pytest.raises(ValueError, match="precisions"):
        PairwiseSettings(score_precision=0.0)
