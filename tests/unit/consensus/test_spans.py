"""Span consensus: tokens and tags, constrained decoding, the token Dawid-Skene, grading, agreement."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowd.consensus.agreement import krippendorff_alpha
from crowd.consensus.span_quality import grade_spans, pairwise_span_f1, span_f1, token_alpha
from crowd.consensus.span_tags import (
    Span,
    Tokens,
    allowed_transitions,
    best_tag_sequence,
    parse_spans,
    spans_to_tags,
    tags_to_spans,
)
from crowd.consensus.spans import SpanAggregator, SpanParams, expected_token_f1

TEXT = "Barack Obama met Angela Merkel in Berlin."
LABELS = {"LOC": 0, "PER": 1}
OBAMA, MERKEL, BERLIN = Span(0, 12, "PER"), Span(17, 30, "PER"), Span(34, 40, "LOC")


def value(*spans: Span) -> list[dict[str, object]]:
    return [span.to_value() for span in spans]


def test_tokens_keep_their_offsets() -> None:
    tokens = Tokens.of_text("U.S. is big")
    assert list(zip(tokens.starts.tolist(), tokens.ends.tolist(), strict=True)) == [
        (0, 1), (1, 2), (2, 3), (3, 4), (5, 7), (8, 11),
    ]  # fmt: skip
    segments = Tokens.of_boundaries([[Span(0, 5, "a")], [Span(3, 9, "a")]])
    assert segments.starts.tolist() == [0, 3, 5]
    assert segments.ends.tolist() == [3, 5, 9]


def test_spans_to_tags_golden_bio_and_io() -> None:
    tokens = Tokens.of_text(TEXT)  # Barack Obama met Angela Merkel in Berlin .
    assert spans_to_tags([OBAMA, MERKEL, BERLIN], tokens, LABELS, "bio").tolist() == [3, 4, 0, 3, 4, 0, 1, 0]
    assert spans_to_tags([OBAMA, MERKEL, BERLIN], tokens, LABELS, "io").tolist() == [2, 2, 0, 2, 2, 0, 1, 0]


def test_half_covered_tokens_count_and_a_tiny_span_keeps_its_token() -> None:
    tokens = Tokens.of_text(TEXT)
    sloppy = Span(1, 14, "PER")  # "arack Obama m": most of Barack, 1 of 3 letters of "met"
    assert spans_to_tags([sloppy], tokens, LABELS, "io").tolist()[:3] == [2, 2, 0]
    assert spans_to_tags([Span(35, 36, "LOC")], tokens, LABELS, "io").tolist()[6] == 1


def test_overlapping_spans_of_one_answer_share_no_token() -> None:
    tokens = Tokens.of_text(TEXT)
    nested = [Span(0, 30, "LOC"), OBAMA]  # the earlier-starting, longer span keeps the tokens
    assert spans_to_tags(nested, tokens, LABELS, "bio").tolist()[:5] == [1, 2, 2, 2, 2]


def test_lenient_decoding_of_tags() -> None:
    tokens = Tokens.of_text(TEXT)
    assert tags_to_spans([2, 2, 0, 4, 3, 0, 0, 0], tokens, ["LOC", "PER"], "bio") == [
        Span(0, 12, "LOC"), Span(17, 23, "PER"), Span(24, 30, "PER"),
    ]  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(1, 3), st.sampled_from(["LOC", "PER"])), max_size=4))
def test_tags_round_trip_for_token_aligned_spans(chosen: list[tuple[int, int, str]]) -> None:
    tokens = Tokens.of_text(TEXT)
    spans, taken = [], set()
    for first, length, label in chosen:
        covered = set(range(first, min(first + length, 8)))
        if not covered & taken:
            taken |= covered
            spans.append(Span(int(tokens.starts[min(covered)]), int(tokens.ends[max(covered)]), label))
    tags = spans_to_tags(spans, tokens, LABELS, "bio")
    assert sorted(tags_to_spans(tags, tokens, ["LOC", "PER"], "bio")) == sorted(spans)


def test_viterbi_respects_bio_and_picks_the_best_valid_sequence() -> None:
    # Token 0 leans O (.6) over B (.4); token 1 is surely inside (.9). Alone, argmax gives O I (invalid);
    # the valid sequences: B I scores .4 · .9 = .36, O O .6 · .1 = .06, O B ... -> B I.
    posteriors = np.array([[0.6, 0.4, 0.0], [0.1, 0.0, 0.9]])
    assert best_tag_sequence(posteriors, allowed_transitions(1, "bio")).tolist() == [1, 2]
    io_posteriors = np.array([[0.6, 0.4], [0.1, 0.9]])  # IO has no constraint: the argmax of each token
    assert best_tag_sequence(io_posteriors, allowed_transitions(1, "io")).tolist() == [0, 1]
    assert best_tag_sequence(np.zeros((0, 3)), allowed_transitions(1, "bio")).size == 0


def toy_rows() -> list[tuple[str, str, list[dict[str, object]]]]:
    rows = []
    for t in range(12):
        rows += [
            (f"t{t}", "ann", value(OBAMA, MERKEL, BERLIN)),
            (f"t{t}", "bob", value(OBAMA, MERKEL)),  # never marks places
            (f"t{t}", "cy", value(Span(7, 12, "PER"), BERLIN)),  # clips the first name
        ]
    rows.append(("x", "spam", value(Span(13, 16, "LOC"))))
    rows.append(("x", "ann", value(OBAMA)))
    return rows


def test_the_token_dawid_skene_recovers_the_spans() -> None:
    model = SpanAggregator(labels=["LOC", "PER"]).fit(
        toy_rows(), texts={f"t{t}": TEXT for t in range(12)} | {"x": TEXT}
    )
    result = model.results_["t0"]
    assert [(s["start"], s["end"], s["label"]) for s in result.spans] == [
        (0, 12, "PER"),
        (17, 30, "PER"),
        (34, 40, "LOC"),
    ]
    assert all(0.5 < s["confidence"] <= 1.0 for s in result.spans)
    assert model.workers_["ann"].reliability > model.workers_["cy"].reliability
    assert model.workers_["ann"].reliability > model.workers_["bob"].reliability
    bob = model.params_.confusions["bob"]
    assert bob[1, 1] < 0.5 < bob[3, 3]  # per label: bob misses LOC, finds PER


def test_without_the_text_spans_segment_by_their_boundaries() -> None:
    model = SpanAggregator().fit(toy_rows())
    assert model.results_["t3"].value == value(OBAMA, MERKEL, BERLIN)


def test_gold_is_clamped() -> None:
    model = SpanAggregator().fit(toy_rows(), gold={"x": value(MERKEL)})
    assert model.results_["x"].value == value(MERKEL)
    assert model.workers_["ann"].gold_answers == 1


def test_online_step_reproduces_the_fit_and_serialises() -> None:
    rows = toy_rows()
    texts = {f"t{t}": TEXT for t in range(12)} | {"x": TEXT}
    model = SpanAggregator().fit(rows, texts)
    project = json.loads(json.dumps(model.params_.project_dict()))
    workers = {w: json.loads(json.dumps(model.params_.worker_dict(w))) for w in ("ann", "bob", "cy", "spam")}
    restored = SpanParams.from_dicts(project, workers)
    for task in ("t4", "x"):
        online = restored.consensus([(w, v) for t, w, v in rows if t == task], TEXT)
        fitted = model.results_[task]
        assert online.value == fitted.value
        assert online.confidence == pytest.approx(fitted.confidence, rel=1e-9)
        assert online.stability == pytest.approx(fitted.stability, rel=1e-9)
    with pytest.raises(ValueError, match="labels outside"):
        restored.consensus([("ann", value(Span(0, 3, "ORG")))], TEXT)
    assert restored.consensus([], TEXT).confidence == 0.0


def test_row_order_does_not_matter() -> None:
    rows = toy_rows()
    shuffled = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    assert SpanAggregator().fit(rows).results_ == SpanAggregator().fit(shuffled).results_


def test_expected_token_f1_of_a_perfect_worker_and_a_spammer() -> None:
    priors = np.array([0.8, 0.1, 0.1])
    labels_of_tags = np.array([-1, 0, 0])
    perfect = np.eye(3)[np.newaxis]
    spammer = np.full((1, 3, 3), 1 / 3)
    assert expected_token_f1(perfect, priors, labels_of_tags)[0] == pytest.approx(1.0)
    # A spammer marks 2/3 of tokens: a true inside token is hit 2/3 of the time, an outside one marked 2/3.
    assert expected_token_f1(spammer, priors, labels_of_tags)[0] == pytest.approx(
        0.8 / 3 / (0.8 / 3 + 0.8 * 2 / 3 + 0.2 / 3)
    )


def test_span_f1_exact_and_token_overlap() -> None:
    tokens = Tokens.of_text(TEXT)
    clipped = Span(7, 12, "PER")
    assert span_f1([clipped], [OBAMA]).f1 == 0.0
    assert span_f1([clipped], [OBAMA], "token", tokens).f1 == pytest.approx(2 / 3)  # 1 of 2 tokens, no extra
    assert span_f1([], []).f1 == 1.0
    grade = grade_spans(value(OBAMA, BERLIN), value(OBAMA, MERKEL))
    assert (grade.precision, grade.recall, grade.f1) == (0.5, 0.5, 0.5)
    assert grade.passes(0.5)
    assert not grade.passes(0.6)


def test_malformed_spans_are_refused() -> None:
    for bad in ("x", [1], [{"start": 3, "end": 3, "label": "a"}], [{"start": 1.0, "end": 3, "label": "a"}]):
        with pytest.raises(ValueError, match="span"):
            parse_spans(bad)  # type: ignore[arg-type]


def test_pairwise_f1_and_token_alpha() -> None:
    rows = [("1", "a", [OBAMA]), ("1", "b", [OBAMA]), ("2", "a", [BERLIN]), ("2", "b", [])]
    pairs = pairwise_span_f1(rows)
    assert [(p.first, p.second, p.f1, p.shared) for p in pairs] == [("a", "b", 0.5, 2)]
    texts = {"1": TEXT, "2": TEXT}
    tokens = Tokens.of_text(TEXT)
    tags = [spans_to_tags(s, tokens, {"LOC": 0, "PER": 1}, "io") for _, _, s in rows]
    units = np.concatenate([np.arange(8), np.arange(8), 8 + np.arange(8), 8 + np.arange(8)])
    assert token_alpha(rows, texts) == pytest.approx(krippendorff_alpha(units, np.concatenate(tags)))
    assert math.isnan(token_alpha([]))


def test_empty_inputs() -> None:
    assert SpanAggregator().fit([]).results_ == {}
    blank = SpanAggregator(labels=["PER"]).fit([("t", "a", []), ("t", "b", [])], texts={"t": "hello world"})
    assert blank.results_["t"].spans == ()
    assert 0.5 < blank.results_["t"].confidence < 1.0  # two answers agree on "outside" for both tokens
