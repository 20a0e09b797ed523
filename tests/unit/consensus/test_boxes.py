"""Box consensus: clustering, EM over worker recall/false boxes/spread, gold, the online step, grading, alpha."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from crowd.consensus.box_agreement import box_alpha
from crowd.consensus.box_geometry import BoxSet, grade_boxes
from crowd.consensus.box_model import cluster_answers
from crowd.consensus.boxes import BoxAggregator, BoxParams

Box = dict[str, Any]
Rows = list[tuple[str, str, list[Box]]]


def box(x: float, y: float, w: float, h: float, label: str = "car") -> Box:
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


def crowd(rng: np.random.Generator, n_tasks: int = 30) -> tuple[Rows, dict[str, list[Box]]]:
    """Two careful workers, one who misses most objects, one who draws at random."""
    rows: Rows = []
    truth: dict[str, list[Box]] = {}
    for t in range(n_tasks):
        objects = [box(*rng.uniform(0, 400, 2), *rng.uniform(40, 120, 2)) for _ in range(rng.integers(1, 4))]
        truth[f"t{t}"] = objects
        for worker, recall, spread in (("ann", 0.95, 0.02), ("bob", 0.9, 0.05), ("cy", 0.3, 0.03)):
            drawn = [jitter(o, spread, rng) for o in objects if rng.random() < recall]
            rows.append((f"t{t}", worker, drawn))
        rows.append((f"t{t}", "spam", [box(*rng.uniform(0, 400, 2), *rng.uniform(40, 120, 2)) for _ in range(2)]))
    return rows, truth


def jitter(b: Box, spread: float, rng: np.random.Generator) -> Box:
    dx, dy, dw, dh = rng.normal(0, spread, 4) * [b["w"], b["h"], b["w"], b["h"]]
    return box(b["x"] + dx, b["y"] + dy, b["w"] + dw, b["h"] + dh, b["label"])


def test_clusters_follow_the_assignment() -> None:
    answers = [BoxSet.of([box(0, 0, 10, 10), box(100, 100, 10, 10)]), BoxSet.of([box(101, 99, 10, 10)]), BoxSet.of([])]
    members, n = cluster_answers(answers, 0.5)
    assert n == 2
    assert [m.tolist() for m in members] == [[0, 1], [1], []]


def test_em_recovers_the_objects_and_who_draws_well() -> None:
    rows, truth = crowd(np.random.default_rng(3))
    model = BoxAggregator().fit(rows)
    workers = model.params_.workers
    assert workers["ann"]["recall"] > 0.85 > 0.45 > workers["cy"]["recall"]
    assert workers["spam"]["false_rate"] > 0.5 > workers["ann"]["false_rate"]
    assert workers["ann"]["spread"] < workers["bob"]["spread"]
    reliability = {w: r.reliability for w, r in model.workers_.items()}
    assert reliability["ann"] > reliability["bob"] > reliability["spam"]
    grades = [grade_boxes(model.results_[t].box_set(), BoxSet.of(truth[t])) for t in truth]
    assert np.mean([g.mean_iou for g in grades]) > 0.85
    assert sum(g.extra for g in grades) <= 2  # the spammer's boxes are dropped


def test_single_confident_worker_keeps_a_box_the_others_missed() -> None:
    rows, _ = crowd(np.random.default_rng(3))
    model = BoxAggregator().fit(rows)
    lone = model.params_.consensus([("ann", [box(10, 10, 50, 50)]), ("cy", []), ("spam", [box(300, 300, 40, 40)])])
    assert [b["x"] for b in lone.boxes] == [10]
    assert 0.5 <= lone.boxes[0]["confidence"] <= 1.0


def test_fusion_weighs_the_precise_worker_more() -> None:
    rows, _ = crowd(np.random.default_rng(3))
    p = BoxAggregator().fit(rows).params_
    fused = p.consensus([("ann", [box(0, 0, 100, 100)]), ("bob", [box(10, 0, 100, 100)])]).boxes[0]
    assert 0 < fused["x"] < 5  # nearer ann's box than the plain mean (5)


def test_no_boxes_at_all_and_no_answers() -> None:
    model = BoxAggregator().fit([("t", "ann", []), ("t", "bob", [])])
    assert model.results_["t"].boxes == ()
    assert model.results_["t"].answers == 2
    empty = model.params_.consensus([])
    assert (empty.boxes, empty.confidence, empty.stability) == ((), 0.0, 0.0)


def test_gold_is_clamped_and_a_missed_gold_box_lowers_recall() -> None:
    gold = [box(0, 0, 100, 100), box(300, 300, 50, 50)]
    rows = [("g", "ann", [box(2, 1, 98, 100)]), ("g", "bob", [box(1, 0, 100, 99), box(200, 0, 30, 30)])]
    model = BoxAggregator().fit(rows, gold={"g": gold})
    assert model.results_["g"].value == [b | {"label": "car"} for b in gold]
    assert model.results_["g"].confidence == 1.0
    assert model.params_.workers["ann"]["recall"] < 0.75  # drew one of two real objects
    assert model.workers_["ann"].gold_answers == 1


def test_row_order_does_not_matter_and_the_online_step_reproduces_the_fit() -> None:
    rows, _ = crowd(np.random.default_rng(5), n_tasks=12)
    rng = np.random.default_rng(0)
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    first, second = BoxAggregator().fit(rows), BoxAggregator().fit(shuffled)
    assert first.results_ == second.results_
    project = json.loads(json.dumps(first.params_.project_dict()))
    workers = {w: json.loads(json.dumps(first.params_.worker_dict(w))) for w in ("ann", "bob", "cy", "spam")}
    restored = BoxParams.from_dicts(project, workers)
    assert restored == first.params_
    for task in ("t0", "t7"):
        online = restored.consensus([(w, v) for t, w, v in rows if t == task])
        assert online.value == first.results_[task].value
        assert online.confidence == pytest.approx(first.results_[task].confidence)


def test_stability_needs_agreement() -> None:
    rows, _ = crowd(np.random.default_rng(3))
    p = BoxAggregator().fit(rows).params_
    # cy rarely draws a false box but misses most objects: ann (or bob) passing this one by could drop it.
    one = p.consensus([("cy", [box(0, 0, 50, 50)])])
    three = p.consensus([(w, [box(0, 0, 50, 50)]) for w in ("ann", "bob", "cy")])
    assert 0.0 < one.stability < three.stability == 1.0
    assert len(p.next_workers) == 5


def test_grade_golden() -> None:
    grade = grade_boxes(BoxSet.of([box(5, 0, 10, 10), box(50, 50, 5, 5)]), BoxSet.of([box(0, 0, 10, 10)]))
    assert (grade.matched, grade.missed, grade.extra, grade.mean_iou) == (0, 1, 2, 0.0)  # IoU 1/3 is no match
    close = grade_boxes(BoxSet.of([box(1, 0, 10, 10), box(50, 50, 5, 5)]), BoxSet.of([box(0, 0, 10, 10)]))
    assert (close.matched, close.missed, close.extra) == (1, 0, 1)
    assert close.mean_iou == pytest.approx(90 / 110)
    assert close.score == pytest.approx(90 / 110 / 2)
    assert close.passes(0.8, max_extra=1)
    assert not close.passes(0.8)
    assert grade_boxes(BoxSet.of([]), BoxSet.of([])).mean_iou == 1.0


def test_malformed_boxes_are_refused() -> None:
    for bad in ("x", [1], [{"x": 1, "y": 2, "w": -1, "h": 1, "label": "a"}], [{"x": 1, "y": 2, "w": 1, "label": "a"}]):
        with pytest.raises(ValueError, match="box"):
            BoxSet.of(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="label"):
        BoxSet.of([{"x": 1, "y": 2, "w": 1, "h": 1, "label": 3}])


def test_box_alpha_golden() -> None:
    rng = np.random.default_rng(0)
    a, b = box(0, 0, 10, 10), box(100, 100, 10, 10)
    assert box_alpha([("1", "p", [a]), ("1", "q", [a]), ("2", "p", [b]), ("2", "q", [b])], rng) == 1.0
    # One object drawn by p only: unit values (box, nothing): D_o = 1 · 2 / 1 / 2 = 1; D_e over the pair = 1.
    assert box_alpha([("1", "p", [a]), ("1", "q", [])], rng) == pytest.approx(0.0)
    assert math.isnan(box_alpha([("1", "p", [a])], rng))


def test_empty_fit() -> None:
    assert BoxAggregator().fit([]).results_ == {}
