"""Model replay: human answers a calibrated model saves under dynamic overlap, and its evaluation.

    .venv/bin/python bench/model_replay.py [--quick] [--seed 0] [--json bench/results/model_replay.json]

The synthetic model. For every dataset and accuracy level ``a`` (0.70, 0.85,
0.95), a noisy oracle predicts every task that has gold (and only those: it
needs a truth to be noisy about). With ``K`` classes, task ``i`` gets a
confidence ``c_i = 1/K + (1 - 1/K) · B_i``, ``B_i ~ Beta(4m, 4(1 - m))`` with
``m = (a - 1/K) / (1 - 1/K)``, so ``E[c_i] = a`` and ``c_i`` never falls below
chance. The prediction is the gold label with probability ``c_i``, otherwise
one of the ``K - 1`` other labels uniformly; its score is ``c_i``. So
``P(right | score = c) = c``: calibrated by construction, accuracy ``a`` in
expectation (``mean c_i`` for the drawn sample), noise independent of the
crowd's given the truth. Draws come from ``default_rng([seed, set, level])``.

The replay. As in ``bench/dynamic_overlap.py``, answers are revealed round by
round in file order (each open task gets its next answer), with
``max_overlap`` the answers the set has for the task, and worker models are
refitted every ``--refit-share`` of the answers from revealed answers only;
gold is never shown to the replay, only used to score it. What a server does
with predictions is imported, not re-implemented: a task with a prediction
first asks for ``initial_target(min_overlap, min_human_answers, 1)`` human
answers (``crowd.machine.policy``); each answer scores the task with
``task_posterior`` (every vote with its worker's matrix from the last fit,
or the newcomer's; the model is the worker ``model:synthetic``, a hard vote:
the server does not read scores in consensus) and decides it with ``settle``
(``crowd.inference.policy``, ``min_human_answers`` floor included); refits
count the predictions as that worker's answers; before the first refit every
vote gets ``cold_start``. The run without a model goes through the same
functions. The model's figures come from ``crowd.consensus.evaluation.evaluate``,
as ``GET /models`` computes them: against gold, and against the consensus
(the final refit's labels of the tasks it predicted).

Reported per level and floor: human answers on the model's tasks, those
saved against the run without it (and those the server credits the model
with, ``saved_answers``, on tasks the set answered ``min_overlap`` times),
gold accuracy of the final refit and at completion (mean over sets), sets
where it is not lower, gold tasks won and lost; per set, the first floor.
Per level, pooled over sets: the model's accuracy with its 95% interval
beside ``mean c_i``, its ECE beside that of outcomes redrawn from the same
scores (mean of 20: ECE is positive at finite n), the same against the
consensus, and the accuracy of its fitted confusion matrix (mean over sets).
With ``min_overlap`` 3 and one model, floors 0-2 all ask for 2 humans
(``initial_target``), hence the default sweep of floors 1 and 3.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consensus import DATASETS, Dataset
from dynamic_overlap import Rule, answers_by_task, median_overlap
from report import emit

from crowd.consensus import DawidSkene, DSParams, expected_accuracy
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.evaluation import ModelEvaluation, calibration, evaluate
from crowd.inference.policy import Vote, cold_start, settle, task_posterior
from crowd.machine.policy import initial_target, saved_answers

LEVELS = (0.70, 0.85, 0.95)
CONCENTRATION = 4.0
"""``a + b`` of the Beta the confidences are drawn from."""
ECE_REDRAWS = 20


@dataclass(frozen=True)
class Sweep:
    """The models (accuracy levels) and ``min_human_answers`` floors to replay, and the seed of the models."""

    levels: tuple[float, ...]
    floors: tuple[int, ...]
    seed: int


@dataclass(frozen=True)
class SyntheticModel:
    level: float
    tasks: IntArray
    truth: IntArray
    labels: IntArray
    scores: FloatArray

    def label_of(self) -> dict[int, int]:
        return dict(zip(self.tasks.tolist(), self.labels.tolist(), strict=True))


def synthetic_model(data: Dataset, level: float, rng: np.random.Generator) -> SyntheticModel:
    """A noisy oracle on the gold tasks whose score is the probability it is right (see the module doc)."""
    k = data.coded.codebook.n_classes
    tasks = np.array(sorted(data.gold), dtype=np.intp)
    truth = np.array([data.gold[t] for t in tasks.tolist()], dtype=np.intp)
    m = (level - 1 / k) / (1 - 1 / k)
    scores = 1 / k + (1 - 1 / k) * rng.beta(CONCENTRATION * m, CONCENTRATION * (1 - m), size=len(tasks))
    right = rng.random(len(tasks)) < scores
    wrong = (truth + rng.integers(1, k, size=len(tasks))) % k
    return SyntheticModel(level, tasks, truth, np.where(right, truth, wrong), scores)


Pooled = dict[float, list[tuple[SyntheticModel, IntArray]]]
"""Per level, every set's model and its consensus labels, to evaluate them together."""


@dataclass
class Replay:
    """A replay as a server would see it: revealed answers, last fit, per-task targets and outcomes."""

    data: Dataset
    rule: Rule
    floor: int
    model: SyntheticModel | None
    revealed: list[int] = field(default_factory=list)
    fit: DawidSkene | None = None
    known: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    target: dict[int, int] = field(default_factory=dict)
    humans_at_completion: dict[int, int] = field(default_factory=dict)
    labels_at_completion: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.predicted = {} if self.model is None else self.model.label_of()
        self.model_worker = self.data.coded.codebook.n_workers  # the worker ``model:synthetic``

    def refit(self) -> DawidSkene:
        """Fit on the revealed answers and every prediction, warm-started from the last fit."""
        tasks, workers, labels, n_tasks, n_workers, n_classes = self.data.arrays()
        chosen = np.array(self.revealed, dtype=np.intp)
        t, w, lab = tasks[chosen], workers[chosen], labels[chosen]
        if self.model is not None:
            t, lab = np.concatenate([t, self.model.tasks]), np.concatenate([lab, self.model.labels])
            w = np.concatenate([w, np.full(len(self.model.tasks), self.model_worker)])
        init = None if self.fit is None else self.fit.params_
        n_voters = n_workers + (self.model is not None)
        self.fit = DawidSkene().fit(t, w, lab, n_tasks, n_voters, n_classes, init=init)
        self.known = np.bincount(w, minlength=n_voters) > 0
        return self.fit

    def current(self) -> DSParams:
        """What ``task_posterior`` gets from the server: the last fit's priors and newcomer."""
        k = self.data.coded.codebook.n_classes
        if self.fit is None:
            return cold_start(k)
        return DSParams(np.empty((0, k, k)), self.fit.priors_, self.fit.newcomer_)

    def vote(self, worker: int, label: int) -> Vote:
        """A vote with its worker's matrix from the last fit, or none (the newcomer's) if the fit never saw them."""
        if self.fit is None or not self.known[worker]:
            return Vote(label, None)
        return Vote(label, self.fit.confusions_[worker])

    def decide(self, task: int, seen: list[int], available: int) -> bool:
        """The server's step after an answer: posterior of all votes, then ``settle``."""
        coded = self.data.coded
        answers = zip(coded.workers[seen].tolist(), coded.labels[seen].tolist(), strict=True)
        votes = [self.vote(worker, label) for worker, label in answers]
        if task in self.predicted:
            votes.append(self.vote(self.model_worker, self.predicted[task]))
        outcome = settle(
            task_posterior(self.current(), votes),
            votes=len(votes),
            humans=len(seen),
            answers=len(seen),
            target_overlap=self.target[task],
            min_overlap=self.rule.min_overlap,
            max_overlap=available,
            min_humans=min(self.floor, available),
            confidence=self.rule.confidence_target,
        )
        self.target[task] = outcome.target_overlap
        if outcome.complete:
            self.humans_at_completion[task] = len(seen)
            self.labels_at_completion[task] = outcome.label
        return outcome.complete


def replay(data: Dataset, rule: Rule, floor: int, model: SyntheticModel | None) -> Replay:
    state = Replay(data, rule, floor, model)
    queues = answers_by_task(data)
    refit_every = max(1, round(rule.refit_share * len(data.rows)))
    open_tasks = []
    for task, queue in enumerate(queues):
        models = int(task in state.predicted)
        state.target[task] = min(initial_target(rule.min_overlap, floor, models), len(queue))
        settled_by_models = state.target[task] == 0 and state.decide(task, [], len(queue))  # floor 0 only
        if queue and not settled_by_models:
            open_tasks.append(task)
    for depth in range(max(map(len, queues), default=0)):
        still_open = []
        for task in open_tasks:
            state.revealed.append(queues[task][depth])
            if len(state.revealed) % refit_every == 0:
                state.refit()
            if not state.decide(task, queues[task][: depth + 1], len(queues[task])):
                still_open.append(task)
        open_tasks = still_open
    state.refit()
    return state


@dataclass(frozen=True)
class Outcome:
    """What one replay gives on the gold tasks (in sorted task order, the model's order)."""

    humans: int
    credited: float
    final: IntArray
    at_completion: IntArray
    model_reliability: float | None

    @classmethod
    def of(cls, state: Replay) -> Outcome:
        assert state.fit is not None
        gold, refitted, fit = sorted(state.data.gold), state.fit.predict(), state.fit
        humans = [state.humans_at_completion.get(t, 0) for t in gold]
        done = np.array([state.labels_at_completion.get(t, refitted[t]) for t in gold], dtype=np.intp)
        if state.model is None:
            return cls(sum(humans), 0.0, refitted[gold], done, None)
        # A task the set answered fewer than min_overlap times ran out of answers: no credit.
        available = np.bincount(state.data.coded.tasks, minlength=len(refitted))[gold]
        full = available >= state.rule.min_overlap
        credited = sum(saved_answers(state.rule.min_overlap, h, 1) for h, f in zip(humans, full, strict=True) if f)
        w = state.model_worker
        reliability = float(expected_accuracy(fit.confusions_[w : w + 1], fit.priors_)[0])
        return cls(sum(humans), credited, refitted[gold], done, reliability)

    def accuracy(self, truth: IntArray) -> dict[str, float]:
        return {
            "accuracy_final_refit": float(np.mean(self.final == truth)),
            "accuracy_at_completion": float(np.mean(self.at_completion == truth)),
        }


def bench_dataset(data: Dataset, index: int, rule: Rule, sweep: Sweep, pools: Pooled) -> dict[str, Any]:
    """Replay ``data`` without a model, then with each level's model at each floor."""
    truth = np.array([data.gold[t] for t in sorted(data.gold)], dtype=np.intp)
    base = Outcome.of(replay(data, rule, sweep.floors[0], None))
    row: dict[str, Any] = {"dataset": data.name, "answers": len(data.rows), "gold_tasks": len(truth)}
    row["without_model"] = {"human_answers": base.humans, **base.accuracy(truth)}
    row["with_model"] = []
    for j, level in enumerate(sweep.levels):
        model = synthetic_model(data, level, np.random.default_rng([sweep.seed, index, j]))
        for floor in sweep.floors:
            outcome = Outcome.of(replay(data, rule, floor, model))
            run = {"level": level, "floor": floor, **compare(outcome, base, truth)}
            if floor == sweep.floors[0]:
                rng = np.random.default_rng([sweep.seed, index, j, 1])
                run["model"] = model_report(model, outcome.final, data.coded.codebook.n_classes, rng)
                run["model"]["fitted_accuracy"] = outcome.model_reliability
                pools.setdefault(level, []).append((model, outcome.final))
            row["with_model"].append(run)
    return row


def compare(outcome: Outcome, base: Outcome, truth: IntArray) -> dict[str, Any]:
    right, base_right = outcome.final == truth, base.final == truth
    return {
        "human_answers": outcome.humans,
        "saved": base.humans - outcome.humans,
        "credited": outcome.credited,
        **outcome.accuracy(truth),
        "gold_tasks_won": int(np.count_nonzero(right & ~base_right)),
        "gold_tasks_lost": int(np.count_nonzero(~right & base_right)),
    }


def model_report(
    model: SyntheticModel, consensus: IntArray, n_classes: int | None, rng: np.random.Generator
) -> dict[str, Any]:
    """The model's evaluation against gold and the consensus, beside what it is known to be."""
    gold = evaluate(model.labels, model.truth, model.scores, n_classes=n_classes)
    agreed = evaluate(model.labels, consensus, model.scores, n_classes=n_classes)
    expected = float(np.mean(model.scores))
    return {
        "known_accuracy": model.level,
        "expected_accuracy": expected,
        "gold": figures(gold),
        "gold_interval_covers_expected": gold.accuracy.low <= expected <= gold.accuracy.high,
        "calibrated_ece": calibrated_ece(model.scores, rng),
        "consensus": figures(agreed),
    }


def figures(result: ModelEvaluation) -> dict[str, Any]:
    a = result.accuracy
    ece = None if result.calibration is None else result.calibration.ece
    return {"n": a.n, "accuracy": a.estimate, "interval": [a.low, a.high], "ece": ece}


def calibrated_ece(scores: FloatArray, rng: np.random.Generator, redraws: int = ECE_REDRAWS) -> float:
    """The mean ECE of a model calibrated by construction with these scores: right with probability = score."""
    predicted = np.zeros(len(scores), dtype=np.intp)
    eces = [
        calibration(predicted, (rng.random(len(scores)) >= scores).astype(np.intp), scores).ece for _ in range(redraws)
    ]
    return float(np.mean(eces))


def pooled_report(
    level: float, pool: list[tuple[SyntheticModel, IntArray]], rng: np.random.Generator
) -> dict[str, Any]:
    """One level's models of every set as one model (class indices differ in meaning: accuracy and ECE only)."""
    models = [model for model, _ in pool]
    tasks = np.arange(sum(len(m.tasks) for m in models), dtype=np.intp)
    joined = [np.concatenate([getattr(m, name) for m in models]) for name in ("truth", "labels", "scores")]
    model = SyntheticModel(level, tasks, *joined)
    return model_report(model, np.concatenate([consensus for _, consensus in pool]), None, rng)


ACCURACIES = ("accuracy_final_refit", "accuracy_at_completion")
SUMMED = ("human_answers", "saved", "credited", "gold_tasks_won", "gold_tasks_lost")


def summarise(rows: list[dict[str, Any]], sweep: Sweep) -> list[dict[str, Any]]:
    """Per level and floor, over the sets: answers summed, accuracy averaged, sets not lower."""
    return [summary_line(rows, level, floor) for level in sweep.levels for floor in sweep.floors]


def summary_line(rows: list[dict[str, Any]], level: float, floor: int) -> dict[str, Any]:
    base = [r["without_model"] for r in rows]
    runs = [next(x for x in r["with_model"] if (x["level"], x["floor"]) == (level, floor)) for r in rows]
    not_lower = [x["accuracy_final_refit"] >= b["accuracy_final_refit"] for x, b in zip(runs, base, strict=True)]
    return {
        "level": level,
        "floor": floor,
        "without_model": sum(b["human_answers"] for b in base),
        **{key: sum(x[key] for x in runs) for key in SUMMED},
        **{key: float(np.mean([x[key] for x in runs])) for key in ACCURACIES},
        "sets_not_lower": sum(not_lower),
    }


def print_table(report: dict[str, Any]) -> None:
    rule, rows, lines = report["rule"], report["datasets"], report["summary"]
    base = [r["without_model"] for r in rows]
    mean = {key: float(np.mean([b[key] for b in base])) for key in ACCURACIES}
    print(
        f"min_overlap {rule['min_overlap']}, confidence_target {rule['confidence_target']}, refit every "
        f"{rule['refit_share']:.0%} of the answers, seed {report['seed']}; the model predicts the "
        f"{sum(r['gold_tasks'] for r in rows):,} gold tasks of {len(rows)} sets.\nHuman answers on those "
        "tasks (summed) and gold accuracy (mean over sets), with the model against without it, same rule:\n"
    )
    print(f"{'model':<6}{'floor':>6}{'answers':>9}{'share':>7}{'saved':>8}{'credited':>10}{'final':>7}{'Δ pts':>7}"
          f"{'at done':>9}{'Δ pts':>7}{'not lower':>11}{'won/lost':>10}")  # fmt: skip
    total = sum(b["human_answers"] for b in base)
    print(f"{'none':<6}{'-':>6}{total:>9,}{1:>7.0%}{'-':>8}{'-':>10}{mean[ACCURACIES[0]]:>7.3f}{'-':>7}"
          f"{mean[ACCURACIES[1]]:>9.3f}{'-':>7}{'-':>11}{'-':>10}")  # fmt: skip
    for x in lines:
        deltas = [(x[key] - mean[key]) * 100 for key in ACCURACIES]
        print(
            f"{x['level']:<6.2f}{x['floor']:>6}{x['human_answers']:>9,}{x['human_answers'] / total:>7.0%}"
            f"{x['saved']:>8,}{x['credited']:>10,.0f}{x['accuracy_final_refit']:>7.3f}{deltas[0]:>+7.1f}"
            f"{x['accuracy_at_completion']:>9.3f}{deltas[1]:>+7.1f}{x['sets_not_lower']:>7}/{len(rows):<3}"
            f"{x['gold_tasks_won']:>6}/{x['gold_tasks_lost']:<3}"
        )
    print_sets(rows, report["levels"], report["floors"][0])
    print_models(report)


def print_sets(rows: list[dict[str, Any]], levels: list[float], floor: int) -> None:
    print(f"\nper set, floor {floor}: change in human answers with the model, Δ accuracy points (final refit)")
    print(f"{'dataset':<17}{'gold':>6}{'answers':>9}{'final':>7}" + "".join(f"{level:>14.2f}" for level in levels))
    for r in rows:
        b = r["without_model"]
        cells = ""
        for x in r["with_model"]:
            if x["floor"] == floor:
                change = x["human_answers"] / b["human_answers"] - 1
                cells += f"{change:>8.0%}{(x['accuracy_final_refit'] - b['accuracy_final_refit']) * 100:>+6.1f}"
        print(
            f"{r['dataset']:<17}{r['gold_tasks']:>6,}{b['human_answers']:>9,}{b['accuracy_final_refit']:>7.3f}{cells}"
        )


def print_models(report: dict[str, Any]) -> None:
    n_sets = len(report["datasets"])
    print("\nthe model, pooled over sets (covers: sets whose 95% interval holds the expected accuracy mean c)")
    print(f"{'known':<6}{'mean c':>7}{'gold accuracy [95%]':>26}{'ECE':>7}{'calibrated':>11}"
          f"{'consensus [95%]':>26}{'ECE':>7}{'fitted':>8}{'covers':>8}")  # fmt: skip
    for level, m in report["models"].items():
        per_set = [
            x["model"] for r in report["datasets"] for x in r["with_model"] if "model" in x and x["level"] == level
        ]
        fitted = np.mean([s["fitted_accuracy"] for s in per_set])
        covers = sum(s["gold_interval_covers_expected"] for s in per_set)
        g, c = m["gold"], m["consensus"]
        print(
            f"{level:<6.2f}{m['expected_accuracy']:>7.3f}{interval(g):>26}{g['ece']:>7.3f}{m['calibrated_ece']:>11.3f}"
            f"{interval(c):>26}{c['ece']:>7.3f}{fitted:>8.3f}{covers:>6}/{n_sets}"
        )


def interval(f: dict[str, Any]) -> str:
    return f"{f['accuracy']:.3f} [{f['interval'][0]:.3f}, {f['interval'][1]:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--min-overlap", type=int, default=3)
    parser.add_argument("--confidence", type=float, default=0.99)
    parser.add_argument("--refit-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--floors", default="1,3", help="min_human_answers values to replay (the first: per-set table)")
    parser.add_argument("--quick", action="store_true", help=f"the model of level {LEVELS[1]} only")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    started = time.perf_counter()
    rule = Rule(args.min_overlap, args.confidence, args.refit_share)
    floors = tuple(int(floor) for floor in args.floors.split(","))
    sweep = Sweep((LEVELS[1],) if args.quick else LEVELS, floors, args.seed)
    folders = sorted(path for path in args.datasets.iterdir() if (path / "answers.csv").is_file())
    sets = [data for data in map(Dataset.load, folders) if median_overlap(data) >= 5]
    pools: Pooled = {}
    rows = [bench_dataset(data, i, rule, sweep, pools) for i, data in enumerate(sets)]
    rng = np.random.default_rng([args.seed, len(sets)])
    report: dict[str, Any] = {"rule": rule.__dict__, **sweep.__dict__}
    report["summary"] = summarise(rows, sweep)
    report["models"] = {level: pooled_report(level, pool, rng) for level, pool in pools.items()}
    report["datasets"] = rows
    print_table(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(f"\n{report['seconds']} s")
    emit(report, args.json)


if __name__ == "__main__":
    main()
