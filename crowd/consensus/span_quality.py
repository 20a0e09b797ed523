"""Grading and agreement for spans: span F1 (exact or token overlap), worker-pair F1, token-level alpha.

Two ways to count a span as found, named wherever a figure is given:

* ``exact``: the same start, end and label;
* ``token``: per labelled token — precision and recall over the (token,
  label) pairs the two answers mark, so a span off by a word still earns
  most of its credit. Tokens are the task text's (see
  :mod:`~crowd.consensus.span_tags`), or without the text the segments
  between both answers' span boundaries, which weighs tokens by nothing
  but their count.

F1 of two empty answers is 1 (they agree there is nothing to mark).

Krippendorff's alpha for unitizing (``α_u``) compares the continua of
characters the coders marked. Here it is approximated by nominal alpha over
*tokens*: each token of each task is a unit, each answer gives it the label
of the span covering it or "outside". With tokens as the atoms of a
selection that is ``α_u`` on a token grid; it differs from the character
version only in weighing each token once instead of by its length.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from crowd.consensus.agreement import krippendorff_alpha
from crowd.consensus.encoding import IntArray
from crowd.consensus.span_tags import Span, Tokens, parse_spans, spans_to_tags
from crowd.consensus.worker_scores import sort_key

Match = Literal["exact", "token"]


@dataclass(frozen=True)
class SpanGrade:
    """Precision, recall and F1 of an answer's spans against reference spans."""

    precision: float
    recall: float
    f1: float

    def passes(self, min_f1: float) -> bool:
        return self.f1 >= min_f1


def span_f1(
    answer: Sequence[Span], reference: Sequence[Span], match: Match = "exact", tokens: Tokens | None = None
) -> SpanGrade:
    """Span F1 of ``answer`` against ``reference`` (``tokens``: the task text's, for ``match="token"``)."""
    if match == "exact":
        exact, expected = set(answer), set(reference)
        return _grade(len(exact & expected), len(exact), len(expected))
    grid = tokens if tokens is not None else Tokens.of_boundaries([answer, reference])
    found, wanted = _labelled_tokens(answer, grid), _labelled_tokens(reference, grid)
    return _grade(len(found & wanted), len(found), len(wanted))


def _labelled_tokens(spans: Sequence[Span], tokens: Tokens) -> set[tuple[int, str]]:
    labels = sorted({span.label for span in spans})
    tags = spans_to_tags(spans, tokens, {label: i for i, label in enumerate(labels)}, "io")
    return {(int(t), labels[tags[t] - 1]) for t in np.flatnonzero(tags)}


def _grade(common: int, found: int, wanted: int) -> SpanGrade:
    if not found and not wanted:
        return SpanGrade(1.0, 1.0, 1.0)
    precision = common / found if found else 0.0
    recall = common / wanted if wanted else 0.0
    return SpanGrade(precision, recall, 2 * common / (found + wanted))


def grade_spans(
    answer: Sequence[Mapping[str, Any]],
    gold: Sequence[Mapping[str, Any]],
    text: str | None = None,
    match: Match = "exact",
) -> SpanGrade:
    """Grade a spans answer value against a gold value (pass/fail: ``grade.passes(min_f1)``)."""
    tokens = Tokens.of_text(text) if text is not None and match == "token" else None
    return span_f1(parse_spans(answer), parse_spans(gold), match, tokens)


def tag_f1(answer: IntArray, reference: IntArray, tag_label: IntArray) -> float:
    """Token F1 of two tag sequences over the same tokens, counting (token, label) pairs."""
    a, r = tag_label[answer], tag_label[reference]
    common = int(np.sum((a >= 0) & (a == r)))
    return _grade(common, int(np.sum(a >= 0)), int(np.sum(r >= 0))).f1


@dataclass(frozen=True)
class PairAgreement:
    """Mean span F1 of two workers over the tasks both answered."""

    first: Hashable
    second: Hashable
    f1: float
    shared: int


def pairwise_span_f1(
    answers: Iterable[tuple[Hashable, Hashable, Sequence[Span]]], match: Match = "exact", min_shared: int = 1
) -> list[PairAgreement]:
    """Every pair of workers with at least ``min_shared`` common tasks, and their mean span F1 there."""
    by_task: dict[Hashable, dict[Hashable, Sequence[Span]]] = {}
    for task, worker, spans in answers:
        by_task.setdefault(task, {})[worker] = spans
    totals: dict[tuple[Hashable, Hashable], list[float]] = {}
    for answered in by_task.values():
        workers = sorted(answered, key=sort_key)
        for i, first in enumerate(workers):
            for second in workers[i + 1 :]:
                f1 = span_f1(answered[first], answered[second], match).f1
                totals.setdefault((first, second), []).append(f1)
    return [
        PairAgreement(first, second, float(np.mean(scores)), len(scores))
        for (first, second), scores in sorted(
            totals.items(), key=lambda item: (sort_key(item[0][0]), sort_key(item[0][1]))
        )
        if len(scores) >= min_shared
    ]


def token_alpha(
    answers: Iterable[tuple[Hashable, Hashable, Sequence[Span]]], texts: Mapping[Hashable, str] | None = None
) -> float:
    """Nominal Krippendorff's alpha over tokens (the module's approximation of ``α_u``); ``nan`` when undefined."""
    by_task: dict[Hashable, list[Sequence[Span]]] = {}
    for task, _, spans in answers:
        by_task.setdefault(task, []).append(spans)
    labels = sorted({span.label for answered in by_task.values() for spans in answered for span in spans})
    index = {label: i for i, label in enumerate(labels)}
    units, values, offset = [], [], 0
    for task in sorted(by_task, key=sort_key):
        text = (texts or {}).get(task)
        tokens = Tokens.of_text(text) if text is not None else Tokens.of_boundaries(by_task[task])
        for spans in by_task[task]:
            units.append(offset + np.arange(len(tokens)))
            values.append(spans_to_tags(spans, tokens, index, "io"))
        offset += len(tokens)
    if not units:
        return float("nan")
    return krippendorff_alpha(np.concatenate(units), np.concatenate(values))
