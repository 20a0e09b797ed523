"""Consensus benchmark: our default Dawid-Skene against crowd-kit 1.4.2's aggregators, in one run.

    .venv/bin/python bench/consensus.py [--quick] [--no-10m] [--no-slow-peers] [--json bench/results/consensus.json]

For every dataset under ``../shared/datasets`` (header ``task,worker,label``
and ``task,label``): accuracy over gold tasks of our DS (default settings,
one setting for every set) and MV; of crowd-kit's ``DawidSkene(n_iter=100)``,
``MajorityVote``, ``OneCoinDawidSkene`` and ``GLAD`` (defaults), measured
here; and the published EBCC, BWA and IBCC figures read from the datasets'
README. The gap of ours below the better of crowd-kit's MV and DS; fit times
and the ratio to crowd-kit's DS fit, without and with our encoding of the
rows (factorising the three string columns, as ``crowd aggregate`` does);
the accuracy with 10% of the gold clamped, on the other 90%.

Then, on a synthetic set drawn from a Dawid-Skene model (1M answers, 100k
tasks, 2k workers, 4 classes; 100k answers with ``--quick``): the time of one
EM iteration against crowd-kit's, whose fits are run with early stopping off
(``tol=0``) at two fixed iteration counts and differenced (no ratio is printed
from a time that is not positive); our full fit; peak memory of a fit
(measured in a subprocess); one online step. Last, the whole ``crowd aggregate``
process on that set written as a CSV file, against crowd-kit's whole process
(``pandas.read_csv`` + ``DawidSkene().fit_predict``), alternated in the same
run, wall time and peak memory of each process; and ``crowd aggregate`` alone
on 10M answers (1M tasks). Prints a table, then JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
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

from crowd.aggregate import encode_columns
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
CROWD = Path(sys.executable).with_name("crowd")
TARGETS = {
    "mean_accuracy": 0.863,
    "max_points_below_best_of_crowdkit_mv_ds": 1.0,
    "speedup": 20.0,
    "iteration_ms": 30.0,
    "fit_peak_memory_mb": 400.0,
    "end_to_end_speedup": 5.0,
    "end_to_end_peak_memory_mb": 1024.0,
}
PEERS = ("crowdkit_mv", "crowdkit_ds", "crowdkit_one_coin", "crowdkit_glad")
PUBLISHED = ("EBCC", "BWA", "IBCC")
ACCURACY_COLUMNS = ("ds", "ds_learned_strength", "crowdkit_mv", "crowdkit_ds", "crowdkit_one_coin", "crowdkit_glad")


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

    def string_columns(self) -> list[Any]:
        """The three columns as pyarrow strings: what ``crowd aggregate`` holds once it has read a file."""
        import pyarrow as pa

        return [pa.array([row[j] for row in self.rows], type=pa.string()) for j in range(3)]


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


def published_figures(readme: Path) -> dict[str, dict[str, float | None]]:
    """EBCC, BWA and IBCC per dataset from the datasets README's table of more peers (blank: no figure)."""
    figures: dict[str, dict[str, float | None]] = {}
    header: list[str] = []
    for line in readme.read_text(encoding="utf-8").splitlines() if readme.is_file() else []:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if "EBCC" in cells:
            header = cells
        elif header and len(cells) == len(header) and re.fullmatch(r"[\w.]+", cells[0]):
            figures[cells[0]] = {
                name: float(cells[header.index(name)]) if cells[header.index(name)] else None for name in PUBLISHED
            }
    return figures


# --- real datasets ---------------------------------------------------------------------------


def bench_dataset(
    data: Dataset, repeat: int, peer_repeat: int, published: dict[str, float | None], slow: bool
) -> dict[str, Any]:
    ours = DawidSkene().fit(*data.arrays())
    learned = DawidSkene(shrinkage=None).fit(*data.arrays())
    frame = crowdkit_frame(data.rows)
    peers, first_fit = crowdkit_accuracies(data, frame, slow)
    ds_seconds = median_seconds(lambda: DawidSkene().fit(*data.arrays()), repeat)
    their_seconds = statistics.median(
        [first_fit, *(median_seconds(lambda: crowdkit_fit(frame), 1) for _ in range(peer_repeat - 1))]
    )
    columns = data.string_columns()
    encode_seconds = median_seconds(lambda: encode_columns(*columns), repeat)
    return {
        "dataset": data.name,
        "answers": len(data.rows),
        "gold_tasks": len(data.gold),
        "ds": data.accuracy(ours.predict()),
        "mv": data.accuracy(MajorityVote().fit(*data.arrays()).predict()),
        **peers,
        **{name: published.get(name) for name in PUBLISHED},
        "points_below_best_of_mv_ds": (max(peers["crowdkit_mv"], peers["crowdkit_ds"]) - data.accuracy(ours.predict()))
        * 100,
        "ds_learned_strength": data.accuracy(learned.predict()),
        "learned_strength": learned.strength_,
        "ds_iterations": ours.n_iter_,
        "ds_seconds": ds_seconds,
        "encode_seconds": encode_seconds,
        "crowdkit_ds_seconds": their_seconds,
        "speedup": their_seconds / ds_seconds,
        "speedup_with_encoding": their_seconds / (ds_seconds + encode_seconds),
        **gold_experiment(data),
    }


def one_dataset(job: tuple[Path, int, int, dict[str, float | None], bool]) -> dict[str, Any]:
    folder, repeat, peer_repeat, published, slow = job
    started = time.perf_counter()
    row = bench_dataset(Dataset.load(folder), repeat, peer_repeat, published, slow)
    return row | {"bench_seconds": time.perf_counter() - started}


def run_datasets(
    jobs: list[tuple[Path, int, int, dict[str, float | None], bool]], workers: int
) -> list[dict[str, Any]]:
    """Every set's figures, ``workers`` sets at a time in child processes (each set's ratios are measured side by
    side in one process); a line on stderr as each set finishes."""
    from concurrent.futures import ProcessPoolExecutor

    rows = []
    with ProcessPoolExecutor(max_workers=max(workers, 1)) as pool:
        for row in pool.map(one_dataset, jobs):
            print(f"{row['dataset']}: {row['bench_seconds']:.0f} s {json.dumps(row)}", file=sys.stderr, flush=True)
            rows.append(row)
    return rows


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


def crowdkit_accuracies(data: Dataset, frame: Any, slow: bool) -> tuple[dict[str, float | None], float]:
    """Accuracy of crowd-kit's aggregators with their defaults; one-coin DS and GLAD (minutes per set, both
    loop in Python over workers or tasks) unless ``slow`` is off; and the seconds of the DS fit."""
    from crowdkit.aggregation import GLAD, MajorityVote, OneCoinDawidSkene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        their_ds = crowdkit_fit(frame).labels_
        seconds = time.perf_counter() - started
        predictions = {"crowdkit_mv": MajorityVote().fit_predict(frame), "crowdkit_ds": their_ds}
        if slow:
            predictions["crowdkit_one_coin"] = OneCoinDawidSkene(n_iter=100).fit_predict(frame)
            predictions["crowdkit_glad"] = GLAD().fit_predict(frame)
    book = data.coded.codebook
    accuracies: dict[str, float | None] = {
        name: float(np.mean([labels.to_dict()[book.task_ids[t]] == book.classes[k] for t, k in data.gold.items()]))
        for name, labels in predictions.items()
    }
    return {"crowdkit_one_coin": None, "crowdkit_glad": None} | accuracies, seconds


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


def write_synthetic_csv(path: Path, size: tuple[int, int, int, int]) -> None:
    """The synthetic answers as ``task,worker,label`` rows of string ids (``task-17,worker-3,dog``)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    tasks, workers, labels, _ = synthetic(*size)
    names = pa.array(["cat", "dog", "fox", "owl", "yak", "emu", "elk", "gnu"][: size[3]])
    with pcsv.CSVWriter(str(path), pa.schema([(n, pa.string()) for n in ("task", "worker", "label")])) as writer:
        for start in range(0, len(tasks), 1_000_000):
            part = slice(start, start + 1_000_000)
            writer.write_table(
                pa.table(
                    {
                        "task": pc.binary_join_element_wise("task-", pa.array(tasks[part]).cast(pa.string()), ""),
                        "worker": pc.binary_join_element_wise("worker-", pa.array(workers[part]).cast(pa.string()), ""),
                        "label": names.take(pa.array(labels[part])),
                    }
                )
            )
    unquote(path)


def unquote(path: Path) -> None:
    """pyarrow quotes every string; these ids never need it, so strip the quotes as any writer would."""
    with path.open("rb") as source, path.with_suffix(".tmp").open("wb") as target:
        for block in iter(lambda: source.read(1 << 24), b""):
            target.write(block.replace(b'"', b""))
    path.with_suffix(".tmp").replace(path)


def bench_synthetic(size: tuple[int, int, int, int], repeat: int, counts: tuple[int, int]) -> dict[str, Any]:
    tasks, workers, labels, truth = synthetic(*size)
    answers = answer_arrays(tasks, workers, labels, *size[1:])
    layout_seconds = median_seconds(lambda: AnswerLayout.of(answers), 1)
    layout, gold = AnswerLayout.of(answers), Gold.from_mapping(None, size[1], size[3])
    start = majority_posteriors(answers, gold)
    prior = DawidSkene().smoothing.prior_for(soft_confusion_counts(layout, start))
    iteration = median_seconds(lambda: em_step(layout, start, gold, prior), repeat)
    model = DawidSkene()
    fit_seconds = median_seconds(lambda: model.fit(tasks, workers, labels, *size[1:]), 1)
    their = crowdkit_iteration(tasks, workers, labels, counts)
    their_ms = their["seconds"] * 1e3 if their["seconds"] > 0 else None
    return {
        "answers": size[0],
        "tasks": size[1],
        "workers": size[2],
        "classes": size[3],
        "iteration_ms": iteration * 1e3,
        "crowdkit_iteration_ms": their_ms,
        "crowdkit_iterations_run": their["iterations"],
        "iteration_speedup": their_ms / (iteration * 1e3) if their_ms else None,
        "layout_seconds": layout_seconds,
        "fit_seconds": fit_seconds,
        "fit_iterations": model.n_iter_,
        "accuracy": float(np.mean(model.predict() == truth)),
        **memory_probe(size),
        **online_step_timing(model),
    }


def crowdkit_iteration(
    tasks: np.ndarray, workers: np.ndarray, labels: np.ndarray, counts: tuple[int, int]
) -> dict[str, Any]:
    """crowd-kit's time per EM iteration: fits with early stopping off (``tol=0``) at two iteration counts, the
    difference of their times over the difference of the iterations they ran (``loss_history_``)."""
    import pandas as pd

    frame = pd.DataFrame({"task": tasks, "worker": workers, "label": labels})
    runs = []
    for n_iter in counts:
        start = time.perf_counter()
        model = crowdkit_fit(frame, n_iter=n_iter, tol=0.0)
        runs.append((time.perf_counter() - start, len(model.loss_history_)))
    (short, short_steps), (long, long_steps) = runs
    steps = long_steps - short_steps
    return {"seconds": (long - short) / steps if steps > 0 else 0.0, "iterations": [short_steps, long_steps]}


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
    """This process's peak resident memory: ``VmHWM`` (Linux), else ``ru_maxrss``."""
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


# --- whole processes -------------------------------------------------------------------------

CROWDKIT_PROCESS = """
import sys, warnings
warnings.simplefilter("ignore")
import pandas as pd
from crowdkit.aggregation import DawidSkene
DawidSkene(n_iter=100).fit_predict(pd.read_csv(sys.argv[1]))
"""


def timed_process(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one child process.

    The peak comes from ``/usr/bin/time`` where it exists: a child forked
    from this (large) process would report this process's size at the fork
    as its own peak, since ``ru_maxrss`` survives ``exec``.
    """
    timer = Path("/usr/bin/time")
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        wrapped = [str(timer), "-f", "%M", "-o", report.name, *argv] if timer.exists() else argv
        start = time.perf_counter()
        done = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{argv[:3]} failed: {done.stderr.decode()[-2000:]}")
        peak_kb = (
            float(report.read().split()[-1])
            if timer.exists()
            else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        )
    return seconds, peak_kb / 2**10


def ours_process(path: Path, folder: Path) -> list[str]:
    return [
        str(CROWD),
        "aggregate",
        str(path),
        "--out",
        str(folder / "out.csv"),
        "--workers-out",
        str(folder / "w.csv"),
    ]


def bench_end_to_end(
    size: tuple[int, int, int, int], repeat: int, big: tuple[int, int, int, int] | None
) -> dict[str, Any]:
    """``crowd aggregate`` and crowd-kit's read_csv + fit_predict as whole processes, alternated."""
    with tempfile.TemporaryDirectory(prefix="crowd-bench-") as tmp:
        folder = Path(tmp)
        path = folder / "answers.csv"
        write_synthetic_csv(path, size)
        ours, theirs = [], []
        for _ in range(repeat):
            ours.append(timed_process(ours_process(path, folder)))
            theirs.append(timed_process([sys.executable, "-c", CROWDKIT_PROCESS, str(path)]))
        report = {
            "file_mb": path.stat().st_size / 2**20,
            "answers": size[0],
            "ours_seconds": [round(s, 3) for s, _ in ours],
            "ours_peak_mb": max(m for _, m in ours),
            "crowdkit_seconds": [round(s, 3) for s, _ in theirs],
            "crowdkit_peak_mb": max(m for _, m in theirs),
            "ratios": [round(t / o, 2) for (o, _), (t, _) in zip(ours, theirs, strict=True)],
        }
        path.unlink()
        if big is not None:
            big_path = folder / "big.csv"
            write_synthetic_csv(big_path, big)
            seconds, peak = timed_process(ours_process(big_path, folder))
            report |= {"big_answers": big[0], "big_file_mb": big_path.stat().st_size / 2**20}
            report |= {"big_seconds": round(seconds, 2), "big_peak_mb": peak}
    return report


# --- report ----------------------------------------------------------------------------------


def summarise(rows: list[dict[str, Any]], scale: dict[str, Any], whole: dict[str, Any]) -> dict[str, Any]:
    keys = ("ds", "ds_learned_strength", "mv", *PEERS)
    mean = {key: _mean([row[key] for row in rows]) for key in keys}
    best_of_mv_ds = float(np.mean([max(row["crowdkit_ds"], row["crowdkit_mv"]) for row in rows]))
    worst_gap = max(row["points_below_best_of_mv_ds"] for row in rows)
    checks = {
        "mean_ds_at_least_0.863": mean["ds"] >= TARGETS["mean_accuracy"],
        "never_more_than_1_point_below_best_of_crowdkit_mv_ds": worst_gap
        <= TARGETS["max_points_below_best_of_crowdkit_mv_ds"],
        "fit_20x_faster_than_crowdkit_ds_everywhere": min(r["speedup"] for r in rows) >= TARGETS["speedup"],
        "fit_and_encoding_20x_faster_everywhere": min(r["speedup_with_encoding"] for r in rows) >= TARGETS["speedup"],
        "iteration_within_30_ms": scale["iteration_ms"] <= TARGETS["iteration_ms"],
        "fit_peak_memory_under_400_mb": scale["process_peak_rss_mb"] < TARGETS["fit_peak_memory_mb"],
        "crowd_aggregate_5x_crowdkit_whole_process": min(whole["ratios"]) >= TARGETS["end_to_end_speedup"],
        "crowd_aggregate_peak_under_1_gb": whole["ours_peak_mb"] < TARGETS["end_to_end_peak_memory_mb"],
    }
    return {
        "mean": mean,
        "mean_of_best_of_crowdkit_mv_ds": best_of_mv_ds,
        "worst_points_below_best_of_mv_ds": worst_gap,
    } | {"checks": checks}


def _mean(values: list[float | None]) -> float | None:
    return None if any(value is None for value in values) else float(np.mean(values))


def _cell(value: float | None, width: int = 6, digits: int = 3) -> str:
    """One accuracy, right-aligned (blank when there is none)."""
    return f"{'':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def print_table(
    rows: list[dict[str, Any]], scale: dict[str, Any], whole: dict[str, Any], summary: dict[str, Any]
) -> None:
    print(
        f"{'dataset':<17}{'ours':>6}{'oursEB':>7}{'ckMV':>6}{'ckDS':>6}{'1coin':>6}{'GLAD':>6}{'EBCC':>6}{'BWA':>6}"
        f"{'IBCC':>6}{'gap':>6}{'sEB':>6}{'it':>4}{'ours ms':>8}{'enc ms':>8}{'ck ms':>8}{'×':>6}{'×enc':>6}"
        f"{'90%':>7}{'+10%g':>7}"
    )
    for r in rows:
        accuracies = "".join(_cell(r[key], 7 if key == "ds_learned_strength" else 6) for key in ACCURACY_COLUMNS)
        accuracies += "".join(_cell(r[name]) for name in PUBLISHED)
        times = f"{r['ds_iterations']:>4}{r['ds_seconds'] * 1e3:>8.2f}{r['encode_seconds'] * 1e3:>8.2f}"
        times += f"{r['crowdkit_ds_seconds'] * 1e3:>8.1f}{r['speedup']:>6.0f}{r['speedup_with_encoding']:>6.0f}"
        print(
            f"{r['dataset']:<17}{accuracies}{r['points_below_best_of_mv_ds']:>6.2f}{r['learned_strength']:>6.1f}{times}"
            f"{r['ds_on_90']:>7.3f}{r['ds_10_gold_on_90']:>7.3f}"
        )
    m = summary["mean"]
    means = "".join(_cell(m[key], 7 if key == "ds_learned_strength" else 6) for key in ACCURACY_COLUMNS)
    print(f"{'mean':<17}{means}")
    print(f"mean of the better of crowd-kit MV and DS per set: {summary['mean_of_best_of_crowdkit_mv_ds']:.4f}")
    print(
        f"worst gap below the better of crowd-kit MV and DS: {summary['worst_points_below_best_of_mv_ds']:.2f} points"
    )
    plain, encoded = [r["speedup"] for r in rows], [r["speedup_with_encoding"] for r in rows]
    print(
        f"fit speedup over crowd-kit DS: ×{min(plain):.0f}–{max(plain):.0f} without our encoding, "
        f"×{min(encoded):.0f}–{max(encoded):.0f} with it"
    )
    their = scale["crowdkit_iteration_ms"]
    versus = (
        f"crowd-kit {their:.0f} ms (×{scale['iteration_speedup']:.0f})"
        if their
        else "crowd-kit: no positive time, no ratio"
    )
    print(
        f"\nsynthetic {scale['answers']:,} answers, {scale['tasks']:,} tasks, {scale['workers']:,} workers, "
        f"{scale['classes']} classes\n"
        f"  one EM iteration {scale['iteration_ms']:.1f} ms, {versus}; crowd-kit tol=0, iterations run "
        f"{scale['crowdkit_iterations_run']}\n"
        f"  full fit {scale['fit_seconds']:.2f} s ({scale['fit_iterations']} iterations, layout "
        f"{scale['layout_seconds']:.2f} s), accuracy {scale['accuracy']:.3f}\n"
        f"  memory: inputs {scale['input_mb']:.0f} MB, fit peak {scale['fit_peak_mb']:.0f} MB (tracemalloc), "
        f"process peak RSS {scale['process_peak_rss_mb']:.0f} MB\n"
        f"  online step {scale['online_step_us']:.1f} µs, overlap decision {scale['overlap_decision_us']:.1f} µs"
    )
    ours, theirs = (", ".join(f"{s:.2f}" for s in whole[key]) for key in ("ours_seconds", "crowdkit_seconds"))
    print(
        f"\nwhole processes on {whole['answers']:,} answers ({whole['file_mb']:.0f} MB CSV):\n"
        f"  crowd aggregate {ours} s, peak {whole['ours_peak_mb']:.0f} MB\n"
        f"  crowd-kit read_csv + DawidSkene().fit_predict {theirs} s, peak {whole['crowdkit_peak_mb']:.0f} MB\n"
        f"  ratios {', '.join(f'×{r:.1f}' for r in whole['ratios'])}"
    )
    if "big_seconds" in whole:
        print(
            f"  crowd aggregate on {whole['big_answers']:,} answers ({whole['big_file_mb']:.0f} MB): "
            f"{whole['big_seconds']:.1f} s, peak {whole['big_peak_mb']:.0f} MB"
        )
    print("\ntargets:")
    for name, met in summary["checks"].items():
        print(f"  {'met    ' if met else 'NOT MET'}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 100k-answer synthetic set, no 10M file")
    parser.add_argument("--no-10m", action="store_true", help="skip crowd aggregate on 10M answers")
    parser.add_argument(
        "--no-slow-peers", action="store_true", help="skip crowd-kit's one-coin DS and GLAD (minutes per set)"
    )
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--jobs", type=int, default=1, help="datasets measured at once, each in its own process")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    parser.add_argument("--memory-probe", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        run_memory_probe(tuple(args.memory_probe))
        return
    repeat, peer_repeat = (3, 1) if args.quick else (7, 2)
    published = published_figures(args.datasets / "README.md")
    folders = sorted(path for path in args.datasets.iterdir() if (path / "answers.csv").is_file())
    slow = not args.no_slow_peers
    jobs = [(folder, repeat, peer_repeat, published.get(folder.name, {}), slow) for folder in folders]
    rows = sorted(run_datasets(jobs, args.jobs), key=lambda row: str(row["dataset"]))
    size = (100_000, 10_000, 2_000, 4) if args.quick else (1_000_000, 100_000, 2_000, 4)
    scale = bench_synthetic(size, repeat, (2, 10) if args.quick else (2, 8))
    print("synthetic set done", file=sys.stderr, flush=True)
    big = None if args.quick or args.no_10m else (10_000_000, 1_000_000, 2_000, 4)
    whole = bench_end_to_end(size, 1 if args.quick else 3, big)
    summary = summarise(rows, scale, whole)
    print_table(rows, scale, whole, summary)
    report = {"datasets": rows, "synthetic": scale, "end_to_end": whole, "summary": summary, "targets": TARGETS}
    emit(report, args.json)


if __name__ == "__main__":
    main()
