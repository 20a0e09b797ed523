"""Pure gold rules: the share of gold in a worker's stream, the blocking
rule, and the health flags of each gold task.

The accuracy of a worker on gold is a Bernoulli rate with a uniform prior,
so after ``n`` gold answers of which ``c`` were right it is ``Beta(1 + c,
1 + n - c)``. Decisions use that posterior, never the raw share: two wrong
answers out of two say little.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LEVEL = 0.95
"""Width of the credible intervals used below."""
Z95 = 1.959964

SETTLED_WIDTH = 0.2
"""A worker whose 95% interval is at most this wide is established: they
see gold at the project's steady ``gold_rate``."""

UNSETTLED_WIDTH = 0.6
"""At this width or more (few gold answers, nothing fitted yet) a worker
sees gold at the onboarding rate; in between, the share falls linearly."""


@dataclass(frozen=True, slots=True)
class GoldSettings:
    gold_rate: float
    onboarding_tasks: int
    onboarding_gold_rate: float
    min_gold_answers: int
    min_accuracy: float


@dataclass(frozen=True, slots=True)
class Standing:
    """What the project knows of a worker."""

    answers: int = 0
    gold_answers: int = 0
    gold_correct: int = 0
    reliability_low: float | None = None
    reliability_high: float | None = None
    reliability: float | None = None


def interval_width(correct: int, seen: int) -> float:
    """Width of the 95% interval of the gold accuracy, by the normal
    approximation of its Beta posterior (enough to tell how settled a
    worker is, and cheap on every claim)."""
    a, b = 1 + correct, 1 + seen - correct
    spread = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return min(2 * Z95 * spread, 0.95)


def beta_cdf(x: float, a: int, b: int) -> float:
    """``P(accuracy <= x)`` under ``Beta(a, b)`` for whole ``a, b >= 1``,
    exactly: it equals ``P(Binomial(a + b - 1, x) >= a)``."""
    n = a + b - 1
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_x, log_rest = math.log(x), math.log1p(-x)
    terms = [
        math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_x + (n - j) * log_rest
        for j in range(a, n + 1)
    ]
    top = max(terms)
    return math.exp(top) * math.fsum(math.exp(t - top) for t in terms)


def gold_share(settings: GoldSettings, standing: Standing) -> float:
    """The probability that this worker's next assignment is gold.

    A new worker (fewer than ``onboarding_tasks`` answers) gets the
    onboarding rate. After that the share falls from the onboarding rate to
    the steady ``gold_rate`` as the worker's accuracy becomes certain: the
    width of the tighter of their gold interval and their fitted reliability
    interval (which also counts their agreement on real tasks) goes from
    ``UNSETTLED_WIDTH`` down to ``SETTLED_WIDTH``.
    """
    boost = max(settings.onboarding_gold_rate, settings.gold_rate)
    if standing.answers < settings.onboarding_tasks:
        return boost
    width = interval_width(standing.gold_correct, standing.gold_answers)
    if standing.reliability_low is not None and standing.reliability_high is not None:
        width = min(width, standing.reliability_high - standing.reliability_low)
    unsettled = (width - SETTLED_WIDTH) / (UNSETTLED_WIDTH - SETTLED_WIDTH)
    return settings.gold_rate + (boost - settings.gold_rate) * min(1.0, max(0.0, unsettled))


def should_block(settings: GoldSettings, gold_correct: int, gold_answers: int) -> bool:
    """Block once, after at least ``min_gold_answers`` gold answers, even the
    upper end of the 95% interval of the worker's accuracy is below
    ``min_accuracy``: the worker is almost surely worse than that."""
    if gold_answers < max(settings.min_gold_answers, 1):
        return False
    a, b = 1 + gold_correct, 1 + gold_answers - gold_correct
    if a / (a + b) >= settings.min_accuracy:
        return False  # the mean is above, so is the upper end
    # The upper end (97.5% quantile) is below min_accuracy exactly when
    # more than 97.5% of the posterior lies below it.
    return beta_cdf(settings.min_accuracy, a, b) > 1 - (1 - LEVEL) / 2


@dataclass(frozen=True, slots=True)
class GoldAnswer:
    """One answer on a gold task, with the answering worker's gold record."""

    task: str
    worker: str
    correct: bool


@dataclass(frozen=True, slots=True)
class GoldTaskHealth:
    task: str
    answers: int
    correct: int
    reliable_answers: int
    reliable_correct: int
    flags: tuple[str, ...]

    @property
    def share_correct(self) -> float | None:
        return self.correct / self.answers if self.answers else None


LIKELY_WRONG = "likely_wrong"
TOO_EASY = "too_easy"
RELIABLE_ACCURACY = 0.8
"""A worker is reliable for judging one gold task if they are right this
often on the other gold tasks they answered ..."""
RELIABLE_MIN_OTHERS = 5
"""... and answered at least this many of them."""
MIN_JUDGES = 3
TOO_EASY_MIN_ANSWERS = 10


def gold_health(answers: Sequence[GoldAnswer], tasks: Iterable[str]) -> list[GoldTaskHealth]:
    """Per gold task: answers, share correct and flags.

    ``likely_wrong``: at least ``MIN_JUDGES`` reliable workers answered it
    and most of them disagree with its key. Reliability is judged on the
    worker's *other* gold answers, so a wrong key does not discredit the
    workers who reject it. ``too_easy``: at least ``TOO_EASY_MIN_ANSWERS``
    answers and every one correct, so it separates nobody.
    """
    per_worker: dict[str, tuple[int, int]] = {}
    for a in answers:
        right, seen = per_worker.get(a.worker, (0, 0))
        per_worker[a.worker] = (right + a.correct, seen + 1)
    tally: dict[str, list[int]] = {task: [0, 0, 0, 0] for task in tasks}
    for a in answers:
        right, seen = per_worker[a.worker]
        others_right, others_seen = right - a.correct, seen - 1
        reliable = others_seen >= RELIABLE_MIN_OTHERS and others_right >= RELIABLE_ACCURACY * others_seen
        counts = tally.setdefault(a.task, [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += a.correct
        counts[2] += reliable
        counts[3] += reliable and a.correct
    return [_health(task, *counts) for task, counts in tally.items()]


def _health(task: str, answers: int, correct: int, judges: int, judges_correct: int) -> GoldTaskHealth:
    flags = []
    if judges >= MIN_JUDGES and judges_correct * 2 < judges:
        flags.append(LIKELY_WRONG)
    if answers >= TOO_EASY_MIN_ANSWERS and correct == answers:
        flags.append(TOO_EASY)
    return GoldTaskHealth(task, answers, correct, judges, judges_correct, tuple(flags))
