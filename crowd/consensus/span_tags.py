"""Spans of a text as tags on its tokens, and back.

Tokens keep their character offsets: a token is a run of word characters
or one other non-space character (``\\w+|[^\\w\\s]``), so "U.S." is four
tokens and a span's boundary can fall between any two of them. Without the
task text (a CSV of answers only), the *segments* between consecutive span
boundaries of all answers stand in for tokens: every answer's spans then
cover whole segments exactly.

A span covers a token when it covers at least half of the token's
characters; a span that covers no token that much takes the token it
overlaps most, so no span is lost. One answer's overlapping spans: the
earlier-starting (then longer, then alphabetically first label) span keeps
the tokens they share, since one token carries one tag.

Tag schemes over ``L`` labels (in the project's order): ``io`` —
``0`` outside, ``1 + ℓ`` inside a span of label ``ℓ`` (adjacent spans of one
label merge); ``bio`` — ``0`` outside, ``1 + 2ℓ`` beginning, ``2 + 2ℓ``
inside (adjacent spans stay apart). Decoding a tag sequence back to spans
(:func:`tags_to_spans`) is lenient: an inside tag that does not continue a
span of its label starts one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from crowd.consensus.encoding import FloatArray, IntArray

Scheme = Literal["io", "bio"]
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, order=True)
class Span:
    """A labelled character range ``[start, end)``."""

    start: int
    end: int
    label: str

    def to_value(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "label": self.label}


def parse_spans(value: object) -> tuple[Span, ...]:
    """Parse ``[{"start", "end", "label"}]`` (integers ``0 <= start < end``); raises ``ValueError`` on a bad span."""
    if not isinstance(value, list | tuple):
        raise ValueError("a spans answer is a list of {start, end, label} objects")
    spans = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValueError(f"span {i} is not an object")
        start, end, label = item.get("start"), item.get("end"), item.get("label")
        if type(start) is not int or type(end) is not int or not 0 <= start < end:
            raise ValueError(f"span {i} needs integer offsets 0 <= start < end")
        if not isinstance(label, str):
            raise ValueError(f"span {i} needs a string label")
        spans.append(Span(start, end, label))
    return tuple(sorted(spans))


@dataclass(frozen=True)
class Tokens:
    """Character offsets ``[starts[i], ends[i])`` of the units that carry tags."""

    starts: IntArray
    ends: IntArray

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def of_text(cls, text: str) -> Tokens:
        found = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
        return cls._of(found)

    @classmethod
    def of_boundaries(cls, answers: Sequence[Sequence[Span]]) -> Tokens:
        """The segments between consecutive span boundaries of all the answers (no text needed)."""
        cuts = sorted({offset for spans in answers for span in spans for offset in (span.start, span.end)})
        return cls._of(list(itertools.pairwise(cuts)))

    @classmethod
    def _of(cls, pairs: list[tuple[int, int]]) -> Tokens:
        array = np.array(pairs, dtype=np.intp).reshape(len(pairs), 2)
        return cls(array[:, 0].copy(), array[:, 1].copy())


def n_tags(n_labels: int, scheme: Scheme) -> int:
    return 1 + n_labels * (2 if scheme == "bio" else 1)


def tag_label(n_labels: int, scheme: Scheme) -> IntArray:
    """The label index of each tag (-1 for outside)."""
    tags = np.arange(n_tags(n_labels, scheme))
    labels: IntArray = np.where(tags == 0, -1, (tags - 1) // (2 if scheme == "bio" else 1))
    return labels


def spans_to_tags(spans: Sequence[Span], tokens: Tokens, labels: Mapping[str, int], scheme: Scheme) -> IntArray:
    """One answer's tag of every token (see the module notes for coverage and overlaps)."""
    tags = np.zeros(len(tokens), dtype=np.intp)
    claimed = np.zeros(len(tokens), dtype=bool)
    for span in sorted(spans, key=lambda s: (s.start, -s.end, s.label)):
        covered = np.flatnonzero(_covers(span, tokens) & ~claimed)
        if covered.size == 0:
            continue
        label = labels[span.label]
        if scheme == "bio":
            tags[covered] = 2 + 2 * label
            tags[covered[0]] = 1 + 2 * label
        else:
            tags[covered] = 1 + label
        claimed[covered] = True
    return tags


def _covers(span: Span, tokens: Tokens) -> np.ndarray:
    overlap = np.minimum(tokens.ends, span.end) - np.maximum(tokens.starts, span.start)
    covered = (overlap > 0) & (2 * overlap >= tokens.ends - tokens.starts)
    if not covered.any() and (overlap > 0).any():
        covered[int(np.argmax(overlap))] = True
    return covered


def tags_to_spans(tags: Sequence[int] | IntArray, tokens: Tokens, labels: Sequence[str], scheme: Scheme) -> list[Span]:
    """Spans rebuilt from a tag sequence (lenient about inside tags that start a span)."""
    return [
        Span(int(tokens.starts[a]), int(tokens.ends[b - 1]), labels[label]) for a, b, label in tag_runs(tags, scheme)
    ]


def tag_runs(tags: Sequence[int] | IntArray, scheme: Scheme) -> list[tuple[int, int, int]]:
    """``(first token, last token + 1, label index)`` of each span in a tag sequence."""
    runs: list[tuple[int, int, int]] = []
    current: list[int] | None = None
    for position, tag in enumerate(int(t) for t in tags):
        label, begins = _tag_parts(tag, scheme)
        if current is not None and (label != current[2] or begins):
            runs.append((current[0], position, current[2]))
            current = None
        if label >= 0 and current is None:
            current = [position, position + 1, label]
    if current is not None:
        runs.append((current[0], len(tags), current[2]))
    return runs


def _tag_parts(tag: int, scheme: Scheme) -> tuple[int, bool]:
    """``(label index or -1, whether the tag begins a span)``."""
    if tag == 0:
        return -1, False
    if scheme == "bio":
        return (tag - 1) // 2, tag % 2 == 1
    return tag - 1, False


def allowed_transitions(n_labels: int, scheme: Scheme) -> np.ndarray:
    """``allowed[a, b]``: tag ``b`` may follow tag ``a`` (BIO: inside-ℓ only after beginning-ℓ or inside-ℓ)."""
    k = n_tags(n_labels, scheme)
    allowed = np.ones((k, k), dtype=bool)
    if scheme == "bio":
        for label in range(n_labels):
            inside = 2 + 2 * label
            allowed[:, inside] = False
            allowed[[inside - 1, inside], inside] = True
    return allowed


def best_tag_sequence(posteriors: FloatArray, allowed: np.ndarray) -> IntArray:
    """The tag sequence of highest summed log posterior among those whose transitions are allowed (Viterbi).

    The first token is treated as following an outside tag. Ties go to the
    lower tag index.
    """
    n, k = posteriors.shape
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    log_p = np.log(np.maximum(posteriors, 1e-300))
    penalty = np.where(allowed, 0.0, -np.inf)
    score = log_p[0] + penalty[0]
    back = np.zeros((n, k), dtype=np.intp)
    for t in range(1, n):
        options = score[:, np.newaxis] + penalty
        back[t] = np.argmax(options, axis=0)
        score = options[back[t], np.arange(k)] + log_p[t]
    path = np.zeros(n, dtype=np.intp)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
