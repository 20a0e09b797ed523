r"""Crowd Bradley-Terry: item scores from noisy pairwise answers, with worker reliability, position bias and ties.

Model (:mod:`crowd.consensus.davidson` has the per-answer algebra). Item
``i`` has a score ``s_i ~ N(0, 1/λ)``. Worker ``w`` answers a comparison
of ``left`` and ``right`` as an engaged judge with probability ``η_w``
(``Beta`` prior), else at random; the judge follows Bradley-Terry-Davidson
at ``d = s_left - s_right + β_w``, where ``β_w = β + δ_w`` is a preference
for the left side (crowd-level ``β ~ N(0, 1)``, worker deviations
``δ_w ~ N(0, 1/position_precision)``) and ``ν`` the tie propensity.

Why this one: NoisyBT-style random answers make a careless worker's answers
carry no weight instead of pulling scores, CrowdBT's reading as a mixture
keeps EM simple, and Davidson's ``ν`` adds ties without a second scale.
Every parameter is a MAP estimate, so a worker with three answers stays near
the crowd and an item compared once stays near 0.

Position effect. A preference for the left side is identified only by the
same two items shown both ways round; if a unit always shows the same item on
the left, that item's strength and the side cannot be told apart, and a
position term would absorb real differences (``passage_readability`` is such
a file: its left item is always the lower id and the harder passage always
the right one). So ``β_w`` enters only the answers of units shown both ways
(:func:`~crowd.consensus.comparisons.two_way_units`); the server shows sides
in random order, which makes every unit with two answers two-way.

Fit: EM on the answers' engaged/random split. The E-step's responsibilities
weigh each answer; the M-step sets ``η_w`` in closed form and takes a
safeguarded Newton step on the scores (a weighted Bradley-Terry problem, the
Hessian a graph Laplacian plus ``λ I``), then on ``β``, ``δ`` and ``log ν``.
Every worker's ``η_w`` has ``κ m`` engaged and ``κ (1 - m)`` random
pseudo-answers (``engaged_mean`` m = 0.7, ``engaged_strength`` κ = 4). The
prior's mean cannot be learnt from the data: a crowd that is less engaged and
items that are further apart explain the same answers (a hierarchical
estimate of ``m`` drifts towards 1 while the scores shrink), so it is fixed,
and κ is the weakest prior that keeps a worker with one or two answers off 0
and 1 (it also recovered skill best on the synthetic crowd of
``bench/kinds.py``). The objective (log posterior) is recorded per step and
does not decrease. Gold units clamp: their answers grade the
workers (the judge's answer is the gold one) and the gold outcome counts as
``gold_weight`` comparisons by a perfect judge.

After the fit, the Laplace approximation (observed information of the
marginal likelihood, per-answer curvature floored at 0) gives each score's
variance; :mod:`crowd.consensus.pair_posterior` turns it into each unit's
winner posterior.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crowd.consensus.comparisons import TIE, Comparisons, two_way_units
from crowd.consensus.davidson import AnswerTerms, Outcomes, answer_terms, random_answer
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.laplacian import ComparisonGraph

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PairwiseSettings:
    """Hyper-parameters (one default for every data set; bench/kinds.py and docs/consensus-kinds.md explain them)."""

    score_precision: float = 0.3
    engaged_mean: float = 0.7
    engaged_strength: float = 4.0
    position_precision: float = 4.0
    crowd_position_precision: float = 1.0
    tie_precision: float = 0.25
    gold_weight: float = 1.0
    max_iter: int = 300
    tol: float = 1e-7

    def __post_init__(self) -> None:
        positive = (self.score_precision, self.position_precision, self.crowd_position_precision, self.tie_precision)
        if min(positive) <= 0 or self.engaged_strength < 0 or self.gold_weight < 0 or self.max_iter < 1:
            raise ValueError("need positive precisions, engaged_strength >= 0, gold_weight >= 0, max_iter >= 1")
        if not 0 < self.engaged_mean < 1:
            raise ValueError("engaged_mean must be inside (0, 1)")

    @property
    def engaged_prior(self) -> tuple[float, float]:
        """Pseudo-counts of engaged and random answers every worker starts with."""
        return self.engaged_strength * self.engaged_mean, self.engaged_strength * (1.0 - self.engaged_mean)


@dataclass
class _State:
    """The parameters EM moves (mutable inside one fit only)."""

    scores: FloatArray
    engaged: FloatArray
    crowd_position: float
    position: FloatArray
    tie: float
    spam_tie: float
    prior: tuple[float, float] = (0.0, 0.0)
    objective: float = -math.inf
    history: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _Design:
    """One fit's answers, with the gold units' pseudo-answers (a perfect judge) appended.

    Answers ``[:n_answers]`` are the workers'; the rest are gold comparisons.
    ``judged[a]`` is the gold outcome an answer on a gold unit is graded
    against (its screen frame), else -1.
    """

    comparisons: Comparisons
    left: IntArray
    right: IntArray
    graph: ComparisonGraph
    edge_of: IntArray
    outcomes: IntArray
    workers: IntArray
    weights: FloatArray
    two_way: BoolArray
    judged: IntArray
    n_answers: int

    @classmethod
    def of(cls, comparisons: Comparisons, gold: Mapping[int, int], gold_weight: float) -> _Design:
        c = comparisons
        units = np.array(sorted(gold), dtype=np.intp)
        results = np.array([gold[u] for u in units.tolist()], dtype=np.intp)
        if units.size and (units.min() < 0 or units.max() >= c.n_units or results.min() < 0 or results.max() > TIE):
            raise ValueError("gold maps unit indices to 0 (first wins), 1 (second wins) or 2 (tie)")
        unit_gold = np.full(c.n_units, -1, dtype=np.intp)
        unit_gold[units] = results
        judged = _screen_outcome(unit_gold[c.units], c.flipped)
        left = np.concatenate([c.left, c.first[units]])
        right = np.concatenate([c.right, c.second[units]])
        edges, edge_of = np.unique(np.minimum(left, right) * c.n_items + np.maximum(left, right), return_inverse=True)
        return cls(
            comparisons=c,
            left=left,
            right=right,
            graph=ComparisonGraph(edges // max(c.n_items, 1), edges % max(c.n_items, 1), c.n_items),
            edge_of=edge_of.reshape(-1),
            outcomes=np.concatenate([c.outcomes, results]),
            workers=np.concatenate([c.workers, np.full(len(units), c.n_workers, dtype=np.intp)]),
            weights=np.concatenate([np.ones(len(c)), np.full(len(units), gold_weight)]),
            two_way=np.concatenate([two_way_units(c), np.zeros(len(units), dtype=bool)]),
            judged=np.concatenate([judged, np.full(len(units), -1, dtype=np.intp)]),
            n_answers=len(c),
        )

    def edge_weights(self, weights: FloatArray) -> FloatArray:
        """Per-answer weights summed over the answers of each compared pair of items."""
        summed: FloatArray = np.bincount(self.edge_of, weights, len(self.graph.first)).astype(np.float64)
        return summed

    def differences(self, state: _State) -> FloatArray:
        bias = np.where(self.two_way, state.crowd_position + _padded(state.position)[self.workers], 0.0)
        d: FloatArray = state.scores[self.left] - state.scores[self.right] + bias
        return d

    def terms(self, state: _State) -> AnswerTerms:
        """Per-answer terms; the perfect judge has ``η = 1``, answers on gold units are graded against it."""
        engaged = np.append(state.engaged, 1.0)[self.workers]
        terms = answer_terms(self.differences(state), self.outcomes, engaged, state.tie, state.spam_tie)
        graded = self.judged >= 0
        if not graded.any():
            return terms
        return _graded(terms, graded, self.outcomes == self.judged, engaged, self.outcomes, state.spam_tie)


def _screen_outcome(unit_outcome: IntArray, flipped: np.ndarray) -> IntArray:
    """A unit-frame outcome (0 first, 1 second, 2 tie, -1 none) in each answer's screen frame."""
    swapped = np.where(unit_outcome == 0, 1, np.where(unit_outcome == 1, 0, unit_outcome))
    screen: IntArray = np.where(flipped, swapped, unit_outcome)
    return screen


def _padded(values: FloatArray) -> FloatArray:
    """``values`` with a trailing 0 for the perfect judge's row."""
    return np.append(values, 0.0)


def _graded(
    terms: AnswerTerms, graded: np.ndarray, right: np.ndarray, engaged: FloatArray, outcomes: IntArray, spam_tie: float
) -> AnswerTerms:
    """Answers on gold units: the judge gives the gold outcome, so ``D(o) = [o = gold]`` and ``d`` drops out."""
    judged = np.where(right, 1.0, 0.0)
    mixture = engaged * judged + (1.0 - engaged) * random_answer(outcomes, spam_tie)
    mixture = np.where(graded, mixture, 1.0)  # rows not graded keep their terms below
    share = engaged * judged / mixture
    keep = ~graded
    return AnswerTerms(
        log_likelihood=np.where(graded, np.log(mixture), terms.log_likelihood),
        engaged=np.where(graded, share, terms.engaged),
        slope=np.where(keep, terms.slope, 0.0),
        curvature=np.where(keep, terms.curvature, 0.0),
        judged_slope=np.where(keep, terms.judged_slope, 0.0),
        judged_curvature=np.where(keep, terms.judged_curvature, 0.0),
    )


@dataclass(frozen=True)
class PairwiseParams:
    """A fit's parameters: what the server stores and the online steps read.

    Items: ``scores`` and their Laplace ``variances``. Workers: ``engaged``
    (``η_w``) and ``position_bias`` (``β + δ_w``, left-side preference on the
    score scale). Crowd: ``crowd_position_bias`` (``β``), ``tie`` (``ν``),
    ``spam_tie`` (``t``), ``engaged_prior`` (pseudo-counts ``κ m``,
    ``κ (1 - m)``: a newcomer's ``η`` is ``m``), ``score_precision`` (``λ``).
    Units: ``cavity`` (units × 2: mean and precision of what the rest of the
    data says about ``s_first - s_second``, see :mod:`crowd.consensus.pair_posterior`).
    """

    scores: FloatArray
    variances: FloatArray
    engaged: FloatArray
    position_bias: FloatArray
    crowd_position_bias: float
    tie: float
    spam_tie: float
    engaged_prior: tuple[float, float]
    score_precision: float
    cavity: FloatArray

    @property
    def newcomer_engaged(self) -> float:
        a, b = self.engaged_prior
        return a / (a + b) if a + b > 0 else 0.5

    def worker_dict(self, worker: int) -> dict[str, float]:
        """One worker's fitted parameters, JSON-able."""
        return {"engaged": float(self.engaged[worker]), "position_bias": float(self.position_bias[worker])}

    def project_dict(self) -> dict[str, float | list[float]]:
        """The crowd-level parameters, JSON-able."""
        return {
            "crowd_position_bias": self.crowd_position_bias,
            "tie": self.tie,
            "spam_tie": self.spam_tie,
            "engaged_prior": list(self.engaged_prior),
            "score_precision": self.score_precision,
        }

    def to_dict(self) -> dict[str, object]:
        """Everything, JSON-able (:meth:`from_dict` restores it exactly)."""
        arrays = ("scores", "variances", "engaged", "position_bias")
        return (
            {name: getattr(self, name).tolist() for name in arrays}
            | {"cavity": self.cavity.tolist()}
            | (self.project_dict())
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PairwiseParams:
        def array(name: str) -> FloatArray:
            return np.asarray(data[name], dtype=np.float64)

        prior = np.asarray(data["engaged_prior"], dtype=np.float64)
        return cls(
            scores=array("scores"),
            variances=array("variances"),
            engaged=array("engaged"),
            position_bias=array("position_bias"),
            crowd_position_bias=float(data["crowd_position_bias"]),  # type: ignore[arg-type]
            tie=float(data["tie"]),  # type: ignore[arg-type]
            spam_tie=float(data["spam_tie"]),  # type: ignore[arg-type]
            engaged_prior=(float(prior[0]), float(prior[1])),
            score_precision=float(data["score_precision"]),  # type: ignore[arg-type]
            cavity=array("cavity").reshape(-1, 2),
        )


class CrowdBradleyTerry:
    """Fit item scores, worker reliabilities, position bias and ties to pairwise answers.

    ``fit(comparisons, gold)`` with ``gold`` mapping unit index to its known
    outcome (0 first wins, 1 second wins, 2 tie). Fitted attributes:
    ``params_`` (:class:`PairwiseParams`), ``covariance_`` (items × items
    when the items fit a dense solve, else ``None``), ``engaged_answers_``
    (per answer, the posterior probability it was an engaged judgment),
    ``log_posterior_`` (objective per EM step of the second pass),
    ``n_iter_``, ``converged_``.
    """

    params_: PairwiseParams
    covariance_: FloatArray | None
    engaged_answers_: FloatArray
    log_posterior_: list[float]
    n_iter_: int
    converged_: bool

    def __init__(self, settings: PairwiseSettings | None = None) -> None:
        self.settings = settings or PairwiseSettings()

    def fit(self, comparisons: Comparisons, gold: Mapping[int, int] | None = None) -> CrowdBradleyTerry:
        design = _Design.of(comparisons, gold or {}, self.settings.gold_weight)
        state = _start(design, self.settings.engaged_prior)
        tol = self.settings.tol * max(design.n_answers, 1)
        terms = design.terms(state)
        self.converged_, steps = False, 0
        while steps < self.settings.max_iter:
            steps += 1
            _update_engaged(design, state, terms)
            self._update_scores(design, state, terms)
            self._update_position(design, state, terms)
            self._update_tie(design, state, terms)
            terms = design.terms(state)
            if abs(self._record(design, state, terms)) < tol:
                self.converged_ = True
                break
        self._finish(design, state, terms, steps)
        return self

    def _record(self, design: _Design, state: _State, terms: AnswerTerms) -> float:
        objective = self._objective(design, state, terms)
        gain, state.objective = objective - state.objective, objective
        state.history.append(objective)
        return gain

    def _objective(self, design: _Design, state: _State, terms: AnswerTerms) -> float:
        s = self.settings
        likelihood = float(terms.log_likelihood @ design.weights)
        a, b = state.prior
        engaged = np.clip(state.engaged, 1e-300, 1.0)
        prior = a * float(np.log(engaged).sum()) + b * float(np.log1p(-np.minimum(state.engaged, 1 - 1e-16)).sum())
        prior -= 0.5 * s.score_precision * float(state.scores @ state.scores)
        prior -= 0.5 * (s.crowd_position_precision * state.crowd_position**2)
        prior -= 0.5 * s.position_precision * float(state.position @ state.position)
        if state.tie > 0:
            prior -= 0.5 * s.tie_precision * math.log(state.tie) ** 2
        return likelihood + prior

    def _update_scores(self, design: _Design, state: _State, terms: AnswerTerms) -> None:
        """One safeguarded Newton step on the scores for the E-step's weights (a concave problem)."""
        precision = self.settings.score_precision
        weights = design.weights * terms.engaged  # fixed during the M-step
        current = _expected_judged(design, state, weights, precision)
        gradient, curvature = current.item_gradient, current.curvature
        step = design.graph.solve(design.edge_weights(curvature), precision, gradient)
        original = state.scores
        for _ in range(20):
            state.scores = original + step
            if _expected_judged(design, state, weights, precision).value >= current.value - 1e-12 * abs(current.value):
                return
            step = step / 2.0
        state.scores = original

    def _update_position(self, design: _Design, state: _State, engaged: AnswerTerms) -> None:
        """Newton steps on ``β`` then ``δ_w`` from the two-way answers (skipped without any)."""
        if not design.two_way.any():
            return
        s = self.settings
        weights = np.where(design.two_way, design.weights * engaged.engaged, 0.0)
        terms = design.terms(state)
        crowd_slope = float(weights @ terms.judged_slope) - s.crowd_position_precision * state.crowd_position
        state.crowd_position += crowd_slope / (float(weights @ terms.judged_curvature) + s.crowd_position_precision)
        terms = design.terms(state)
        n = len(state.engaged) + 1
        slope = np.bincount(design.workers, weights * terms.judged_slope, n)[:-1]
        curvature = np.bincount(design.workers, weights * terms.judged_curvature, n)[:-1]
        state.position = state.position + (slope - s.position_precision * state.position) / (
            curvature + s.position_precision
        )

    def _update_tie(self, design: _Design, state: _State, terms: AnswerTerms) -> None:
        """One Newton step on ``log ν`` (only when some answer is a tie)."""
        if state.tie <= 0:
            return
        weights = design.weights * terms.engaged
        share = state.tie * np.exp(-Outcomes.at(design.differences(state), state.tie).log_z)  # ν / Z
        log_tie = math.log(state.tie)
        gradient = float(weights @ ((design.outcomes == TIE) - share)) - self.settings.tie_precision * log_tie
        curvature = float(weights @ (share * (1.0 - share))) + self.settings.tie_precision
        state.tie = math.exp(log_tie + min(max(gradient / curvature, -2.0), 2.0))

    def _finish(self, design: _Design, state: _State, terms: AnswerTerms, steps: int) -> None:
        variances, covariance = design.graph.inverse_diagonal(
            design.edge_weights(design.weights * terms.curvature), self.settings.score_precision
        )
        self.covariance_ = covariance
        answers = slice(0, design.n_answers)
        cavity = unit_cavities(
            design.comparisons,
            state.scores,
            variances,
            covariance,
            terms.slope[answers],
            terms.curvature[answers],
            self.settings.score_precision,
        )
        self.params_ = PairwiseParams(
            scores=state.scores,
            variances=variances,
            engaged=state.engaged,
            position_bias=state.crowd_position + state.position,
            crowd_position_bias=state.crowd_position,
            tie=state.tie,
            spam_tie=state.spam_tie,
            engaged_prior=state.prior,
            score_precision=self.settings.score_precision,
            cavity=cavity,
        )
        self.engaged_answers_ = terms.engaged[answers]
        self.log_posterior_ = state.history
        self.n_iter_ = steps


@dataclass(frozen=True)
class _Expected:
    value: float
    item_gradient: FloatArray
    curvature: FloatArray


def _expected_judged(design: _Design, state: _State, weights: FloatArray, precision: float) -> _Expected:
    """The M-step objective in the scores ``Σ r_a log D(o_a | d_a) - λ/2 |s|²``, its gradient and curvatures."""
    davidson = Outcomes.at(design.differences(state), state.tie)
    judged = np.where(design.judged >= 0, 0.0, weights)  # answers on gold units carry no score information
    value = float(judged @ np.log(np.maximum(davidson.of(design.outcomes), 1e-300)))
    value -= 0.5 * precision * float(state.scores @ state.scores)
    flow = judged * davidson.slope(design.outcomes)
    n = len(state.scores)
    gradient = np.bincount(design.left, flow, n) - np.bincount(design.right, flow, n) - precision * state.scores
    return _Expected(value, gradient, judged * davidson.curvature())


def _update_engaged(design: _Design, state: _State, terms: AnswerTerms) -> None:
    """M-step for each worker's ``η`` and for the random answers' tie share."""
    answers = slice(0, design.n_answers)
    workers, share = design.workers[answers], terms.engaged[answers]
    n_workers = len(state.engaged)
    a, b = state.prior
    engaged = np.bincount(workers, share, n_workers) + a
    state.engaged = engaged / (np.bincount(workers, minlength=n_workers) + a + b)
    if state.tie > 0:
        random = 1.0 - share
        state.spam_tie = (float(random @ (design.outcomes[answers] == TIE)) + 1.0) / (float(random.sum()) + 2.0)


def _start(design: _Design, prior: tuple[float, float]) -> _State:
    """Scores 0, every worker at the prior's mean, no position effect, ``ν`` from the share of tie answers."""
    c = design.comparisons
    ties = float(np.mean(design.outcomes == TIE)) if len(design.outcomes) else 0.0
    tie = 2.0 * ties / (1.0 - ties) if 0 < ties < 1 else (0.0 if ties == 0 else 1.0)
    mean = prior[0] / (prior[0] + prior[1]) if sum(prior) > 0 else 0.5
    return _State(
        scores=np.zeros(c.n_items),
        engaged=np.full(c.n_workers, mean),
        crowd_position=0.0,
        position=np.zeros(c.n_workers),
        tie=tie,
        spam_tie=ties,
        prior=prior,
    )


def unit_cavities(
    comparisons: Comparisons,
    scores: FloatArray,
    variances: FloatArray,
    covariance: FloatArray | None,
    slope: FloatArray,
    curvature: FloatArray,
    score_precision: float,
) -> FloatArray:
    """Each unit's cavity ``(m, c)`` (units × 2) from the fit's Laplace posterior and its answers' terms."""
    c = comparisons
    first, second = c.first, c.second
    spread = variances[first] + variances[second]
    if covariance is not None:
        spread = spread - 2.0 * covariance[first, second]
    sign = np.where(c.flipped, -1.0, 1.0)
    own_slope = np.bincount(c.units, sign * slope, c.n_units)
    own_curvature = np.bincount(c.units, curvature, c.n_units)
    precision = np.maximum(1.0 / np.maximum(spread, 1e-300) - own_curvature, score_precision / 2.0)
    mean = scores[first] - scores[second] - own_slope / precision
    return np.column_stack([mean, precision])
