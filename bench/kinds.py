"""Answer-kind consensus benchmark: ours against crowd-kit 1.4.2 in one run, synthetic crowds, routing.

    .venv/bin/python bench/kinds.py [--quick] [--json bench/results/kinds.json]

For every dataset of kind multi-label, rating or pairwise under
``../shared/datasets-kinds`` (read in place): the metrics of that dataset's
PEERS.txt for our model (one default per kind) and for crowd-kit's
aggregators, computed here with the same functions, and every fit's time.
Pairwise sets are also scored with each answer's sides swapped by a seeded
coin: ``passage_readability`` lists every pair in id order and its harder
passage is always the right one, so any position term there reads the truth
off the layout (see docs/consensus-kinds.md). Then a synthetic crowd per kind
with known truth (rank correlation of fitted reliability with true skill),
and the ``routing=informative`` simulation against random pairs at equal
spend. Prints a table, then JSON.

The benchmark is a list of :class:`Section`; another module adds its own by
defining ``SECTIONS`` (``bench/kinds_open.py``, for text, spans and boxes, is
picked up when present).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kinds_synthetic import (
    multi_crowd,
    multi_recovery,
    pairwise_answers,
    pairwise_recovery,
    rating_crowd,
    rating_recovery,
    routing_run,
)
from report import emit

from crowd.aggregate_kinds import read_multi, read_pairwise, read_rating
from crowd.consensus.comparisons import LEFT, RIGHT, Comparisons
from crowd.consensus.distances import jaccard, kendall_tau_b, spearman_rho
from crowd.consensus.multilabel import MultiLabelModel
from crowd.consensus.ordinal import RatingModel
from crowd.consensus.pairwise import fit_pairwise

DATASETS = Path(
    os.environ.get("CROWD_DATASETS_KINDS") or Path(__file__).resolve().parents[2] / "shared" / "datasets-kinds"
)
SPEEDUP_TARGET = 10.0
"""Our pairwise fit must be at least this many times faster than crowd-kit's NoisyBT."""


@dataclass(frozen=True)
class Options:
    datasets: Path
    quick: bool


@dataclass
class SectionReport:
    """What a section prints (``lines``), reports (``rows``) and checks (``checks``: name -> met)."""

    lines: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    name: str
    run: Callable[[Options], SectionReport]


def timed(call: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """The call's result and its median wall time over ``repeat`` runs."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def datasets_of(options: Options, column: str) -> list[Path]:
    """Dataset folders whose answers.csv header has ``column`` (labels, rating or winner)."""
    found = []
    for folder in sorted(options.datasets.iterdir()):
        answers = folder / "answers.csv"
        if answers.is_file():
            with answers.open(encoding="utf-8") as stream:
                if column in stream.readline().strip().split(","):
                    found.append(folder)
    return found


def quiet_crowdkit(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crowd-kit 1.4.2 under pandas 3 warns on every call
        return call()


def compare(
    report: SectionReport, dataset: str, metric: str, ours: float, peers: dict[str, float], higher: bool
) -> None:
    """Record a metric for ours and each peer; check ours is at least the best peer's."""
    best = max(peers.values()) if higher else min(peers.values())
    margin = (ours - best) if higher else (best - ours)
    report.rows.append({"dataset": dataset, "metric": metric, "ours": ours, **peers, "margin_over_best_peer": margin})
    report.checks[f"{dataset}: {metric} at least crowd-kit's best"] = margin >= -1e-12
    peer_text = "  ".join(f"{name} {value:.4f}" for name, value in peers.items())
    report.lines.append(f"  {dataset:<38}{metric:<10} ours {ours:.4f}  {peer_text}  (margin {margin:+.4f})")


# --- multi-label -----------------------------------------------------------------------------


def multi_section(options: Options) -> SectionReport:
    report = SectionReport(lines=["multi-label (exact set match, mean Jaccard; every task has gold)"])
    for folder in datasets_of(options, "labels"):
        data = read_multi(str(folder / "answers.csv"), str(folder / "gold.csv"))
        truth = {data.task_ids[t]: frozenset(np.array(data.labels)[g]) for t, g in data.gold.items()}
        model, seconds = timed(lambda d=data: fit_multi(d), 5)
        ours = {data.task_ids[i]: frozenset(np.array(data.labels)[row]) for i, row in enumerate(model.predict())}
        theirs, their_seconds = crowdkit_multi(folder)
        scores = {"ours": set_scores(ours, truth)} | {name: set_scores(pred, truth) for name, pred in theirs.items()}
        for k, metric in enumerate(("exact", "jaccard")):
            peers = {name: value[k] for name, value in scores.items() if name != "ours"}
            compare(report, folder.name, metric, scores["ours"][k], peers, higher=True)
        report.lines.append(
            f"  {'':<38}fit s     ours {seconds:.4f}  "
            + "  ".join(f"{name} {value:.3f}" for name, value in their_seconds.items())
        )
        report.rows.append({"dataset": folder.name, "metric": "fit_seconds", "ours": seconds, **their_seconds})
        report.rows.append({"dataset": folder.name, "metric": "gold_clamped_20pct"} | gold_experiment_multi(data))
    return report


def fit_multi(data: Any) -> MultiLabelModel:
    return MultiLabelModel().fit(data.tasks, data.workers, data.marks, len(data.task_ids), len(data.worker_ids))


def set_scores(predicted: dict[Any, frozenset[Any]], truth: dict[Any, frozenset[Any]]) -> tuple[float, float]:
    tasks = sorted(truth)
    exact = float(np.mean([predicted[t] == truth[t] for t in tasks]))
    return exact, float(np.mean([jaccard(predicted[t], truth[t]) for t in tasks]))


def crowdkit_multi(folder: Path) -> tuple[dict[str, dict[Any, frozenset[Any]]], dict[str, float]]:
    import pandas as pd

    answers = pd.read_csv(folder / "answers.csv", keep_default_na=False, dtype=str)
    frame = answers.assign(label=answers["labels"].map(lambda s: sorted(x for x in s.split("|") if x)))
    return crowdkit_label_sets(frame[["task", "worker", "label"]])


def crowdkit_label_sets(frame: Any) -> tuple[dict[str, dict[Any, frozenset[Any]]], dict[str, float]]:
    """BinaryRelevance over MV and DS on a ``task, worker, label`` frame whose labels are lists."""
    from crowdkit.aggregation import BinaryRelevance, DawidSkene, MajorityVote

    predictions, seconds = {}, {}
    for name, base in (("BR(MV)", MajorityVote), ("BR(DS)", lambda: DawidSkene(n_iter=100))):
        model = BinaryRelevance(base_aggregator=base())
        labels, seconds[name] = timed(lambda m=model: quiet_crowdkit(lambda: m.fit_predict(frame)))
        predictions[name] = {task: frozenset(value) for task, value in labels.items()}
    return predictions, seconds


def gold_experiment_multi(data: Any, share: float = 0.2, seeds: int = 10) -> dict[str, float]:
    """Ours with 20% of the gold clamped, scored on the rest, against majority vote on the same rest (mean of seeds)."""
    n_tasks, n_workers = len(data.task_ids), len(data.worker_ids)
    votes = np.zeros((n_tasks, len(data.labels)))
    np.add.at(votes, data.tasks, data.marks)
    majority = votes / np.bincount(data.tasks, minlength=n_tasks)[:, None] > 0.5
    ours, theirs = [], []
    for seed in range(seeds):
        known = np.random.default_rng(seed).choice(sorted(data.gold), round(share * len(data.gold)), replace=False)
        gold = {int(t): data.gold[int(t)] for t in known}
        model = MultiLabelModel().fit(data.tasks, data.workers, data.marks, n_tasks, n_workers, gold=gold)
        rest = [t for t in data.gold if t not in gold]
        truth = np.array([data.gold[t] for t in rest])
        ours.append(float(np.mean(np.all(model.predict()[rest] == truth, axis=1))))
        theirs.append(float(np.mean(np.all(majority[rest] == truth, axis=1))))
    return {"ours_exact": float(np.mean(ours)), "majority_exact": float(np.mean(theirs))}


# --- ratings ---------------------------------------------------------------------------------


def rating_section(options: Options) -> SectionReport:
    report = SectionReport(lines=["rating (accuracy = exact grade, MAE in grades, over gold tasks)"])
    for folder in datasets_of(options, "rating"):
        data = read_rating(str(folder / "answers.csv"), str(folder / "gold.csv"))
        model, seconds = timed(lambda d=data: fit_rating(d), 3)
        scale = np.array(data.scale)
        ours = dict(zip(data.task_ids, scale[model.predict()].tolist(), strict=True))
        truth = {data.task_ids[t]: float(scale[g]) for t, g in data.gold.items()}
        theirs, their_seconds = crowdkit_rating(folder)
        scores = {"ours": grade_scores(ours, truth)} | {n: grade_scores(p, truth) for n, p in theirs.items()}
        compare(
            report,
            folder.name,
            "accuracy",
            scores["ours"][0],
            {n: v[0] for n, v in scores.items() if n != "ours"},
            True,
        )
        compare(
            report, folder.name, "mae", scores["ours"][1], {n: v[1] for n, v in scores.items() if n != "ours"}, False
        )
        report.lines.append(
            f"  {'':<38}fit s     ours {seconds:.4f}  "
            + "  ".join(f"{name} {value:.3f}" for name, value in their_seconds.items())
        )
        report.rows.append({"dataset": folder.name, "metric": "fit_seconds", "ours": seconds, **their_seconds})
    return report


def fit_rating(data: Any) -> RatingModel:
    return RatingModel().fit(
        data.tasks, data.workers, data.grades, len(data.task_ids), len(data.worker_ids), len(data.scale)
    )


def grade_scores(predicted: dict[Any, float], truth: dict[Any, float]) -> tuple[float, float]:
    tasks = [t for t in sorted(truth) if t in predicted]
    errors = np.array([predicted[t] - truth[t] for t in tasks])
    return float(np.mean(errors == 0)), float(np.mean(np.abs(errors)))


def crowdkit_rating(folder: Path) -> tuple[dict[str, dict[Any, float]], dict[str, float]]:
    import pandas as pd

    answers = pd.read_csv(folder / "answers.csv", dtype={"task": str, "worker": str})
    return crowdkit_classes(answers.rename(columns={"rating": "label"})[["task", "worker", "label"]])


def crowdkit_classes(frame: Any) -> tuple[dict[str, dict[Any, float]], dict[str, float]]:
    """MajorityVote and DawidSkene (grades as unordered classes) on a ``task, worker, label`` frame."""
    from crowdkit.aggregation import DawidSkene, MajorityVote

    predictions, seconds = {}, {}
    for name, model in (("MV", MajorityVote()), ("DS", DawidSkene(n_iter=100))):
        labels, seconds[name] = timed(lambda m=model: quiet_crowdkit(lambda: m.fit_predict(frame)))
        predictions[name] = {task: float(value) for task, value in labels.items()}
    return predictions, seconds


# --- pairwise --------------------------------------------------------------------------------


def pairwise_section(options: Options) -> SectionReport:
    report = SectionReport(lines=["pairwise (Spearman rho, Kendall tau-b of item scores against the truth)"])
    for folder in datasets_of(options, "winner"):
        data = read_pairwise(str(folder / "answers.csv"))
        truth = read_truth(folder / "truth.csv", data.item_ids)
        for variant, comparisons in (("", data.comparisons), (" [sides shuffled]", shuffled_sides(data.comparisons))):
            name = folder.name + variant
            result, seconds = timed(lambda c=comparisons: fit_pairwise(c), 3)
            scores = result.params.scores[: len(data.item_ids)]
            theirs, their_seconds = crowdkit_pairwise(comparisons, data.item_ids)
            measured = {"ours": rank_scores(scores, truth)} | {n: rank_scores(s, truth) for n, s in theirs.items()}
            for k, metric in enumerate(("spearman", "kendall")):
                peers = {n: v[k] for n, v in measured.items() if n != "ours"}
                compare(report, name, metric, measured["ours"][k], peers, higher=True)
            speedup = their_seconds["NoisyBT"] / seconds
            report.lines.append(
                f"  {'':<38}fit s     ours {seconds:.3f}  "
                + "  ".join(f"{n} {v:.3f}" for n, v in their_seconds.items())
                + f"  (NoisyBT / ours = {speedup:.0f}x)"
            )
            report.rows.append(
                {
                    "dataset": name,
                    "metric": "fit_seconds",
                    "ours": seconds,
                    **their_seconds,
                    "speedup_vs_noisybt": speedup,
                }
            )
            report.checks[f"{name}: fit at least {SPEEDUP_TARGET:.0f}x faster than NoisyBT"] = speedup >= SPEEDUP_TARGET
            diagnostic = noisybt_continued(comparisons, data.item_ids, truth)
            report.rows.append({"dataset": name, "metric": "noisybt_objective"} | diagnostic)
            report.lines.append(
                f"  {'':<38}NoisyBT's own log-likelihood {diagnostic['log_likelihood_returned']:.1f} as returned "
                f"(rho {diagnostic['spearman_returned']:.4f}), {diagnostic['log_likelihood_continued']:.1f} when "
                f"optimised on (rho {diagnostic['spearman_continued']:.4f})"
            )
    return report


def read_truth(path: Path, item_ids: tuple[str, ...]) -> np.ndarray:
    import csv

    with path.open(encoding="utf-8") as stream:
        scores = {row["item"]: float(row["score"]) for row in csv.DictReader(stream)}
    return np.array([scores.get(item, np.nan) for item in item_ids])


def rank_scores(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    known = np.isfinite(truth)
    return spearman_rho(scores[known], truth[known]), kendall_tau_b(scores[known], truth[known])


def shuffled_sides(comparisons: Comparisons, seed: int = 0) -> Comparisons:
    """Each answer's left and right swapped by a seeded coin (its outcome follows the items)."""
    c = comparisons
    swap = np.random.default_rng(seed).random(len(c)) < 0.5
    outcomes = np.where(swap & (c.outcomes == LEFT), RIGHT, np.where(swap & (c.outcomes == RIGHT), LEFT, c.outcomes))
    return Comparisons.of(
        c.units,
        c.workers,
        np.where(swap, c.right, c.left),
        np.where(swap, c.left, c.right),
        outcomes,
        n_items=c.n_items,
        n_workers=c.n_workers,
    )


def crowdkit_pairwise(
    comparisons: Comparisons, item_ids: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    import pandas as pd
    from crowdkit.aggregation import BradleyTerry, NoisyBradleyTerry

    c = comparisons
    names = np.array(item_ids)
    winner = np.where(c.outcomes == LEFT, c.left, c.right)
    frame = pd.DataFrame(
        {"worker": c.workers.astype(str), "left": names[c.left], "right": names[c.right], "label": names[winner]}
    )
    scores, seconds = {}, {}
    for name, model in (("BT", BradleyTerry(n_iter=100)), ("NoisyBT", NoisyBradleyTerry(n_iter=100))):
        fitted, seconds[name] = timed(lambda m=model: quiet_crowdkit(lambda: m.fit_predict(frame)))
        scores[name] = fitted.reindex(list(item_ids)).to_numpy(dtype=np.float64)
        LAST_FITS[name] = model
    return scores, seconds


LAST_FITS: dict[str, Any] = {}
"""The crowd-kit models of the last :func:`crowdkit_pairwise` call (the NoisyBT diagnostic reads its solution)."""


def noisybt_continued(comparisons: Comparisons, item_ids: tuple[str, ...], truth: np.ndarray) -> dict[str, float]:
    """NoisyBT's own objective at its returned solution, and after L-BFGS continues from there to convergence.

    crowd-kit stops after ``n_iter`` L-BFGS steps; this asks whether its
    scores are the maximum of its model or an early stop. Same objective as
    crowd-kit's ``_compute_log_likelihood`` (vectorised), same variables.
    """
    from scipy.optimize import minimize
    from scipy.special import expit, logit

    model = LAST_FITS["NoisyBT"]
    c, workers = comparisons, np.array([str(w) for w in range(comparisons.n_workers)])
    s = logit(np.clip(model.scores_.reindex(list(item_ids)).to_numpy(dtype=np.float64), 1e-12, 1 - 1e-12))
    q = logit(np.clip(model.biases_.reindex(workers).to_numpy(dtype=np.float64), 1e-12, 1 - 1e-12))
    g = logit(np.clip(model.skills_.reindex(workers).to_numpy(dtype=np.float64), 1e-12, 1 - 1e-12))
    y = np.where(c.outcomes == LEFT, 1.0, -1.0)
    n_items, n_workers = len(s), len(q)

    def negative_log_likelihood(x: np.ndarray) -> tuple[float, np.ndarray]:
        scores, bias, skill = x[:n_items], x[n_items : n_items + n_workers], x[n_items + n_workers :]
        d = y * (scores[c.left] - scores[c.right])
        engaged, judged, guessed = expit(skill[c.workers]), expit(d), expit(y * bias[c.workers])
        mixture = engaged * judged + (1 - engaged) * guessed
        d_d = engaged * judged * (1 - judged) * y / mixture
        gradient = np.concatenate(
            [
                np.bincount(c.left, d_d, n_items) - np.bincount(c.right, d_d, n_items),
                np.bincount(c.workers, (1 - engaged) * guessed * (1 - guessed) * y / mixture, n_workers),
                np.bincount(c.workers, engaged * (1 - engaged) * (judged - guessed) / mixture, n_workers),
            ]
        )
        return -float(np.sum(np.log(mixture))), -gradient

    start = np.concatenate([s, q, g])
    continued = minimize(negative_log_likelihood, start, jac=True, method="L-BFGS-B", options={"maxiter": 5000})
    return {
        "log_likelihood_returned": -negative_log_likelihood(start)[0],
        "log_likelihood_continued": -float(continued.fun),
        "spearman_returned": rank_scores(s, truth)[0],
        "spearman_continued": rank_scores(continued.x[:n_items], truth)[0],
    }


# --- synthetic crowds and routing ------------------------------------------------------------


def synthetic_section(options: Options) -> SectionReport:
    seeds = range(3 if options.quick else 10)
    report = SectionReport(
        lines=[
            "synthetic crowds (mean ± sd over seeds): Spearman of fitted reliability with true "
            "skill; our consensus against crowd-kit's on the same answers"
        ]
    )
    for kind, recover, peers in (
        ("multi", multi_recovery, synthetic_multi_peers),
        ("rating", rating_recovery, synthetic_rating_peers),
        ("pairwise", pairwise_recovery, synthetic_pairwise_peers),
    ):
        runs = [recover(seed) | peers(seed) for seed in seeds]
        summary = {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}
        spread = float(np.std([run["skill_spearman"] for run in runs]))
        report.rows.append({"kind": kind, "seeds": len(runs)} | summary | {"skill_spearman_sd": spread})
        extras = "  ".join(f"{key} {value:.3f}" for key, value in summary.items() if key != "skill_spearman")
        report.lines.append(f"  {kind:<9} skill rho {summary['skill_spearman']:.3f} ± {spread:.3f}   {extras}")
        report.checks[f"synthetic {kind}: reliability tracks true skill (rho > 0.5)"] = summary["skill_spearman"] > 0.5
    return report


def synthetic_multi_peers(seed: int) -> dict[str, float]:
    import pandas as pd

    crowd = multi_crowd(seed)
    labels = [np.flatnonzero(row).tolist() for row in crowd["marks"]]
    frame = pd.DataFrame({"task": crowd["tasks"], "worker": crowd["workers"], "label": labels})
    predictions, _ = crowdkit_label_sets(frame)
    truth = [frozenset(np.flatnonzero(row).tolist()) for row in crowd["truth"]]
    return {
        f"exact_ck_{name}": float(np.mean([pred.get(t, frozenset()) == truth[t] for t in range(len(truth))]))
        for name, pred in predictions.items()
    }


def synthetic_rating_peers(seed: int) -> dict[str, float]:
    import pandas as pd

    crowd = rating_crowd(seed)
    frame = pd.DataFrame({"task": crowd["tasks"], "worker": crowd["workers"], "label": crowd["grades"]})
    predictions, _ = crowdkit_classes(frame)
    truth = crowd["truth"]
    return {
        f"accuracy_ck_{name}": float(np.mean([pred[t] == truth[t] for t in range(len(truth))]))
        for name, pred in predictions.items()
    }


def synthetic_pairwise_peers(seed: int) -> dict[str, float]:
    crowd, comparisons = pairwise_answers(seed)
    scores, _ = crowdkit_pairwise(comparisons, tuple(str(i) for i in range(comparisons.n_items)))
    return {
        f"score_spearman_ck_{name}": spearman_rho(np.nan_to_num(value), crowd.scores) for name, value in scores.items()
    }


def routing_section(options: Options) -> SectionReport:
    seeds = range(6 if options.quick else 30)
    report = SectionReport(
        lines=[
            "routing=informative vs random pairs, equal spend (40 items, 300 candidate pairs, "
            "400 answers; Kendall tau / Spearman of the final scores, mean over seeds)"
        ]
    )
    results = {
        policy: [routing_run(seed, policy == "informative") for seed in seeds] for policy in ("random", "informative")
    }
    for policy, runs in results.items():
        kendall, spearman = [r.kendall for r in runs], [r.spearman for r in runs]
        report.rows.append(
            {
                "policy": policy,
                "seeds": len(runs),
                "kendall": float(np.mean(kendall)),
                "kendall_sd": float(np.std(kendall)),
                "spearman": float(np.mean(spearman)),
            }
        )
        report.lines.append(
            f"  {policy:<12} tau {np.mean(kendall):.4f} ± {np.std(kendall):.4f}   rho {np.mean(spearman):.4f}"
        )
    paired = np.array([i.kendall - r.kendall for i, r in zip(results["informative"], results["random"], strict=True)])
    wins = int(np.sum(paired > 0))
    report.lines.append(
        f"  paired difference in tau {paired.mean():+.4f} (sd {paired.std():.4f}); informative ahead "
        f"in {wins} of {len(paired)} seeds"
    )
    report.rows.append(
        {
            "policy": "informative - random",
            "kendall_difference": float(paired.mean()),
            "kendall_difference_sd": float(paired.std()),
            "informative_ahead": wins,
            "seeds": len(paired),
        }
    )
    report.checks["routing: informative beats random at equal spend (mean paired tau > 0)"] = bool(paired.mean() > 0)
    return report


SECTIONS: list[Section] = [
    Section("multi", multi_section),
    Section("rating", rating_section),
    Section("pairwise", pairwise_section),
    Section("synthetic", synthetic_section),
    Section("routing", routing_section),
]


def all_sections() -> list[Section]:
    """Ours, then the open-ended kinds of ``bench/kinds_open.py`` (text,
    spans, boxes) as one more section."""
    return [*SECTIONS, Section("open", open_kinds_section)]


def open_kinds_section(options: Options) -> SectionReport:
    """``bench/kinds_open.py``'s three sections (CrowdSpeech against ROVER
    and HRRASA, synthetic spans and boxes), measured in this run."""
    kinds_open = importlib.import_module("kinds_open")
    measured = kinds_open.sections(options.datasets, options.quick)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        kinds_open.print_table(measured)
    return SectionReport(
        lines=printed.getvalue().rstrip("\n").splitlines(),
        rows=[{"section": name, **value} for name, value in measured.items()],
        checks=kinds_open.checks(measured),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer seeds in the synthetic and routing sections")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--only", nargs="*", help="run only the named sections")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    options = Options(args.datasets, args.quick)
    report: dict[str, Any] = {}
    for section in all_sections():
        if args.only and section.name not in args.only:
            continue
        result = section.run(options)
        print("\n".join(result.lines) + "\n", flush=True)
        report[section.name] = {"rows": result.rows, "checks": result.checks}
    print("targets:")
    for section in report.values():
        for name, met in section["checks"].items():
            print(f"  {'met    ' if met else 'NOT MET'}  {name}")
    emit(report, args.json)


if __name__ == "__main__":
    main()
