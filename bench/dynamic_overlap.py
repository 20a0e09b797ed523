"""Dynamic overlap replay: how many answers does the dynamic overlap rule save, at what accuracy?

    .venv/bin/python bench/dynamic_overlap.py [--min-overlap 1] [--confidence 0.99] [--evidence-half 30]
        [--refit-share 0.05] [--orders N]

On every dataset with at least 5 answers per task (median), the answers are
revealed as a server would receive them: round by round, each open task gets
its next answer in file order. After each answer the task's posterior is the
online Dawid-Skene step with the worker models of the last refit, and the
server's dynamic overlap rule (``crowd.inference.policy.settle``) decides
whether the task is complete (``max_overlap`` is the number of answers the
dataset has for it). With ``--evidence-half H`` (the project setting
``evidence_half``), early completion also needs the posterior with each
answer weighted ``n / (n + H)``, ``n`` the answers its worker has given so
far, to reach the confidence target. Worker models are refitted
(warm start) every ``refit-share`` of the dataset's answers, from revealed
answers only: nothing is learnt from an answer before it is revealed. At the
end, one more refit on everything revealed gives the final labels.

Reported per set: the share of answers used, the accuracy of the final refit
and of the labels at completion, against Dawid-Skene on all answers; then,
in the same run, the same figures for the earlier rule, the plain posterior
with at least 3 answers (``--baseline-min-overlap``, evidence half 0). File
order is one order among many, and not a typical one (bluebirds, for one, is
grouped by worker, so each round is one worker's answers on every task):
``--orders N`` also replays each set with every task's answers in ``N``
seeded random orders and reports the mean share and accuracy change.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consensus import DATASETS, Dataset
from report import emit

from crowd.consensus.dawid_skene import DawidSkene, DSParams
from crowd.consensus.online import EVIDENCE_HALF, OnlineModel, evidence_weights
from crowd.inference.policy import settle


@dataclass(frozen=True)
class Rule:
    min_overlap: int
    confidence_target: float
    refit_share: float
    evidence_half: float


@dataclass
class Replay:
    """The state of a replay: what has been revealed, the current worker models, open tasks."""

    data: Dataset
    rule: Rule
    revealed: list[int] = field(default_factory=list)
    worker_answers: dict[int, int] = field(default_factory=dict)  # answers revealed so far, per worker
    params: DSParams | None = None
    online: OnlineModel | None = None
    labels_at_completion: dict[int, int] = field(default_factory=dict)

    def refit(self) -> DawidSkene:
        """Refit worker models on the revealed answers only, warm-started from the last fit."""
        chosen = np.array(self.revealed, dtype=np.intp)
        tasks, workers, labels, n_tasks, n_workers, n_classes = self.data.arrays()
        model = DawidSkene().fit(
            tasks[chosen], workers[chosen], labels[chosen], n_tasks, n_workers, n_classes, init=self.params
        )
        self.params, self.online = model.params_, OnlineModel.of(model.params_)
        return model


def answers_by_task(data: Dataset, seed: int | None = None) -> list[list[int]]:
    """Each task's answer indices, in file order, or shuffled per task by a seeded generator."""
    order = np.argsort(data.coded.tasks, kind="stable")
    bounds = np.searchsorted(data.coded.tasks[order], np.arange(data.coded.codebook.n_tasks + 1))
    queues = [order[a:b] for a, b in pairwise(bounds)]
    if seed is not None:
        rng = np.random.default_rng(seed)
        queues = [rng.permutation(queue) for queue in queues]
    return [queue.tolist() for queue in queues]


def replay(data: Dataset, rule: Rule, seed: int | None = None) -> Replay:
    state = Replay(data, rule)
    state.refit()
    queues = answers_by_task(data, seed)
    refit_every = max(1, round(rule.refit_share * len(data.rows)))
    open_tasks = [task for task, queue in enumerate(queues) if queue]
    for depth in range(max(map(len, queues), default=0)):
        still_open = []
        for task in open_tasks:
            answer = queues[task][depth]
            state.revealed.append(answer)
            worker = int(data.coded.workers[answer])
            state.worker_answers[worker] = state.worker_answers.get(worker, 0) + 1
            if len(state.revealed) % refit_every == 0:
                state.refit()
            if not is_complete(state, task, queues[task][: depth + 1], len(queues[task])):
                still_open.append(task)
        open_tasks = still_open
    return state


def is_complete(state: Replay, task: int, seen: list[int], available: int) -> bool:
    assert state.online is not None
    coded = state.data.coded
    rule = state.rule
    workers, labels = coded.workers[seen], coded.labels[seen]
    posterior = state.online.posterior(workers, labels)
    evidence = None
    if rule.evidence_half:
        weights = evidence_weights([state.worker_answers[w] for w in workers.tolist()], rule.evidence_half)
        evidence = state.online.posterior(workers, labels, weights)
    outcome = settle(  # the server's rule
        posterior,
        votes=len(seen),
        humans=len(seen),
        answers=len(seen),
        target_overlap=len(seen),
        min_overlap=min(rule.min_overlap, available),  # a task with fewer answers completes when they run out
        max_overlap=available,
        min_humans=1,
        confidence=rule.confidence_target,
        evidence=evidence,
    )
    if outcome.complete:
        state.labels_at_completion[task] = outcome.label
    return outcome.complete


def bench_dataset(data: Dataset, rule: Rule, orders: int = 0) -> dict[str, Any]:
    state = replay(data, rule)
    at_completion = np.array([state.labels_at_completion[t] for t in range(data.coded.codebook.n_tasks)])
    full = data.accuracy(DawidSkene().fit(*data.arrays()).predict())
    row = {
        "dataset": data.name,
        "answers": len(data.rows),
        "answers_used": len(state.revealed),
        "share_used": len(state.revealed) / len(data.rows),
        "accuracy_all_answers": full,
        "accuracy_final_refit": data.accuracy(state.refit().predict()),
        "accuracy_at_completion": data.accuracy(at_completion),
    }
    if orders:
        shuffled = [replay(data, rule, seed) for seed in range(orders)]
        row["shuffled_share_used"] = float(np.mean([len(s.revealed) / len(data.rows) for s in shuffled]))
        row["shuffled_accuracy_final_refit"] = float(np.mean([data.accuracy(s.refit().predict()) for s in shuffled]))
    return row


def median_overlap(data: Dataset) -> float:
    return float(np.median(np.bincount(data.coded.tasks)))


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Answers used over all sets, mean accuracies and their difference in points (and for random orders)."""
    answers = sum(r["answers"] for r in rows)
    summary = {
        "share_used": sum(r["answers_used"] for r in rows) / answers,
        "mean_share_used_per_set": float(np.mean([r["share_used"] for r in rows])),
        "accuracy_all_answers": float(np.mean([r["accuracy_all_answers"] for r in rows])),
        "accuracy_final_refit": float(np.mean([r["accuracy_final_refit"] for r in rows])),
        "accuracy_at_completion": float(np.mean([r["accuracy_at_completion"] for r in rows])),
    }
    summary["points"] = (summary["accuracy_final_refit"] - summary["accuracy_all_answers"]) * 100
    if "shuffled_share_used" in rows[0]:
        summary["shuffled_share_used"] = sum(r["shuffled_share_used"] * r["answers"] for r in rows) / answers
        deltas = [r["shuffled_accuracy_final_refit"] - r["accuracy_all_answers"] for r in rows]
        summary["shuffled_points"] = float(np.mean(deltas)) * 100
    return summary


def describe(rule: Rule) -> str:
    weighing = f"answers weighted n/(n+{rule.evidence_half:g})" if rule.evidence_half else "answers unweighted"
    return (
        f"min_overlap {rule.min_overlap}, confidence_target {rule.confidence_target}, {weighing}, "
        f"refit every {rule.refit_share:.0%} of the answers"
    )


def print_table(rows: list[dict[str, Any]], rule: Rule) -> None:
    print(describe(rule) + "\n")
    print(f"{'dataset':<17}{'answers':>9}{'used':>8}{'share':>7}{'all':>7}{'dynamic':>9}{'at done':>9}{'Δ pts':>7}")
    for r in rows:
        delta = (r["accuracy_final_refit"] - r["accuracy_all_answers"]) * 100
        print(
            f"{r['dataset']:<17}{r['answers']:>9,}{r['answers_used']:>8,}{r['share_used']:>7.0%}"
            f"{r['accuracy_all_answers']:>7.3f}{r['accuracy_final_refit']:>9.3f}{r['accuracy_at_completion']:>9.3f}"
            f"{delta:>+7.1f}"
        )
    total = summarise(rows)
    print(
        f"{'total / mean':<17}{'':>9}{'':>8}{total['share_used']:>7.0%}{total['accuracy_all_answers']:>7.3f}"
        f"{total['accuracy_final_refit']:>9.3f}{total['accuracy_at_completion']:>9.3f}{total['points']:>+7.2f}"
    )
    print(f"mean share of answers used per set: {total['mean_share_used_per_set']:.0%}")


def print_summary(label: str, total: dict[str, float]) -> None:
    line = (
        f"{label:<12}{total['share_used']:>7.1%} of the answers, {total['points']:>+6.2f} points"
        f" (labels at completion {total['accuracy_at_completion']:.3f})"
    )
    if "shuffled_share_used" in total:
        line += f";  random orders: {total['shuffled_share_used']:>6.1%}, {total['shuffled_points']:>+6.2f} points"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--min-overlap", type=int, default=1)
    parser.add_argument("--confidence", type=float, default=0.99)
    parser.add_argument("--evidence-half", type=float, default=EVIDENCE_HALF, help="0: every answer counts in full")
    parser.add_argument("--baseline-min-overlap", type=int, default=3)
    parser.add_argument("--refit-share", type=float, default=0.05)
    parser.add_argument("--orders", type=int, default=0, help="also replay N seeded random answer orders")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    rule = Rule(args.min_overlap, args.confidence, args.refit_share, args.evidence_half)
    baseline = Rule(args.baseline_min_overlap, args.confidence, args.refit_share, 0.0)
    folders = sorted(path for path in args.datasets.iterdir() if (path / "answers.csv").is_file())
    sets = [data for data in map(Dataset.load, folders) if median_overlap(data) >= 5]
    rows = [bench_dataset(data, rule, args.orders) for data in sets]
    baseline_rows = [bench_dataset(data, baseline, args.orders) for data in sets]
    print_table(rows, rule)
    total, baseline_total = summarise(rows), summarise(baseline_rows)
    print(f"\nagainst all answers (mean accuracy {total['accuracy_all_answers']:.3f}), in the same run:")
    print_summary("this rule", total)
    print_summary("baseline", baseline_total)
    print(f"  (baseline: {describe(baseline)})")
    report = {
        "rule": rule.__dict__,
        "datasets": rows,
        "summary": total,
        "baseline": {"rule": baseline.__dict__, "datasets": baseline_rows, "summary": baseline_total},
    }
    emit(report, args.json)


if __name__ == "__main__":
    main()
