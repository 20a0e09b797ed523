"""Words of a free-text answer: normalisation, word edit distance, word error rate.

Normalisation (:class:`TextNormalization`) decides which differences between
two answers count: by default case folds, punctuation other than
apostrophes becomes a word break, and whitespace of any kind (spaces, tabs,
line breaks) separates words, however much of it there is. The default is
the one crowd-kit's published CrowdSpeech figures use, so word error rates
compare. Whitespace is not configurable: answers are voted word by word, so
a run of whitespace is one word break whatever the setting.

Edit distances count word insertions, deletions and substitutions
(Levenshtein over words), computed by the bit-parallel algorithm of Myers
(1999) in Hyyrö's formulation: one pass over the second text with a few
integer operations per word, whatever the length of the first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Punctuation = Literal["drop", "keep", "separate"]

_WORD_OR_MARK = re.compile(r"[\w']+|[^\w\s']|'", re.UNICODE)


@dataclass(frozen=True)
class TextNormalization:
    """How answers are normalised before words are compared and voted.

    ``lowercase``: fold case (Unicode ``casefold``).
    ``punctuation``: ``"drop"`` turns every character that is neither a word
    character nor whitespace into a word break (apostrophes stay when
    ``keep_apostrophes``: "don't" is one word); ``"keep"`` leaves it in place,
    so "levels." and "levels" are different words; ``"separate"`` makes each
    punctuation mark a word of its own, voted like any other.
    ``unicode_nfkc``: apply Unicode NFKC first (full-width letters, ligatures
    and non-breaking spaces become their plain forms).
    """

    lowercase: bool = True
    punctuation: Punctuation = "drop"
    keep_apostrophes: bool = True
    unicode_nfkc: bool = True

    def __post_init__(self) -> None:
        if self.punctuation not in ("drop", "keep", "separate"):
            raise ValueError(f"punctuation must be drop, keep or separate, not {self.punctuation!r}")

    def words(self, text: str) -> list[str]:
        """The answer's words after normalisation (an empty or blank answer has none)."""
        if self.unicode_nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.lowercase:
            text = text.casefold()
        if self.punctuation == "keep":
            return text.split()
        if self.punctuation == "separate":
            return [token for token in _WORD_OR_MARK.findall(text) if self.keep_apostrophes or token != "'"]
        dropped = r"[^\w'\s]" if self.keep_apostrophes else r"[^\w\s]"
        return re.sub(dropped, " ", text).split()

    def normalize(self, text: str) -> str:
        """The answer as its normalised words joined by single spaces."""
        return " ".join(self.words(text))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextNormalization:
        return cls(**data)


def edit_distance(first: Sequence[Hashable], second: Sequence[Hashable]) -> int:
    """Levenshtein distance between two sequences (of words, or of any hashable items).

    Bit-parallel: bit ``i`` of the vertical delta vectors ``pv`` / ``mv``
    says whether ``D[i + 1, j] - D[i, j]`` is +1 / -1 in the current column
    ``j`` of the dynamic-programming table; each item of ``second`` updates
    all of them in a few big-integer operations.
    """
    if not first:
        return len(second)
    if not second:
        return len(first)
    match_masks: dict[Hashable, int] = {}
    for position, item in enumerate(first):
        match_masks[item] = match_masks.get(item, 0) | (1 << position)
    mask, top = (1 << len(first)) - 1, 1 << (len(first) - 1)
    pv, mv, distance = mask, 0, len(first)
    for item in second:
        eq = match_masks.get(item, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & mask) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        distance += 1 if ph & top else -1 if mh & top else 0
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
    return distance


def word_error_rate(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """Word edits from the reference to the hypothesis per reference word.

    May exceed 1 (many inserted words). An empty reference gives 0 for an
    empty hypothesis and 1 otherwise.
    """
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return edit_distance(reference, hypothesis) / len(reference)


def normalized_edit_distance(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Word edit distance over the longer length: 0 for equal texts, 1 for nothing in common; 0 for two empty texts."""
    longest = max(len(first), len(second))
    return edit_distance(first, second) / longest if longest else 0.0


def corpus_word_error_rate(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Total word edits over total reference words (the corpus WER of speech recognition)."""
    if len(hypotheses) != len(references):
        raise ValueError("need one hypothesis per reference")
    words = sum(len(reference) for reference in references)
    edits = sum(edit_distance(r, h) for h, r in zip(hypotheses, references, strict=True))
    return edits / words if words else 0.0
