"""Model evaluation: accuracy with a Wilson interval, confusion matrix, precision and recall, calibration.

Golden values worked out by hand in the comments; scikit-learn and
statsmodels serve as test-only oracles, skipped when not installed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.evaluation import (
    accuracy,
    calibration,
    class_scores,
    confusion_matrix,
    evaluate,
    wilson_proportion,
)

Z95 = 1.959963984540054

# A toy set: 5 tasks, 3 classes.
PREDICTED = [0, 0, 1, 1, 2]
REFERENCE = [0, 1, 1, 1, 2]
SCORES = [0.9, 0.6, 0.8, 0.3, 1.0]  # correct: yes, no, yes, yes, yes


def test_toy_set_by_hand() -> None:
    result = evaluate(PREDICTED, REFERENCE, SCORES, n_bins=5)
    # Rows = reference: class 0 predicted 0 once; class 1 predicted 0 once and 1 twice; class 2 predicted 2.
    np.testing.assert_array_equal(result.confusion, [[1, 0, 0], [1, 2, 0], [0, 0, 1]])
    # Precision = diagonal / column sums = (1/2, 2/2, 1/1); recall = diagonal / row sums = (1/1, 2/3, 1/1).
    np.testing.assert_allclose(result.classes.precision, [1 / 2, 1, 1])
    np.testing.assert_allclose(result.classes.recall, [1, 2 / 3, 1])
    assert result.classes.support.tolist() == [1, 3, 1]
    assert result.classes.predicted.tolist() == [2, 2, 1]
    # Accuracy 4/5; Wilson with z² = 3.8415: scale 1 + z²/5 = 1.7683, centre (0.8 + z²/10) / scale = 0.6697,
    # half-width z · √(0.16/5 + z²/100) / scale = 0.2941 → (0.3755, 0.9638).
    assert (result.accuracy.successes, result.accuracy.n, result.accuracy.estimate) == (4, 5, 0.8)
    assert result.accuracy.low == pytest.approx(0.3755, abs=1e-4)
    assert result.accuracy.high == pytest.approx(0.9638, abs=1e-4)
    # Bins (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]: 0.3 ✓ | 0.6 ✗ | 0.8 ✓ | 0.9 ✓, 1.0 ✓.
    # ECE = (|1 - .3| + |0 - .6| + |1 - .8| + 2 · |1 - .95|) / 5 = (.7 + .6 + .2 + .1) / 5 = 0.32.
    bins = result.calibration
    assert bins is not None
    np.testing.assert_allclose(bins.edges, [0, 0.2, 0.4, 0.6, 0.8, 1])
    assert bins.count.tolist() == [0, 1, 1, 1, 2]
    np.testing.assert_allclose(bins.confidence, [np.nan, 0.3, 0.6, 0.8, 0.95])
    np.testing.assert_allclose(bins.accuracy, [np.nan, 1, 0, 1, 1])
    assert bins.ece == pytest.approx(0.32)


def test_without_scores_there_is_no_calibration() -> None:
    assert evaluate(PREDICTED, REFERENCE).calibration is None
    assert accuracy(PREDICTED, REFERENCE) == evaluate(PREDICTED, REFERENCE).accuracy


def test_wilson_by_hand() -> None:
    # 8/10: the textbook (0.490, 0.943).
    eight = wilson_proportion(8, 10)
    assert eight.low == pytest.approx(0.4902, abs=1e-4)
    assert eight.high == pytest.approx(0.9433, abs=1e-4)
    # At p̂ = 0 the interval is [0, z²/(n + z²)], at p̂ = 1 it is [n/(n + z²), 1]: never a single point.
    none, every = wilson_proportion(0, 10), wilson_proportion(10, 10)
    assert none.low == 0.0
    assert none.high == pytest.approx(Z95**2 / (10 + Z95**2))
    assert every.low == pytest.approx(10 / (10 + Z95**2))
    assert every.high == 1.0
    assert wilson_proportion(8, 10, level=0.99).low < eight.low


def test_wilson_matches_statsmodels() -> None:
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for successes, n, level in [(0, 7, 0.95), (3, 7, 0.9), (40, 41, 0.99), (517, 1000, 0.95)]:
        result = wilson_proportion(successes, n, level)
        low, high = proportion.proportion_confint(successes, n, alpha=1 - level, method="wilson")
        assert result.low == pytest.approx(low, abs=1e-12)
        assert result.high == pytest.approx(high, abs=1e-12)


def test_empty_input_is_undefined() -> None:
    result = evaluate([], [], [], n_classes=2)
    assert result.accuracy.n == 0
    assert math.isnan(result.accuracy.estimate)
    assert math.isnan(result.accuracy.low)
    np.testing.assert_array_equal(result.confusion, np.zeros((2, 2)))
    assert np.isnan(result.classes.precision).all()
    assert result.calibration is not None
    assert math.isnan(result.calibration.ece)
    assert result.calibration.count.tolist() == [0] * 10


def test_undefined_class_rates_are_nan() -> None:
    # Class 2 never predicted (precision nan) and never the reference (recall nan); class 1 never the reference.
    scores = class_scores(confusion_matrix([0, 1, 0], [0, 0, 0], n_classes=3))
    np.testing.assert_array_equal(scores.precision, [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(scores.recall, [2 / 3, np.nan, np.nan])


def test_bin_edges_belong_to_the_lower_bin() -> None:
    # Two bins [0, .5] and (.5, 1]: 0 and 0.5 in the first, 0.5000001 and 1 in the second.
    result = calibration([0, 0, 0, 0], [0, 0, 0, 0], [0.0, 0.5, 0.5000001, 1.0], n_bins=2)
    assert result.count.tolist() == [2, 2]


def test_overconfident_and_calibrated_models() -> None:
    # Always score 1, right half the time: one bin, |0.5 - 1| = 0.5.
    assert calibration([0, 0, 0, 0], [0, 1, 0, 1], [1.0] * 4).ece == 0.5
    # A calibrated model: right with probability equal to its score.
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.3, 1.0, 20000)
    reference = (rng.random(20000) >= scores).astype(np.intp)  # 0 (= the prediction) with probability `score`
    result = calibration(np.zeros(20000, dtype=np.intp), reference, scores, n_bins=10)
    assert result.ece < 0.02
    assert result.count[:2].tolist() == [0, 0]  # no score below 0.3


def test_invalid_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="class indices"):
        confusion_matrix([0, -1], [0, 0])
    with pytest.raises(ValueError, match="n_classes"):
        confusion_matrix([0, 2], [0, 0], n_classes=2)
    with pytest.raises(ValueError, match="score"):
        calibration([0], [0], [1.5])
    with pytest.raises(ValueError, match="score"):
        calibration([0, 1], [0, 1], [0.5])
    with pytest.raises(ValueError, match="successes"):
        wilson_proportion(3, 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scikit_learn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    calibration_module = pytest.importorskip("sklearn.calibration")
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.6, reference, rng.integers(0, 3, 300))  # class 3 never predicted
    scores = rng.random(300)
    result = evaluate(predicted, reference, scores, n_classes=4, n_bins=8)
    np.testing.assert_array_equal(result.confusion, metrics.confusion_matrix(reference, predicted, labels=range(4)))
    precision, recall, _, support = metrics.precision_recall_fscore_support(
        reference, predicted, labels=range(4), zero_division=np.nan
    )
    np.testing.assert_allclose(result.classes.precision, precision)
    np.testing.assert_allclose(result.classes.recall, recall)
    np.testing.assert_array_equal(result.classes.support, support)
    correct = (predicted == reference).astype(int)
    true_share, mean_score = calibration_module.calibration_curve(correct, scores, n_bins=8)
    assert result.calibration is not None
    filled = result.calibration.count > 0
    np.testing.assert_allclose(result.calibration.accuracy[filled], true_share, atol=1e-12)
    np.testing.assert_allclose(result.calibration.confidence[filled], mean_score, atol=1e-12)


Predictions = tuple[np.ndarray, np.ndarray, np.ndarray, int]


@st.composite
def predictions(draw: st.DrawFn) -> Predictions:
    n_classes = draw(st.integers(1, 4))
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, n_classes - 1), st.integers(0, n_classes - 1), st.floats(0, 1)),
            min_size=1,
            max_size=30,
        )
    )
    predicted, reference, scores = (np.array(column) for column in zip(*rows, strict=True))
    return predicted.astype(np.intp), reference.astype(np.intp), scores, n_classes


@settings(max_examples=60, deadline=None)
@given(predictions(), st.data())
def test_order_and_class_numbering_do_not_matter(case: Predictions, data: st.DataObject) -> None:
    predicted, reference, scores, n_classes = case
    order = np.array(data.draw(st.permutations(range(len(predicted)))), dtype=np.intp)
    relabel = np.array(data.draw(st.permutations(range(n_classes))), dtype=np.intp)
    original = evaluate(predicted, reference, scores, n_classes=n_classes)
    moved = evaluate(relabel[predicted][order], relabel[reference][order], scores[order], n_classes=n_classes)
    assert moved.accuracy == original.accuracy
    np.testing.assert_array_equal(moved.confusion[np.ix_(relabel, relabel)], original.confusion)
    np.testing.assert_array_equal(moved.classes.recall[relabel], original.classes.recall)
    assert original.calibration is not None
    assert moved.calibration is not None
    assert moved.calibration.ece == pytest.approx(original.calibration.ece, abs=1e-12)
    assert 0.0 <= original.calibration.ece <= 1.0
    assert original.calibration.count.sum() == len(predicted)
    assert original.accuracy.low <= original.accuracy.estimate <= original.accuracy.high
