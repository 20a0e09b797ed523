"""Agreement: alpha, Fleiss' and Cohen's kappa, bootstrap intervals, per-worker agreement, JS distance.

Golden values are worked out by hand in the comments; maintained
implementations (krippendorff, statsmodels, irrCAC, scikit-learn, scipy) are
test-only oracles, skipped when not installed.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.agreement import (
    _alpha_of,
    _alpha_table,
    _fleiss_of,
    _fleiss_table,
    _pairable_counts,
    _resample_totals,
    bootstrap_agreement,
    consensus_agreement,
    fleiss_kappa,
    jensen_shannon_distance,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    peer_agreement,
)
from crowd.consensus.encoding import encode_answers
from tests.support.datasets import DATASETS

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]
Answers = tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the nominal example:
# 4 observers (rows) × 12 units (columns), 0 = missing.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
        [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
    ]
)

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects × 5 categories, 14 raters each.
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def from_matrix(matrix: np.ndarray) -> Arrays:
    """Observer × unit matrix (0 = missing) to (tasks, workers, labels)."""
    workers, tasks = np.nonzero(matrix)
    return tasks, workers, matrix[workers, tasks]


def from_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Task × class count table to (tasks, labels) index arrays."""
    cells = np.repeat(np.arange(table.size), table.ravel())
    return cells // table.shape[1], cells % table.shape[1]


def random_answers(seed: int, n_tasks: int, n_classes: int, overlap: tuple[int, int], n_workers: int = 12) -> Arrays:
    """Each task gets a random number of distinct workers; labels noisy around a random truth."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(overlap[0], overlap[1] + 1, n_tasks)
    tasks = np.repeat(np.arange(n_tasks), sizes)
    workers = np.concatenate([rng.choice(n_workers, size, replace=False) for size in sizes])
    truth = rng.integers(0, n_classes, n_tasks)[tasks]
    labels = np.where(rng.random(len(tasks)) < 0.7, truth, rng.integers(0, n_classes, len(tasks)))
    return tasks, workers, labels


# --- golden values -------------------------------------------------------------------------


def test_tiny_example_by_hand() -> None:
    # Three tasks, two answers each: (a, a), (b, b), (a, b).
    # Alpha: n = 6 values, Σ o_cc = 2 + 2 + 0 = 4, n_a = n_b = 3, so
    #   α = 1 - (n - 1)(n - Σ o_cc) / (n² - Σ n_c²) = 1 - 5 · 2 / (36 - 18) = 4/9.
    # Fleiss: P_i = 1, 1, 0 → P̄ = 2/3; p = (1/2, 1/2) → P_e = 1/2; κ = (2/3 - 1/2) / (1/2) = 1/3.
    tasks, labels = [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 0, 1]
    assert krippendorff_alpha(tasks, labels) == pytest.approx(4 / 9)
    assert fleiss_kappa(tasks, labels) == pytest.approx(1 / 3)


def test_krippendorff_2011_worked_example() -> None:
    # The paper's coincidence margins: n = 40 pairable values (unit 12 has one value and drops out),
    # n_c = (9, 13, 10, 5, 3) for values 1..5, Σ o_cc = 32, so
    #   α = 1 - 39 · (40 - 32) / (40² - (81 + 169 + 100 + 25 + 9)) = 1 - 312 / 1216 = 0.743.
    tasks, _, labels = from_matrix(KRIPPENDORFF_2011)
    assert krippendorff_alpha(tasks, labels) == pytest.approx(1 - 312 / 1216, abs=1e-12)


def test_fleiss_worked_example() -> None:
    # p_k = column sums / 140 = (20, 28, 39, 21, 32) / 140, P_e = Σ p_k² = 4170 / 19600 = 0.2128;
    # P_i = (Σ_k n_ik² - 14) / (14 · 13); P̄ = mean = (Σ_ik n_ik² - 140) / 1820 = (828 - 140) / 1820 = 0.3780;
    # κ = (P̄ - P_e) / (1 - P_e) = 0.2099.
    tasks, labels = from_table(FLEISS_TABLE)
    p_bar, p_e = 688 / 1820, 4170 / 19600
    assert fleiss_kappa(tasks, labels) == pytest.approx((p_bar - p_e) / (1 - p_e), abs=1e-12)
    assert fleiss_kappa(tasks, labels) == pytest.approx(0.2099, abs=1e-4)


def test_unequal_overlap_by_hand() -> None:
    # Tasks: (a, a, a), (a, b), (b, b, b, b), and (a) — one answer, which drops out of both.
    # Fleiss: P_i = 1, 0, 1 → P̄ = 2/3; shares (1, 0), (½, ½), (0, 1) → p = (½, ½), P_e = ½ → κ = 1/3.
    #   (Gwet's form would keep the lone answer in p, giving p = (5/8, 3/8); we drop it.)
    # Alpha: n = 3 + 2 + 4 = 9; Σ o_cc = 3·2/2 + 0 + 4·3/3 = 7; n_a = 4, n_b = 5;
    #   α = 1 - 8 · (9 - 7) / (81 - 16 - 25) = 1 - 16/40 = 0.6.
    tasks = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    assert fleiss_kappa(tasks, labels) == pytest.approx(1 / 3)
    assert krippendorff_alpha(tasks, labels) == pytest.approx(0.6)
    assert fleiss_kappa(tasks[:-1], labels[:-1]) == fleiss_kappa(tasks, labels)


# --- edge cases ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tasks", "labels"),
    [
        ([], []),  # nothing
        ([0, 1, 2], [0, 1, 0]),  # no task with two answers
        ([0, 0, 1, 1, 1], [2, 2, 2, 2, 2]),  # one category only
    ],
)
def test_undefined_is_nan(tasks: list[int], labels: list[int]) -> None:
    assert math.isnan(krippendorff_alpha(tasks, labels))
    assert math.isnan(fleiss_kappa(tasks, labels))
    intervals = bootstrap_agreement(tasks, labels, rng=np.random.default_rng(0), n_resamples=20)
    assert math.isnan(intervals.alpha.estimate)
    assert math.isnan(intervals.fleiss_kappa.high)


def test_perfect_agreement_with_missing_answers_is_one() -> None:
    tasks = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    labels = [0, 0, 0, 2, 2, 1, 1, 1, 1, 0]
    assert krippendorff_alpha(tasks, labels) == 1.0
    assert fleiss_kappa(tasks, labels) == 1.0


def test_chance_agreement_is_about_zero() -> None:
    rng = np.random.default_rng(7)
    tasks, labels = np.repeat(np.arange(3000), 3), rng.integers(0, 3, 9000)
    assert abs(krippendorff_alpha(tasks, labels)) < 0.03
    assert abs(fleiss_kappa(tasks, labels)) < 0.03


def test_invalid_indices_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        krippendorff_alpha([0, 0], [1])
    with pytest.raises(ValueError, match="non-negative"):
        fleiss_kappa([0, 0], [1, -1])


# --- oracles -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_matches_krippendorff_package(seed: int) -> None:
    krippendorff = pytest.importorskip("krippendorff")
    tasks, _, labels = random_answers(seed, 60, 4, (1, 6))  # missing answers, unequal overlap, lone answers
    counts = np.zeros((60, 4))
    np.add.at(counts, (tasks, labels), 1)
    expected = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    assert krippendorff_alpha(tasks, labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_fleiss_matches_statsmodels_for_equal_overlap(seed: int) -> None:
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    tasks, _, labels = random_answers(seed, 50, 3, (5, 5))
    table, _ = inter_rater.aggregate_raters(np.column_stack([labels[tasks == i] for i in range(50)]).T)
    assert fleiss_kappa(tasks, labels) == pytest.approx(inter_rater.fleiss_kappa(table), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_fleiss_matches_gwet_generalised_kappa_for_unequal_overlap(seed: int) -> None:
    # irrCAC (Gwet) keeps tasks with one answer in p_k; with every task at 2+ answers the two agree.
    pd = pytest.importorskip("pandas")
    raw = pytest.importorskip("irrCAC.raw")
    tasks, workers, labels = random_answers(seed, 40, 3, (2, 6))
    ratings = np.full((40, 12), np.nan)
    ratings[tasks, workers] = labels
    expected = raw.CAC(pd.DataFrame(ratings), digits=15).fleiss()["est"]["coefficient_value"]
    assert fleiss_kappa(tasks, labels) == pytest.approx(expected, abs=1e-12)


def read_dataset(name: str) -> Arrays:
    folder = DATASETS / name
    if not folder.is_dir():
        pytest.skip("shared datasets not available")
    with (folder / "answers.csv").open(encoding="utf-8") as stream:
        coded = encode_answers((row["task"], row["worker"], row["label"]) for row in csv.DictReader(stream))
    return coded.tasks, coded.workers, coded.labels


def test_real_dataset_against_oracles() -> None:
    # bluebirds: 39 workers × 108 tasks, complete, one answer each — every oracle applies.
    krippendorff = pytest.importorskip("krippendorff")
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    metrics = pytest.importorskip("sklearn.metrics")
    tasks, workers, labels = read_dataset("bluebirds")
    counts = np.zeros((tasks.max() + 1, labels.max() + 1))
    np.add.at(counts, (tasks, labels), 1)
    alpha = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    assert krippendorff_alpha(tasks, labels) == pytest.approx(alpha, abs=1e-9)
    assert fleiss_kappa(tasks, labels) == pytest.approx(inter_rater.fleiss_kappa(counts), abs=1e-9)
    pairs = pairwise_cohen_kappa(tasks, workers, labels, min_shared=108)
    assert len(pairs.kappa) == 39 * 38 // 2
    matrix = np.zeros((39, 108), dtype=int)
    matrix[workers, tasks] = labels
    for a, b, kappa in list(zip(pairs.first, pairs.second, pairs.kappa, strict=True))[:: len(pairs.kappa) // 15]:
        assert kappa == pytest.approx(metrics.cohen_kappa_score(matrix[a], matrix[b]), abs=1e-9)


# --- bootstrap -----------------------------------------------------------------------------


def test_a_weighted_resample_equals_the_rebuilt_answer_set() -> None:
    # The bootstrap's shortcut: weights w over tasks on the per-task table == tasks repeated w times.
    tasks, _, labels = random_answers(3, 12, 3, (2, 5))  # every task has 2+ answers: table row i is task i
    weights = np.array([0, 3, 1, 0, 2, 1, 1, 0, 4, 0, 0, 0])
    own = [labels[tasks == i] for i in range(12)]
    rebuilt_labels = np.concatenate([np.tile(own[i], w) for i, w in enumerate(weights)])
    copy_sizes = np.repeat([len(answers) for answers in own], weights)
    rebuilt_tasks = np.repeat(np.arange(weights.sum()), copy_sizes)  # each copy is a task of its own
    counts = _pairable_counts(tasks, labels)
    by_weights = _alpha_of(weights @ _alpha_table(counts)), _fleiss_of(weights @ _fleiss_table(counts))
    assert by_weights[0] == pytest.approx(krippendorff_alpha(rebuilt_tasks, rebuilt_labels), abs=1e-12)
    assert by_weights[1] == pytest.approx(fleiss_kappa(rebuilt_tasks, rebuilt_labels), abs=1e-12)


def test_resampled_weights_are_multinomial_draws_in_every_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crowd.consensus.agreement._MAX_BOOTSTRAP_CELLS", 20)  # blocks of 2 resamples
    table = np.ones((7, 1))
    totals = _resample_totals(table, np.random.default_rng(0), 5)
    assert totals.shape == (5, 1)
    assert np.all(totals == 7)  # every resample draws exactly N tasks


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    tasks, _, labels = random_answers(5, 200, 3, (2, 5))
    first = bootstrap_agreement(tasks, labels, rng=np.random.default_rng(42), n_resamples=400)
    again = bootstrap_agreement(tasks, labels, rng=np.random.default_rng(42), n_resamples=400)
    other = bootstrap_agreement(tasks, labels, rng=np.random.default_rng(43), n_resamples=400)
    assert first == again
    assert first != other
    assert first.n_tasks == 200
    assert first.alpha.estimate == krippendorff_alpha(tasks, labels)
    assert first.fleiss_kappa.estimate == fleiss_kappa(tasks, labels)
    for interval in (first.alpha, first.fleiss_kappa):
        assert interval.low < interval.estimate < interval.high
        assert 0.05 < interval.high - interval.low < 0.3  # SE ≈ 0.04 for 200 tasks


def test_bootstrap_interval_narrows_with_more_tasks() -> None:
    small = bootstrap_agreement(*random_answers(1, 50, 3, (3, 3))[::2], rng=np.random.default_rng(0), n_resamples=300)
    large = bootstrap_agreement(*random_answers(1, 800, 3, (3, 3))[::2], rng=np.random.default_rng(0), n_resamples=300)
    assert large.alpha.high - large.alpha.low < (small.alpha.high - small.alpha.low) / 2


def test_bootstrap_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_agreement([0, 0], [0, 1], rng=np.random.default_rng(0), n_resamples=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_agreement([0, 0], [0, 1], rng=np.random.default_rng(0), level=1.0)


# --- Cohen's kappa -------------------------------------------------------------------------


def test_cohen_kappa_by_hand() -> None:
    # Worker 0: a a b b; worker 1: a b b b on tasks 0..3.
    # p_o = 3/4; margins (½, ½) and (¼, ¾) → p_e = ⅛ + ⅜ = ½; κ = (¾ - ½) / ½ = ½.
    pairs = pairwise_cohen_kappa([0, 1, 2, 3, 0, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 0, 1, 1, 1], 4)
    assert (pairs.first.tolist(), pairs.second.tolist()) == ([0], [1])
    assert pairs.kappa.tolist() == [pytest.approx(0.5)]
    assert pairs.n_shared.tolist() == [4]


def test_cohen_repeated_answers_split_the_task() -> None:
    # As above, but worker 1 answers task 0 twice: a and b → shares (½, ½) there.
    # p_o = (½ + 0 + 1 + 1) / 4 = 5/8; margins: ā = (½, ½), b̄ = ((½ + 0 + 0 + 0)/4, ...) = (⅛, ⅞)
    # p_e = 1/16 + 7/16 = ½; κ = (5/8 - ½) / ½ = ¼.
    pairs = pairwise_cohen_kappa([0, 1, 2, 3, 0, 0, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 1, 1, 1, 1])
    assert pairs.n_shared.tolist() == []  # min_shared defaults to 10
    pairs = pairwise_cohen_kappa(
        [0, 1, 2, 3, 0, 0, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 1, 1, 1, 1], 1
    )
    assert pairs.kappa.tolist() == [pytest.approx(0.25)]
    assert pairs.n_shared.tolist() == [4]


def test_cohen_min_shared_and_undefined_pairs() -> None:
    # Workers 0 and 1 both say 2 on tasks 0 and 1: p_e = 1, kappa undefined (nan).
    # Worker 2 says 0, 2 there: p_o = ½, margins (0, 0, 1) and (½, 0, ½) → p_e = ½ → κ = 0.
    tasks, workers, labels = [0, 0, 1, 1, 0, 1, 2, 2], [0, 1, 0, 1, 2, 2, 0, 1], [2, 2, 2, 2, 0, 2, 2, 2]
    pairs = pairwise_cohen_kappa(tasks, workers, labels, min_shared=2)
    assert list(zip(pairs.first.tolist(), pairs.second.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2)]
    np.testing.assert_array_equal(pairs.kappa, [np.nan, 0.0, 0.0])
    assert pairs.n_shared.tolist() == [3, 2, 2]  # task 2 is shared by 0 and 1 only
    assert len(pairwise_cohen_kappa(tasks, workers, labels, min_shared=4).kappa) == 0
    identical = pairwise_cohen_kappa([0, 1, 0, 1], [3, 3, 5, 5], [0, 1, 0, 1], min_shared=1)
    assert (identical.first.tolist(), identical.second.tolist(), identical.kappa.tolist()) == ([3], [5], [1.0])
    assert len(pairwise_cohen_kappa([], [], []).kappa) == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_cohen_matches_scikit_learn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    tasks, workers, labels = random_answers(seed, 80, 3, (2, 6), n_workers=6)
    pairs = pairwise_cohen_kappa(tasks, workers, labels, min_shared=5)
    assert len(pairs.kappa) > 5
    answer = {(int(t), int(w)): int(label) for t, w, label in zip(tasks, workers, labels, strict=True)}
    for a, b, kappa, n in zip(pairs.first, pairs.second, pairs.kappa, pairs.n_shared, strict=True):
        shared = sorted({t for t, w in answer if w == a} & {t for t, w in answer if w == b})
        assert len(shared) == n
        expected = metrics.cohen_kappa_score([answer[t, a] for t in shared], [answer[t, b] for t in shared])
        assert kappa == pytest.approx(expected, abs=1e-12)


# --- per-worker agreement ------------------------------------------------------------------


def test_worker_agreement_by_hand() -> None:
    # Task 0: w0 → 0, w1 → 1. Task 1: w0 → 1, w1 → 1, w1 → 0 (w1 answered twice).
    tasks, workers, labels = [0, 0, 1, 1, 1], [0, 1, 0, 1, 1], [0, 1, 1, 1, 0]
    # Consensus: task 0 → 0, task 1 undecided (-1): only task-0 answers count. w2 never answered.
    versus_consensus = consensus_agreement(tasks, workers, labels, [0, -1], n_workers=3)
    np.testing.assert_array_equal(versus_consensus.share, [1.0, 0.0, np.nan])
    assert versus_consensus.n_answers.tolist() == [1, 1, 0]
    # Peers: w0 on task 0 → 0/1 agree; on task 1 (label 1) → 1 of w1's 2 answers agrees: ½. Mean ¼.
    #        w1 on task 0 → 0/1; on task 1 its 1 → w0 agrees 1/1; its 0 → 0/1. Mean ⅓.
    versus_peers = peer_agreement(tasks, workers, labels)
    np.testing.assert_allclose(versus_peers.share, [1 / 4, 1 / 3])
    assert versus_peers.n_answers.tolist() == [2, 3]


def test_peer_agreement_skips_tasks_without_peers() -> None:
    result = peer_agreement([0, 0, 1], [0, 1, 0], [1, 1, 0], n_workers=3)
    np.testing.assert_array_equal(result.share, [1.0, 1.0, np.nan])
    assert result.n_answers.tolist() == [1, 1, 0]


# --- Jensen-Shannon distance ---------------------------------------------------------------


def test_jensen_shannon_by_hand() -> None:
    assert jensen_shannon_distance([3, 1, 0], [3, 1, 0]) == 0.0
    assert jensen_shannon_distance([1, 0], [0, 5]) == 1.0  # disjoint supports
    # p = (½, ½), q = (1, 0): m = (¾, ¼), JSD = H(m) - (H(p) + H(q)) / 2 = H(¾, ¼) - ½.
    entropy = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert jensen_shannon_distance([2, 2], [1, 0]) == pytest.approx(math.sqrt(entropy - 0.5))


def test_jensen_shannon_edges() -> None:
    assert math.isnan(jensen_shannon_distance([0, 0], [1, 0]))
    with pytest.raises(ValueError, match="same number"):
        jensen_shannon_distance([1, 0], [1, 0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        jensen_shannon_distance([1, -1], [1, 0])


def test_jensen_shannon_matches_scipy() -> None:
    distance = pytest.importorskip("scipy.spatial.distance")
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.random(5) * (rng.random(5) < 0.8), rng.random(5)
        assert jensen_shannon_distance(p, q) == pytest.approx(distance.jensenshannon(p, q, base=2), abs=1e-12)


# --- properties ----------------------------------------------------------------------------


@st.composite
def answer_sets(draw: st.DrawFn) -> Answers:
    n_tasks, n_workers, n_classes = draw(st.integers(1, 8)), draw(st.integers(1, 5)), draw(st.integers(2, 4))
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, n_tasks - 1), st.integers(0, n_workers - 1), st.integers(0, n_classes - 1)),
            max_size=30,
        )
    )
    tasks, workers, labels = np.array(rows, dtype=np.intp).reshape(-1, 3).T
    return tasks, workers, labels, n_tasks, n_workers, n_classes


def same(first: float, second: float) -> bool:
    return (math.isnan(first) and math.isnan(second)) or first == pytest.approx(second, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(answer_sets(), st.data())
def test_alpha_and_kappa_ignore_numbering_and_order(answers: Answers, data: st.DataObject) -> None:
    tasks, _, labels, n_tasks, _, n_classes = answers
    order = np.array(data.draw(st.permutations(range(len(tasks)))), dtype=np.intp)
    task_map = np.array(data.draw(st.permutations(range(n_tasks))), dtype=np.intp)
    label_map = np.array(data.draw(st.permutations(range(n_classes))), dtype=np.intp)
    moved = (task_map[tasks][order], label_map[labels][order])
    for statistic in (krippendorff_alpha, fleiss_kappa):
        value = statistic(tasks, labels)
        assert same(statistic(*moved), value)
        assert math.isnan(value) or value <= 1.0 + 1e-12


@settings(max_examples=60, deadline=None)
@given(answer_sets())
def test_kappa_weighs_tasks_not_answers(answers: Answers) -> None:
    # Every task twice: P̄ and p_k are means over tasks, so kappa does not move.
    tasks, _, labels, n_tasks, _, _ = answers
    doubled = (np.concatenate([tasks, tasks + n_tasks]), np.concatenate([labels, labels]))
    assert same(fleiss_kappa(*doubled), fleiss_kappa(tasks, labels))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=20))
def test_alpha_and_kappa_with_two_answers_per_task(pairs: list[tuple[int, int]]) -> None:
    # With N tasks of two answers each, kappa is Scott's pi and α = 1 - (2N - 1)/(2N) · (1 - κ).
    labels = np.array(pairs).ravel()
    tasks = np.repeat(np.arange(len(pairs)), 2)
    alpha, kappa, n = krippendorff_alpha(tasks, labels), fleiss_kappa(tasks, labels), len(pairs)
    assert same(alpha, 1 - (2 * n - 1) / (2 * n) * (1 - kappa))


@settings(max_examples=40, deadline=None)
@given(answer_sets(), st.data())
def test_worker_figures_follow_worker_renumbering(answers: Answers, data: st.DataObject) -> None:
    tasks, workers, labels, n_tasks, n_workers, n_classes = answers
    worker_map = np.array(data.draw(st.permutations(range(n_workers))), dtype=np.intp)
    consensus = np.array(data.draw(st.lists(st.integers(-1, n_classes - 1), min_size=n_tasks, max_size=n_tasks)))
    renumbered_workers = worker_map[workers]
    for original, renumbered in (
        (
            peer_agreement(tasks, workers, labels, n_workers=n_workers),
            peer_agreement(tasks, renumbered_workers, labels, n_workers=n_workers),
        ),
        (
            consensus_agreement(tasks, workers, labels, consensus, n_workers=n_workers),
            consensus_agreement(tasks, renumbered_workers, labels, consensus, n_workers=n_workers),
        ),
    ):
        np.testing.assert_allclose(renumbered.share[worker_map], original.share)
        np.testing.assert_array_equal(renumbered.n_answers[worker_map], original.n_answers)
    pairs = pairwise_cohen_kappa(tasks, workers, labels, min_shared=1)
    moved = pairwise_cohen_kappa(tasks, worker_map[workers], labels, min_shared=1)
    before = {
        frozenset((worker_map[a], worker_map[b])): (k, n)
        for a, b, k, n in zip(pairs.first, pairs.second, pairs.kappa, pairs.n_shared, strict=True)
    }
    after = {
        frozenset((a, b)): (k, n)
        for a, b, k, n in zip(moved.first, moved.second, moved.kappa, moved.n_shared, strict=True)
    }
    assert before.keys() == after.keys()
    for key, (kappa, n) in before.items():
        assert after[key][1] == n
        assert same(after[key][0], kappa)
    assert np.all(moved.first < moved.second)


@settings(max_examples=60, deadline=None)
@given(*[st.lists(st.integers(0, 5), min_size=3, max_size=3).filter(any) for _ in range(3)])
def test_jensen_shannon_is_a_bounded_symmetric_metric(p: list[int], q: list[int], r: list[int]) -> None:
    pq, qp = jensen_shannon_distance(p, q), jensen_shannon_distance(q, p)
    assert pq == pytest.approx(qp, abs=1e-12)
    assert 0.0 <= pq <= 1.0
    assert pq <= jensen_shannon_distance(p, r) + jensen_shannon_distance(r, q) + 1e-12


@pytest.mark.parametrize("name", ["act_CF_amt", "act_MS"])
def test_real_dataset_alpha_with_unequal_overlap(name: str) -> None:
    # act_CF_amt has repeated answers by one worker on a task; both have tasks with one answer.
    krippendorff = pytest.importorskip("krippendorff")
    tasks, _, labels = read_dataset(name)
    counts = np.zeros((tasks.max() + 1, labels.max() + 1))
    np.add.at(counts, (tasks, labels), 1)
    alpha = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    assert krippendorff_alpha(tasks, labels) == pytest.approx(alpha, abs=1e-9)
