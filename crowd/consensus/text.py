"""Free-text consensus: align the answers word by word, vote weighted by word accuracy learned by EM.

Per task the normalised answers are aligned into a word network
(:mod:`~crowd.consensus.alignment`) and every column is voted
(:mod:`~crowd.consensus.text_votes`). Across tasks, EM learns each worker's
word accuracy ``a_w``:

* E-step: the candidate posteriors of every column under the current ``a``;
* M-step: ``a_w = (s ā + Σ_{w's votes} q(vote)) / (s + n_w)``: the expected
  share of the worker's votes (words and gaps) that are right, shrunk toward
  the crowd's pooled share ``ā`` by ``s`` pseudo-votes (``prior_strength``),
  so a worker with one answer is not taken at the word of that answer.

Gold: a task with a known text gets it aligned into its network as an extra
row (after the answers, so their alignment is unchanged); its columns are
clamped to the gold word, and votes are right exactly when they match it.
The alignment is made once, from the answers alone; EM re-weighs the votes.

Start: every worker at accuracy 0.8, i.e. the plain majority vote (all
weights equal), and its M-step. Stop: when no accuracy moves by more than
``tol``, or after ``max_iter`` steps. Order of rows never matters: tasks,
answers and words are put in a canonical order first.

The fitted :class:`TextParams` are what the server keeps (per worker: word
accuracy and votes; per project: the newcomer's accuracy and the
normalisation) and :meth:`TextParams.consensus` is the online step for one
task: the same alignment and vote, with the fitted accuracies.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crowd.consensus.alignment import GAP, WordNetwork, align
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.text_votes import Ballots, Tally, flip_probability, tally, vote_correctness
from crowd.consensus.words import TextNormalization, word_error_rate
from crowd.consensus.worker_scores import WorkerReliability, crowd_quantiles, sort_key, worker_reliabilities

START_ACCURACY = 0.8


@dataclass(frozen=True)
class TextConsensus:
    """One task's consensus text.

    ``word_confidence[i]`` is the posterior of ``words[i]``; ``confidence``
    the probability that the whole text is right (product over all aligned
    positions, dropped gaps included); ``stability`` the probability that one
    more answer by a new worker would leave the text as it is.
    """

    text: str
    words: tuple[str, ...]
    word_confidence: tuple[float, ...]
    confidence: float
    stability: float
    answers: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "word_confidence": list(self.word_confidence),
            "confidence": self.confidence,
            "stability": self.stability,
            "answers": self.answers,
        }


@dataclass(frozen=True)
class TaskNetwork:
    """One task's normalised answers (in canonical order) aligned into a word network."""

    task: Hashable
    workers: tuple[Hashable, ...]
    vocabulary: tuple[str, ...]
    network: WordNetwork
    has_gold: bool

    @classmethod
    def of(
        cls, task: Hashable, answers: Sequence[tuple[Hashable, list[str]]], gold: list[str] | None = None
    ) -> TaskNetwork:
        ordered = sorted(answers, key=lambda answer: (answer[1], sort_key(answer[0])))
        vocabulary = tuple(sorted({word for _, words in ordered for word in words} | set(gold or ())))
        ids = {word: i for i, word in enumerate(vocabulary)}
        rows = [[ids[word] for word in words] for _, words in ordered]
        reference = None if gold is None else [ids[word] for word in gold]
        network = align(rows, vocabulary, reference)
        if rows and network.n_columns == 0:  # every answer empty: one column of gaps, voted like any other
            network = WordNetwork(np.full((len(rows), 1), GAP, dtype=np.intp))
        return cls(task, tuple(worker for worker, _ in ordered), vocabulary, network, gold is not None)

    @property
    def votes(self) -> IntArray:
        """The answers' rows of the grid (the gold row left out)."""
        grid: IntArray = self.network.grid[: len(self.workers)]
        return grid


@dataclass(frozen=True)
class TextBallots:
    """The ballots of many task networks, with where each task's columns and votes lie."""

    ballots: Ballots
    networks: tuple[TaskNetwork, ...]
    column_task: IntArray
    cell_word: IntArray
    """The word id of each candidate within its task's vocabulary, or :data:`GAP`."""
    gold_cell: IntArray
    """Per column: the gold candidate's cell, or -1 where the task has no gold."""
    answer_task: IntArray

    @classmethod
    def of(cls, networks: Sequence[TaskNetwork], worker_index: Mapping[Hashable, int]) -> TextBallots:
        parts = [_task_cells(n) for n in networks]
        cell_offsets = np.cumsum([0] + [len(p[0]) for p in parts])
        column_offsets = np.cumsum([0] + [n.network.n_columns for n in networks])
        answer_offsets = np.cumsum([0] + [len(n.workers) for n in networks])
        ballots = Ballots(
            cell_column=_joined([p[0] + column_offsets[t] for t, p in enumerate(parts)]),
            column_start=_joined([p[1] + cell_offsets[t] for t, p in enumerate(parts)]),
            vote_cell=_joined([p[2] + cell_offsets[t] for t, p in enumerate(parts)]),
            vote_worker=_joined([_vote_workers(n, worker_index) for n in networks]),
            vote_answer=_joined([p[3] + answer_offsets[t] for t, p in enumerate(parts)]),
        )
        gold = _joined([np.where(p[4] >= 0, p[4] + cell_offsets[t], -1) for t, p in enumerate(parts)])
        column_task = np.repeat(np.arange(len(networks)), [n.network.n_columns for n in networks])
        answer_task = np.repeat(np.arange(len(networks)), [len(n.workers) for n in networks])
        return cls(ballots, tuple(networks), column_task, _joined([p[5] for p in parts]), gold, answer_task)

    def tally(self, accuracy: FloatArray) -> Tally:
        """Posteriors under ``accuracy``, gold columns clamped to their gold word."""
        result = tally(self.ballots, accuracy)
        clamped = self.gold_cell >= 0
        if not clamped.any():
            return result
        posteriors = np.where(clamped[self.ballots.cell_column], 0.0, result.posteriors)
        posteriors[self.gold_cell[clamped]] = 1.0
        other = np.where(clamped, 0.0, result.other)
        winners = np.where(clamped, self.gold_cell, result.winners)
        return Tally(posteriors, other, winners, result.scores)


def _joined(parts: list[IntArray]) -> IntArray:
    joined: IntArray = np.concatenate(parts).astype(np.intp) if parts else np.zeros(0, dtype=np.intp)
    return joined


def _vote_workers(network: TaskNetwork, worker_index: Mapping[Hashable, int]) -> IntArray:
    rows = np.array([worker_index.get(worker, -1) for worker in network.workers], dtype=np.intp)
    votes: IntArray = np.repeat(rows, network.network.n_columns)
    return votes


def _task_cells(network: TaskNetwork) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray]:
    """One task's cells: cell column, column starts, vote cells, vote answers, gold cell per column, cell words.

    Candidates of a column are ordered words first (alphabetically: ids follow
    the sorted vocabulary), the gap last, which is the tie order.
    """
    grid = network.network.grid
    size = len(network.vocabulary) + 1
    n_columns = grid.shape[1]
    keys = np.arange(n_columns) * size + np.where(grid == GAP, size - 1, grid)
    cells, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(grid.shape)
    cell_column, value = cells // size, cells % size
    starts = np.searchsorted(cell_column, np.arange(n_columns))
    n_votes = len(network.workers)
    vote_cells = inverse[:n_votes].ravel()
    vote_answers = np.repeat(np.arange(n_votes), n_columns)
    gold = inverse[n_votes] if network.has_gold else np.full(n_columns, -1)
    words = np.where(value == size - 1, GAP, value)
    return cell_column, starts, vote_cells, vote_answers, gold, words


@dataclass(frozen=True)
class TextParams:
    """Fitted word accuracies: what the server stores and the online step reads."""

    accuracy: Mapping[Hashable, float]
    votes: Mapping[Hashable, int]
    newcomer: float
    normalization: TextNormalization = field(default_factory=TextNormalization)
    next_accuracies: tuple[float, ...] = ()
    """Quantiles of the crowd's accuracy: the next worker, in the stability estimate."""

    @property
    def next_workers(self) -> FloatArray:
        return np.array(self.next_accuracies or (self.newcomer,), dtype=np.float64)

    def accuracy_of(self, workers: Sequence[Hashable]) -> FloatArray:
        return np.array([self.accuracy.get(worker, self.newcomer) for worker in workers], dtype=np.float64)

    def consensus(self, answers: Sequence[tuple[Hashable, str]]) -> TextConsensus:
        """The online step: one task's consensus from its ``(worker, text)`` answers and these accuracies."""
        words = [(worker, self.normalization.words(text)) for worker, text in answers]
        network = TaskNetwork.of(None, words)
        index = {worker: i for i, worker in enumerate(network.workers)}
        text_ballots = TextBallots.of([network], index)
        accuracy = self.accuracy_of(network.workers)
        return _consensus_of(text_ballots, text_ballots.tally(accuracy), self.next_workers)[0]

    def project_dict(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "newcomer_accuracy": self.newcomer,
            "next_accuracies": list(self.next_accuracies),
            "normalization": self.normalization.to_dict(),
        }

    def worker_dict(self, worker: Hashable) -> dict[str, Any]:
        return {"accuracy": self.accuracy.get(worker, self.newcomer), "votes": self.votes.get(worker, 0)}

    @classmethod
    def from_dicts(cls, project: Mapping[str, Any], workers: Mapping[Hashable, Mapping[str, Any]]) -> TextParams:
        return cls(
            accuracy={worker: float(data["accuracy"]) for worker, data in workers.items()},
            votes={worker: int(data.get("votes", 0)) for worker, data in workers.items()},
            newcomer=float(project["newcomer_accuracy"]),
            normalization=TextNormalization.from_dict(dict(project.get("normalization", {}))),
            next_accuracies=tuple(float(a) for a in project.get("next_accuracies", ())),
        )


def _consensus_of(text_ballots: TextBallots, result: Tally, next_workers: FloatArray) -> list[TextConsensus]:
    """Each task's consensus text, word confidences, text confidence and stability (0 and 0 without answers)."""
    ballots = text_ballots.ballots
    flips = flip_probability(ballots, result, next_workers)
    winner_posterior = result.posteriors[result.winners] if ballots.n_columns else np.zeros(0)
    winner_word = text_ballots.cell_word[result.winners] if ballots.n_columns else np.zeros(0, dtype=np.intp)
    starts = np.searchsorted(text_ballots.column_task, np.arange(len(text_ballots.networks) + 1))
    out = []
    for t, network in enumerate(text_ballots.networks):
        span = slice(starts[t], starts[t + 1])
        kept = winner_word[span] != GAP
        words = tuple(network.vocabulary[w] for w in winner_word[span][kept])
        out.append(
            TextConsensus(
                text=" ".join(words),
                words=words,
                word_confidence=tuple(winner_posterior[span][kept].tolist()),
                confidence=float(np.prod(winner_posterior[span])) if network.workers else 0.0,
                stability=float(np.prod(1.0 - flips[span])) if network.workers else 0.0,
                answers=len(network.workers),
            )
        )
    return out


class TextAggregator:
    """EM over word networks: consensus texts and each worker's word accuracy.

    Hyper-parameters (one default for every data set): ``normalization``;
    ``prior_strength`` pseudo-votes pulling each accuracy toward the crowd's
    (10: about one answer's worth of words); ``max_iter`` and ``tol`` (the
    largest change of any accuracy).

    Fitted: ``results_`` (task -> :class:`TextConsensus`), ``params_``
    (:class:`TextParams`), ``workers_`` (worker -> :class:`WorkerReliability`),
    ``n_iter_``, ``converged_``.
    """

    results_: dict[Hashable, TextConsensus]
    params_: TextParams
    workers_: dict[Hashable, WorkerReliability]
    n_iter_: int
    converged_: bool

    def __init__(
        self,
        normalization: TextNormalization | None = None,
        prior_strength: float = 10.0,
        max_iter: int = 100,
        tol: float = 1e-6,
    ) -> None:
        if prior_strength < 0 or max_iter < 1:
            raise ValueError("need prior_strength >= 0 and max_iter >= 1")
        self.normalization = normalization or TextNormalization()
        self.prior_strength = prior_strength
        self.max_iter = max_iter
        self.tol = tol

    def fit(
        self, answers: Iterable[tuple[Hashable, Hashable, str]], gold: Mapping[Hashable, str] | None = None
    ) -> TextAggregator:
        """Fit on ``(task, worker, text)`` answers; ``gold`` maps task -> its known text."""
        networks, workers = self._networks(answers, gold or {})
        text_ballots = TextBallots.of(networks, {worker: i for i, worker in enumerate(workers)})
        accuracy, result = self._em(text_ballots, len(workers))
        votes = np.bincount(text_ballots.ballots.vote_worker, minlength=len(workers))
        self.params_ = TextParams(
            dict(zip(workers, accuracy.tolist(), strict=True)),
            dict(zip(workers, votes.tolist(), strict=True)),
            self._crowd_accuracy(text_ballots.ballots, result),
            self.normalization,
            crowd_quantiles(accuracy, votes),
        )
        consensus = _consensus_of(text_ballots, result, self.params_.next_workers)
        self.results_ = dict(zip((n.task for n in networks), consensus, strict=True))
        self.workers_ = self._reliabilities(text_ballots, result, workers, accuracy, gold or {})
        return self

    def _networks(
        self, answers: Iterable[tuple[Hashable, Hashable, str]], gold: Mapping[Hashable, str]
    ) -> tuple[list[TaskNetwork], list[Hashable]]:
        by_task: dict[Hashable, list[tuple[Hashable, list[str]]]] = {}
        for task, worker, text in answers:
            by_task.setdefault(task, []).append((worker, self.normalization.words(text)))
        networks = [
            TaskNetwork.of(task, by_task[task], _gold_words(self.normalization, gold, task))
            for task in sorted(by_task, key=sort_key)
        ]
        workers = sorted({worker for rows in by_task.values() for worker, _ in rows}, key=sort_key)
        return networks, workers

    def _em(self, text_ballots: TextBallots, n_workers: int) -> tuple[FloatArray, Tally]:
        accuracy = np.full(n_workers, START_ACCURACY)
        result = text_ballots.tally(accuracy)
        self.converged_ = False
        for step in range(1, self.max_iter + 1):
            updated = self._m_step(text_ballots.ballots, result, n_workers)
            result = text_ballots.tally(updated)
            moved = float(np.max(np.abs(updated - accuracy))) if n_workers else 0.0
            accuracy, self.n_iter_ = updated, step
            if moved < self.tol:
                self.converged_ = True
                break
        return accuracy, result

    def _m_step(self, ballots: Ballots, result: Tally, n_workers: int) -> FloatArray:
        correct = vote_correctness(ballots, result.posteriors)
        crowd = self._crowd_accuracy(ballots, result)
        right = np.bincount(ballots.vote_worker, correct, minlength=n_workers)
        seen = np.bincount(ballots.vote_worker, minlength=n_workers)
        accuracy: FloatArray = (self.prior_strength * crowd + right) / (self.prior_strength + seen)
        return accuracy

    @staticmethod
    def _crowd_accuracy(ballots: Ballots, result: Tally) -> float:
        if len(ballots.vote_cell) == 0:
            return START_ACCURACY
        return float(np.mean(vote_correctness(ballots, result.posteriors)))

    def _reliabilities(
        self,
        text_ballots: TextBallots,
        result: Tally,
        workers: list[Hashable],
        accuracy: FloatArray,
        gold: Mapping[Hashable, str],
    ) -> dict[Hashable, WorkerReliability]:
        """Per worker: word accuracy, with the interval of their answers' scores.

        An answer on a gold task scores ``1 - min(WER, 1)`` against the gold
        text; any other, the mean posterior of its votes (its expected share
        of right positions).
        """
        ballots = text_ballots.ballots
        n_answers = len(text_ballots.answer_task)
        correct = vote_correctness(ballots, result.posteriors)
        counts = np.maximum(np.bincount(ballots.vote_answer, minlength=n_answers), 1)
        score = np.bincount(ballots.vote_answer, correct, minlength=n_answers) / counts
        index = {worker: i for i, worker in enumerate(workers)}
        owners = [index[w] for network in text_ballots.networks for w in network.workers]
        is_gold = [network.has_gold for network in text_ballots.networks for _ in network.workers]
        first = 0
        for network in text_ballots.networks:
            for row in range(len(network.workers) if network.has_gold else 0):
                score[first + row] = _gold_score(network, row)
            first += len(network.workers)
        return worker_reliabilities(workers, accuracy, owners, score, is_gold)


def _gold_words(normalization: TextNormalization, gold: Mapping[Hashable, str], task: Hashable) -> list[str] | None:
    return normalization.words(gold[task]) if task in gold else None


def _gold_score(network: TaskNetwork, row: int) -> float:
    """``1 - min(WER, 1)`` of answer ``row`` of a gold task against the gold row."""
    answer = [network.vocabulary[w] for w in network.network.row(row)]
    reference = [network.vocabulary[w] for w in network.network.row(len(network.workers))]
    return 1.0 - min(word_error_rate(answer, reference), 1.0)
