"""Free-text consensus: the weighted vote, EM, gold, the online step, stability, serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.text import TextAggregator, TextParams
from crowd.consensus.text_quality import (
    consensus_text_agreement,
    grade_text,
    pairwise_text_agreement,
    text_alpha,
)
from crowd.consensus.words import TextNormalization

Rows = list[tuple[str, str, str]]


def params(accuracy: dict[str, float], newcomer: float = 0.7) -> TextParams:
    return TextParams(accuracy, {}, newcomer, TextNormalization(), (newcomer,))


def test_golden_weighted_vote_of_one_position() -> None:
    # Column 2 holds "cat" (a, b) and "bat" (c), K = 2: weights log(0.9·2/0.1) = log 18 and log(0.6·2/0.4) = log 3;
    # "other" scores exp(0) = 1, so q(cat) = 18² / (18² + 3 + 1).
    result = params({"a": 0.9, "b": 0.9, "c": 0.6}).consensus([("a", "the cat"), ("b", "The cat."), ("c", "the bat")])
    assert result.text == "the cat"
    assert result.word_confidence[1] == pytest.approx(324 / 328)
    # Column 1: everyone wrote "the", K = 1: weights log 9, log 9, log 1.5; q = 121.5 / 122.5.
    assert result.word_confidence[0] == pytest.approx(121.5 / 122.5)
    assert result.confidence == pytest.approx(121.5 / 122.5 * 324 / 328)


def test_one_answer_gets_its_worker_accuracy_and_no_answer_gets_nothing() -> None:
    single = params({"a": 0.83}).consensus([("a", "hello there")])
    assert single.text == "hello there"
    assert single.word_confidence == pytest.approx((0.83, 0.83))
    empty = params({}).consensus([])
    assert (empty.text, empty.confidence, empty.stability, empty.answers) == ("", 0.0, 0.0, 0)


def test_all_answers_empty_agree_on_the_empty_text() -> None:
    result = params({"a": 0.9, "b": 0.9}).consensus([("a", ""), ("b", "  ...  ")])
    assert result.text == ""
    assert result.confidence == pytest.approx(81 / 82)  # one column of gaps: 9 · 9 against "other"'s 1


def test_a_gap_loses_a_tie_to_a_word() -> None:
    result = params({"a": 0.8, "b": 0.8}).consensus([("a", "red car"), ("b", "car")])
    assert result.text == "red car"


def reliable_and_sloppy_crowd() -> Rows:
    """``ann`` always writes the truth; ``bob`` and ``cy`` each garble a different word of every task."""
    truth = [f"w{i} x{i} y{i} z{i}" for i in range(20)]
    rows: Rows = []
    for i, text in enumerate(truth):
        words = text.split()
        rows.append((f"t{i}", "ann", text))
        rows.append((f"t{i}", "bob", " ".join(["oops", *words[1:]])))
        rows.append((f"t{i}", "cy", " ".join([*words[:3], "nope"])))
    # The deciding task: bob and cy agree on a wrong word against ann.
    rows += [("last", "ann", "red car"), ("last", "bob", "red bar"), ("last", "cy", "red bar")]
    return rows


def test_em_learns_who_is_reliable_and_lets_them_outvote_two_others() -> None:
    model = TextAggregator().fit(reliable_and_sloppy_crowd())
    accuracy = model.params_.accuracy
    assert accuracy["ann"] > 0.95 > 0.8 > accuracy["bob"]
    assert model.results_["last"].text == "red car"
    plain = TextAggregator(max_iter=1, prior_strength=1e12).fit(reliable_and_sloppy_crowd())
    assert plain.results_["last"].text == "red bar"  # equal weights: the majority wins
    assert model.converged_
    assert model.n_iter_ > 1


def test_gold_is_clamped_and_grades_the_workers() -> None:
    rows = [("g", "ann", "one two three"), ("g", "bob", "one too three"), ("t", "ann", "a b"), ("t", "bob", "a c")]
    model = TextAggregator().fit(rows, gold={"g": "One, two, three"})
    gold_result = model.results_["g"]
    assert (gold_result.text, gold_result.confidence) == ("one two three", 1.0)
    assert model.params_.accuracy["ann"] > model.params_.accuracy["bob"]
    assert model.results_["t"].text == "a b"  # ann is now trusted more
    assert model.workers_["ann"].gold_answers == 1
    assert model.workers_["ann"].answers == 2


def test_gold_text_absent_from_every_answer_counts_them_all_wrong() -> None:
    model = TextAggregator().fit([("g", "ann", "cat"), ("g", "bob", "cat")], gold={"g": "dog"})
    assert model.results_["g"].text == "dog"
    assert all(a < 0.8 for a in model.params_.accuracy.values())


def test_reliability_has_an_interval_around_it() -> None:
    model = TextAggregator().fit(reliable_and_sloppy_crowd())
    for standing in model.workers_.values():
        assert 0.0 <= standing.low <= standing.reliability <= standing.high <= 1.0
        assert standing.answers == 21
    assert model.workers_["ann"].low > model.workers_["bob"].reliability


def test_row_order_and_worker_names_do_not_change_the_result() -> None:
    rows = reliable_and_sloppy_crowd()
    rng = np.random.default_rng(7)
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    first, second = TextAggregator().fit(rows), TextAggregator().fit(shuffled)
    assert first.results_ == second.results_
    assert first.params_ == second.params_
    renamed = TextAggregator().fit([(t, {"ann": "zed", "bob": "amy", "cy": "kim"}[w], x) for t, w, x in rows])
    assert {t: r.text for t, r in renamed.results_.items()} == {t: r.text for t, r in first.results_.items()}
    assert renamed.params_.accuracy["zed"] == pytest.approx(first.params_.accuracy["ann"], abs=1e-12)


def test_the_online_step_reproduces_the_fit_through_stored_dicts() -> None:
    rows = reliable_and_sloppy_crowd()
    model = TextAggregator().fit(rows)
    stored_project = json.loads(json.dumps(model.params_.project_dict()))
    stored_workers = {w: json.loads(json.dumps(model.params_.worker_dict(w))) for w in ("ann", "bob", "cy")}
    restored = TextParams.from_dicts(stored_project, stored_workers)
    assert restored == model.params_
    for task in ("t3", "last"):
        online = restored.consensus([(w, x) for t, w, x in rows if t == task])
        assert online == model.results_[task]


def test_unknown_workers_vote_with_the_newcomer_accuracy() -> None:
    model = TextAggregator().fit(reliable_and_sloppy_crowd())
    stranger = model.params_.consensus([("stranger", "just me")])
    assert stranger.word_confidence[0] == pytest.approx(model.params_.newcomer)


def test_stability_golden_and_growing_with_agreement() -> None:
    p = params({"a": 0.8, "b": 0.8, "c": 0.8}, newcomer=0.8)
    # One answer: in each column the next worker (accuracy 0.8, weight log 4 = the answer's) writes another word
    # with probability 0.8 · q(other) + 0.2 · (1 - q(other)) = 0.8 · 0.2 + 0.2 · 0.8 = 0.32, and a tie flips.
    one = p.consensus([("a", "the cat sat")])
    assert one.stability == pytest.approx(0.68**3)
    disagreeing = p.consensus([("a", "the cat sat"), ("b", "the hat sat")])
    agreeing = p.consensus([("a", "the cat sat"), ("b", "the cat sat")])
    assert disagreeing.stability < 1.0
    assert agreeing.stability == 1.0  # one more answer cannot outvote two


def test_grading_and_agreement() -> None:
    assert grade_text("The cat sat.", "the cat sat on the mat").wer == pytest.approx(0.5)
    assert grade_text("the cat", "the cat").passes(0.0)
    assert not grade_text("a cat", "the cat").passes(0.49)
    rows = [("1", "a", "the cat"), ("1", "b", "the hat"), ("2", "a", "x"), ("2", "b", "x"), ("2", "c", "y")]
    pairs = pairwise_text_agreement(rows)
    assert [(p.first, p.second, p.agreement, p.shared) for p in pairs] == [
        ("a", "b", 0.75, 2),
        ("a", "c", 0.0, 1),
        ("b", "c", 0.0, 1),
    ]
    agreement = consensus_text_agreement(rows, {"1": "the cat", "2": "x"})
    assert agreement == {"a": (1.0, 2), "b": (0.75, 2), "c": (0.0, 1)}


def test_text_alpha_is_one_for_perfect_agreement_and_lower_otherwise() -> None:
    rng = np.random.default_rng(0)
    same = [(t, w, f"text {t}") for t in "123" for w in "ab"]
    assert text_alpha(same, rng) == 1.0
    noisy = [*same[:-1], ("3", "b", "something else entirely")]
    assert text_alpha(noisy, rng) < 1.0
    assert math.isnan(text_alpha([("1", "a", "x")], rng))


sentences = st.lists(st.sampled_from(["the", "cat", "sat", "hat", "on", "mat"]), max_size=6).map(" ".join)
answer_rows = st.lists(
    st.tuples(st.sampled_from(["t1", "t2", "t3"]), st.sampled_from(["ann", "bob", "cy", "dee"]), sentences),
    min_size=1,
    max_size=14,
    unique_by=lambda row: (row[0], row[1]),
)


@settings(max_examples=40, deadline=None)
@given(answer_rows, st.data())
def test_any_row_order_gives_the_same_fit(rows: Rows, data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(rows))))
    first, second = TextAggregator().fit(rows), TextAggregator().fit([rows[i] for i in order])
    assert first.results_ == second.results_
    assert first.params_ == second.params_
    for result in first.results_.values():
        assert 0.0 <= result.confidence <= 1.0
        assert 0.0 <= result.stability <= 1.0
        assert all(0.0 < c <= 1.0 for c in result.word_confidence)


def test_empty_fit() -> None:
    model = TextAggregator().fit([])
    assert model.results_ == {}
    assert model.workers_ == {}
