"""Per-worker reliability for every answer kind, in the form the server routes, blocks and pays on.

Each kind's model gives, per worker, a reliability in ``[0, 1]`` (its own
notion of "the answer is right", stated with the kind), the soft counts of
right answers behind it, and a spammer score. The credible interval is
:func:`crowd.consensus.reliability.reliability_interval`'s Beta interval over
those soft counts, exactly as for single choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.reliability import reliability_interval


@dataclass(frozen=True)
class WorkerQuality:
    """Per worker: ``reliability`` (point), ``low``/``high`` (credible interval), ``spammer`` (0 spammer .. 1 perfect),
    ``answers`` (how many the figures rest on)."""

    reliability: FloatArray
    low: FloatArray
    high: FloatArray
    spammer: FloatArray
    answers: IntArray

    @classmethod
    def of(
        cls,
        reliability: npt.ArrayLike,
        soft_correct: npt.ArrayLike,
        answers: npt.ArrayLike,
        spammer: npt.ArrayLike,
        level: float = 0.9,
        prior: tuple[float, float] = (1.0, 1.0),
    ) -> WorkerQuality:
        """Point estimates from the model, the interval from ``Beta(prior + soft counts)``."""
        seen = np.asarray(answers, dtype=np.float64)
        low, high = reliability_interval(0.0, 0.0, soft_correct, seen, level=level, prior=prior)
        return cls(
            reliability=np.asarray(reliability, dtype=np.float64),
            low=np.atleast_1d(low),
            high=np.atleast_1d(high),
            spammer=np.asarray(spammer, dtype=np.float64),
            answers=seen.astype(np.intp),
        )

    def __len__(self) -> int:
        return len(self.reliability)

    def row(self, worker: int) -> dict[str, float | int]:
        """One worker's figures, JSON-able."""
        return {
            "reliability": float(self.reliability[worker]),
            "low": float(self.low[worker]),
            "high": float(self.high[worker]),
            "spammer": float(self.spammer[worker]),
            "answers": int(self.answers[worker]),
        }
