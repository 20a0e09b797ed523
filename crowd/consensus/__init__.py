"""The consensus engine: pure numpy, no I/O.

* :mod:`~crowd.consensus.encoding` — rows of ids to index arrays and back.
* :mod:`~crowd.consensus.majority` — (weighted) majority vote.
* :mod:`~crowd.consensus.dawid_skene` — Dawid-Skene EM: the full fit.
* :mod:`~crowd.consensus.prior` — its empirical-Bayes Dirichlet priors: each
  worker shrinks toward the crowd's confusion matrix at their own skill, with
  a fixed strength or one learned from the crowd
  (:mod:`~crowd.consensus.special`: digamma for that).
* :mod:`~crowd.consensus.acceleration` — SQUAREM extrapolation of EM, with a
  monotonicity safeguard.
* :mod:`~crowd.consensus.online` — one task's posterior between fits, and
  the dynamic overlap rule.
* :mod:`~crowd.consensus.reliability` — worker accuracy, credible interval,
  spammer score.
"""

from __future__ import annotations

from crowd.consensus.dawid_skene import DawidSkene, DSParams, em_step
from crowd.consensus.encoding import (
    Codebook,
    CodedAnswers,
    answer_arrays,
    decode_labels,
    encode_answers,
    encode_gold,
)
from crowd.consensus.majority import MajorityVote
from crowd.consensus.online import (
    EVIDENCE_HALF,
    UNKNOWN_WORKER,
    OnlineModel,
    OverlapDecision,
    decide_overlap,
    evidence_weights,
)
from crowd.consensus.reliability import (
    expected_accuracy,
    reliability_interval,
    soft_agreement,
    spammer_score,
    vote_weights,
)

__all__ = [
    "EVIDENCE_HALF",
    "UNKNOWN_WORKER",
    "Codebook",
    "CodedAnswers",
    "DSParams",
    "DawidSkene",
    "MajorityVote",
    "OnlineModel",
    "OverlapDecision",
    "answer_arrays",
    "decide_overlap",
    "decode_labels",
    "em_step",
    "encode_answers",
    "encode_gold",
    "evidence_weights",
    "expected_accuracy",
    "reliability_interval",
    "soft_agreement",
    "spammer_score",
    "vote_weights",
]
