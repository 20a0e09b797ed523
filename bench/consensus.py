"""Consensus benchmark: our Dawid-Skene and majority vote against crowd-kit 1.4.2, in one run.

    .venv/bin/python bench/consensus.py [--quick] [--json bench/results/consensus.json]

For every dataset under ``../shared/datasets`` (header ``task,worker,label``
and ``task,label``): accuracy over gold tasks and fit time of our DS (default
settings, one setting for every set) and MV, and of crowd-kit's
``DawidSkene(n_iter=100)`` and ``MajorityVote``; the time ratio; the
accuracy with 10% of the gold clamped, on the other 90%. Then, on a
synthetic set drawn from a Dawid-Skene model (1M answers, 100k tasks, 2k
workers, 4 classes; 100k answers with ``--quick``): the time of one EM
iteration against crowd-kit's, peak memory of a fit (measured in a
subprocess), and the time of one online step. Prints a table, then JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import timeit
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report import emit

from crowd.consensus.dawid_skene import (
    AnswerLayout,
    DawidSkene,
    Gold,
    em_step,
    majority_posteriors,
    soft_confusion_counts,
)
from crowd.consensus.encoding import CodedAnswers, answer_arrays, encode_answers, encode_gold
from crowd.consensus.majority import MajorityVote
from crowd.consensus.online import OnlineModel, decide_overlap

DATASETS = Path(os.environ.get("CROWD_DATASETS") or Path(__file__).resolve().parents[2] / "shared" / "datasets")
TARGETS = {"max_points_below_crowdkit_ds": 1.0, "mean_accuracy": 0.862, "speedup": 20.0, "iteration_ms": 30.0}
TARGETS |= {"peak_memory_mb": 400.0}


@dataclass(frozen=True)
class Dataset:
    name: str
    rows: list[tuple[str, str, str]]
    coded: CodedAnswers
    gold: dict[int, int]

    @classmethod
    def load(cls, folder: Path) -> Dataset:
        rows = [(r["task"], r["worker"], r["label"]) for r in read_csv(folder / "answers.csv")]
        gold_labels = {r["task"]: r["label"] for r in read_csv(folder / "gold.csv")}
        coded = encode_answers(rows, classes=sorted({row[2] for row in rows} | set(gold_labels.values())))
        return cls(folder.name, rows, coded, encode_gold(gold_labels, coded.codebook))

    def accuracy(self, predicted: np.ndarray, tasks: list[int] | None = None) -> float:
        scored = list(self.gold) if tasks is None else tasks
        return float(np.mean([predicted[task] == self.gold[task] for task in scored]))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
        book = self.coded.codebook
        return self.coded.tasks, self.coded.workers, self.coded.labels, book.n_tasks, book.n_workers, book.n_classes


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def median_seconds(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- real datasets ---------------------------------------------------------------------------


def bench_dataset(data: Dataset, repeat: int, peer_repeat: int) -> dict[str, Any]:
    ours = DawidSkene().fit(*data.arrays())
    frame = crowdkit_frame(data.rows)
    their_ds, their_mv = crowdkit_predictions(data, frame)
    ds_seconds = median_seconds(lambda: DawidSkene().fit(*data.arrays()), repeat)
    their_seconds = median_seconds(lambda: crowdkit_fit(frame), peer_repeat)
    encode_seconds = median_seconds(lambda: encode_answers(data.rows), 1)
    return {
        "dataset": data.name,
        "answers": len(data.rows),
        "gold_tasks": len(data.gold),
        "ds": data.accuracy(ours.predict()),
        "mv": data.accuracy(MajorityVote().fit(*data.arrays()).predict()),
        "crowdkit_ds": their_ds,
        "crowdkit_mv": their_mv,
        "ds_iterations": ours.n_iter_,
        "ds_seconds": ds_seconds,
        "encode_seconds": encode_seconds,
        "crowdkit_ds_seconds": their_seconds,
        "speedup": their_seconds / ds_seconds,
        "speedup_with_encoding": their_seconds / (ds_seconds + encode_seconds),
        **gold_experiment(data),
    }


def gold_experiment(data: Dataset, share: float = 0.1, seed: int = 0) -> dict[str, float]:
    """Accuracy on 90% of the gold tasks, with the other 10% clamped as known vs not."""
    rng = np.random.default_rng(seed)
    gold_tasks = np.array(sorted(data.gold))
    known = set(rng.choice(gold_tasks, max(1, round(share * len(gold_tasks))), replace=False).tolist())
    scored = [task for task in gold_tasks.tolist() if task not in known]
    clamped = DawidSkene().fit(*data.arrays(), gold={task: data.gold[task] for task in known})
    return {
        "ds_on_90": data.accuracy(DawidSkene().fit(*data.arrays()).predict(), scored),
        "ds_10_gold_on_90": data.accuracy(clamped.predict(), scored),
    }


def crowdkit_frame(rows: list[tuple[str, str, str]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def crowdkit_fit(frame: Any, n_iter: int = 100, tol: float | None = None) -> Any:
    from crowdkit.aggregation import DawidSkene as TheirDawidSkene

    model = TheirDawidSkene(n_iter=n_iter) if tol is None else TheirDawidSkene(n_iter=n_iter, tol=tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crowd-kit 1.4.2 under pandas 3 warns on every call
        return model.fit(frame)


def crowdkit_predictions(data: Dataset, frame: Any) -> tuple[float, float]:
    from crowdkit.aggregation import MajorityVote as TheirMajorityVote

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictions = (crowdkit_fit(frame).labels_, TheirMajorityVote().fit_predict(frame))
    book = data.coded.codebook
    accuracies = []
    for labels in predictions:
        by_task = labels.to_dict()
        accuracies.append(float(np.mean([by_task[book.task_ids[t]] == book.classes[k] for t, k in data.gold.items()])))
    return accuracies[0], accuracies[1]


# --- synthetic scale -------------------------------------------------------------------------


def synthetic(n_answers: int, n_tasks: int, n_workers: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Answers drawn from a Dawid-Skene model, generated in chunks to keep memory low."""
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.5, 0.95, n_workers)
    errors = rng.dirichlet(np.ones(n_classes - 1), (n_workers, n_classes)) * (1 - accuracy)[:, None, None]
    confusions = np.empty((n_workers, n_classes, n_classes))
    for k in range(n_classes):
        confusions[:, k, k] = accuracy
        confusions[:, k, np.arange(n_classes) != k] = errors[:, k]
    cumulative = np.cumsum(confusions, axis=2)
    truth = rng.choice(n_classes, n_tasks, p=rng.dirichlet(np.full(n_classes, 5.0)))
    tasks = np.sort(rng.integers(0, n_tasks, n_answers))
    workers = rng.integers(0, n_workers, n_answers)
    labels = np.empty(n_answers, dtype=np.intp)
    for start in range(0, n_answers, 100_000):
        part = slice(start, start + 100_000)
        rows = cumulative[workers[part], truth[tasks[part]]]
        labels[part] = np.minimum((rng.random((len(rows), 1)) > rows).sum(axis=1), n_classes - 1)
    return tasks, workers, labels, truth


def bench_synthetic(size: tuple[int, int, int, int], repeat: int) -> dict[str, Any]:
    tasks, workers, labels, truth = synthetic(*size)
    answers = answer_arrays(tasks, workers, labels, *size[1:])
    layout_seconds = median_seconds(lambda: AnswerLayout.of(answers), 1)
    layout, gold = AnswerLayout.of(answers), Gold.from_mapping(None, size[1], size[3])
    start = majority_posteriors(answers, gold)
    prior = DawidSkene().smoothing.prior_for(soft_confusion_counts(layout, start))
    iteration = median_seconds(lambda: em_step(layout, start, gold, prior), repeat)
    model = DawidSkene()
    fit_seconds = median_seconds(lambda: model.fit(tasks, workers, labels, *size[1:]), 1)
    their_iteration = crowdkit_iteration_seconds(tasks, workers, labels)
    return {
        "answers": size[0],
        "tasks": size[1],
        "workers": size[2],
        "classes": size[3],
        "iteration_ms": iteration * 1e3,
        "crowdkit_iteration_ms": their_iteration * 1e3,
        "iteration_speedup": their_iteration / iteration,
        "layout_seconds": layout_seconds,
        "fit_seconds": fit_seconds,
        "fit_iterations": model.n_iter_,
        "accuracy": float(np.mean(model.predict() == truth)),
        **memory_probe(size),
        **online_step_timing(model),
    }


def crowdkit_iteration_seconds(tasks: np.ndarray, workers: np.ndarray, labels: np.ndarray) -> float:
    """crowd-kit's time per EM iteration: (fit with 3 iterations - fit with 1) / 2, no early stop."""
    import pandas as pd

    frame = pd.DataFrame({"task": tasks, "worker": workers, "label": labels})
    one = median_seconds(lambda: crowdkit_fit(frame, n_iter=1, tol=-1e300), 1)
    three = median_seconds(lambda: crowdkit_fit(frame, n_iter=3, tol=-1e300), 1)
    return (three - one) / 2


def memory_probe(size: tuple[int, int, int, int]) -> dict[str, float]:
    """Peak memory of a full fit, measured in a fresh interpreter so nothing else counts."""
    argv = [sys.executable, __file__, "--memory-probe", *map(str, size)]
    report: dict[str, float] = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    return report


def run_memory_probe(size: tuple[int, int, int, int]) -> None:
    tasks, workers, labels, _ = synthetic(*size)
    inputs_mb = (tasks.nbytes + workers.nbytes + labels.nbytes) / 2**20
    tracemalloc.start()
    DawidSkene().fit(tasks, workers, labels, *size[1:])
    fit_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(json.dumps({"input_mb": inputs_mb, "fit_peak_mb": fit_peak, "process_peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` (Linux), else ``ru_maxrss``.

    ``ru_maxrss`` survives ``exec``, so in a child it may report the parent's
    size at fork; ``VmHWM`` belongs to the new address space.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # kilobytes on Linux


def online_step_timing(model: DawidSkene) -> dict[str, float]:
    online = OnlineModel.of(model.params_)
    workers, labels = np.array([3, 17, 256, 1024, 1999]), np.array([0, 1, 0, 0, 2])
    number = 20_000
    step = timeit.timeit(lambda: online.posterior(workers, labels), number=number) / number
    posterior = online.posterior(workers, labels)
    decision = timeit.timeit(lambda: decide_overlap(posterior, 5, 3, 7, 0.95, 5), number=number) / number
    return {"online_step_us": step * 1e6, "overlap_decision_us": decision * 1e6}


# --- report ----------------------------------------------------------------------------------


def summarise(rows: list[dict[str, Any]], scale: dict[str, Any]) -> dict[str, Any]:
    mean = {key: float(np.mean([row[key] for row in rows])) for key in ("ds", "mv", "crowdkit_ds", "crowdkit_mv")}
    better_peer = float(np.mean([max(row["crowdkit_ds"], row["crowdkit_mv"]) for row in rows]))
    worst_gap = max((row["crowdkit_ds"] - row["ds"]) * 100 for row in rows)
    checks = {
        "ds_within_1_point_of_crowdkit_ds_everywhere": worst_gap <= TARGETS["max_points_below_crowdkit_ds"],
        "mean_ds_at_least_0.862": mean["ds"] >= TARGETS["mean_accuracy"],
        "mean_ds_at_least_mean_of_better_crowdkit": mean["ds"] >= better_peer,
        "fit_20x_faster_everywhere": min(row["speedup"] for row in rows) >= TARGETS["speedup"],
        "iteration_within_30_ms": scale["iteration_ms"] <= TARGETS["iteration_ms"],
        "peak_memory_under_400_mb": scale["process_peak_rss_mb"] < TARGETS["peak_memory_mb"],
    }
    return {"mean": mean, "mean_of_better_crowdkit": better_peer, "worst_points_below_crowdkit_ds": worst_gap} | {
        "checks": checks
    }


def print_table(rows: list[dict[str, Any]], scale: dict[str, Any], summary: dict[str, Any]) -> None:
    header = f"{'dataset':<17}{'DS':>7}{'MV':>7}{'ck DS':>7}{'ck MV':>7}{'it':>4}{'DS ms':>8}{'ck ms':>8}{'×':>6}"
    print(header + f"{'90%':>7}{'+10%g':>7}")
    for r in rows:
        times = f"{r['ds_iterations']:>4}{r['ds_seconds'] * 1e3:>8.2f}{r['crowdkit_ds_seconds'] * 1e3:>8.1f}"
        accuracies = f"{r['ds']:>7.3f}{r['mv']:>7.3f}{r['crowdkit_ds']:>7.3f}{r['crowdkit_mv']:>7.3f}"
        print(
            f"{r['dataset']:<17}{accuracies}{times}{r['speedup']:>6.0f}{r['ds_on_90']:>7.3f}{r['ds_10_gold_on_90']:>7.3f}"
        )
    m = summary["mean"]
    print(f"{'mean':<17}{m['ds']:>7.3f}{m['mv']:>7.3f}{m['crowdkit_ds']:>7.3f}{m['crowdkit_mv']:>7.3f}")
    print(f"mean of the better crowd-kit method per set: {summary['mean_of_better_crowdkit']:.3f}")
    print(f"worst gap below crowd-kit DS: {summary['worst_points_below_crowdkit_ds']:.2f} points")
    print(
        f"\nsynthetic {scale['answers']:,} answers, {scale['tasks']:,} tasks, {scale['workers']:,} workers, "
        f"{scale['classes']} classes\n"
        f"  one EM iteration {scale['iteration_ms']:.1f} ms, crowd-kit {scale['crowdkit_iteration_ms']:.0f} ms "
        f"(×{scale['iteration_speedup']:.0f})\n"
        f"  full fit {scale['fit_seconds']:.2f} s ({scale['fit_iterations']} iterations, layout "
        f"{scale['layout_seconds']:.2f} s), accuracy {scale['accuracy']:.3f}\n"
        f"  memory: inputs {scale['input_mb']:.0f} MB, fit peak {scale['fit_peak_mb']:.0f} MB (tracemalloc), "
        f"process peak RSS {scale['process_peak_rss_mb']:.0f} MB\n"
        f"  online step {scale['online_step_us']:.1f} µs, overlap decision {scale['overlap_decision_us']:.1f} µs"
    )
    print("\ntargets:")
    for name, met in summary["checks"].items():
        print(f"  {'met    ' if met else 'NOT MET'}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 100k-answer synthetic set")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    parser.add_argument("--memory-probe", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        run_memory_probe(tuple(args.memory_probe))
        return
    repeat, peer_repeat = (3, 1) if args.quick else (7, 3)
    folders = sorted(path for path in args.datasets.iterdir() if (path / "answers.csv").is_file())
    rows = [bench_dataset(Dataset.load(folder), repeat, peer_repeat) for folder in folders]
    size = (100_000, 10_000, 2_000, 4) if args.quick else (1_000_000, 100_000, 2_000, 4)
    scale = bench_synthetic(size, repeat)
    summary = summarise(rows, scale)
    print_table(rows, scale, summary)
    report = {"datasets": rows, "synthetic": scale, "summary": summary, "targets": TARGETS}
    emit(report, args.json)


if __name__ == "__main__":
    main()
