"""``crowd aggregate --kind multi|rating|pairwise``: consensus for the answer kinds beyond single choice.

Inputs are CSV files shaped like ``../shared/datasets-kinds``:

* ``multi``: ``task,worker,labels``, labels joined by ``|``, the empty
  string the empty set; gold ``task,labels``. Out: ``task,labels,confidence``
  (the chosen set, labels in sorted order, and its probability).
* ``rating``: ``task,worker,rating`` (numbers); gold ``task,rating``. The
  scale is every integer from the smallest to the largest value seen when
  all are integers, else the distinct values. Out: ``task,rating,confidence``
  (the posterior median and its probability).
* ``pairwise``: ``task,worker,left,right,winner``, ``winner`` the left or
  right item or ``tie``; gold ``task,winner``. Out: ``item,score,rank``;
  ``--pairs-out``: ``task,winner,confidence``.

``--workers-out`` writes ``worker,reliability,answers,low,high,spammer``
(the interval is a 90% credible interval). Other columns are ignored;
repeated (task, worker) rows are kept as separate answers. Errors (unreadable
or empty file, missing column, blank or bad value) print one line naming the
file and line to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import numpy.typing as npt

from crowd.aggregate_open import KINDS as OPEN_KINDS
from crowd.aggregate_open import aggregate_open
from crowd.consensus.comparisons import LEFT, RIGHT, TIE, Comparisons
from crowd.consensus.encoding import IntArray
from crowd.consensus.multilabel import MultiLabelModel, set_confidence
from crowd.consensus.ordinal import RatingModel, grade_confidence
from crowd.consensus.pairwise import FIRST, SECOND, TIED, fit_pairwise
from crowd.consensus.worker_quality import WorkerQuality

BoolArray = npt.NDArray[np.bool_]
KINDS = ("choice", "multi", "rating", "pairwise")
EXIT_USAGE = 2
TIE_WORD = "tie"


class InputError(Exception):
    """A problem with an input file, reported as one line on stderr."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags ``crowd aggregate`` gains for the other kinds."""
    parser.add_argument(
        "--kind", choices=(*KINDS, *OPEN_KINDS), default="choice", help="answer kind of ANSWERS.csv (default choice)"
    )
    parser.add_argument("--pairs-out", metavar="P.csv", help="pairwise: write task,winner,confidence here")


def run(args: argparse.Namespace) -> int:
    """Run ``crowd aggregate --kind K`` for K other than ``choice``; returns the exit status."""
    if args.kind in OPEN_KINDS:  # answers not drawn from a list: crowd.aggregate_open
        if getattr(args, "pairs_out", None):
            print("crowd aggregate: --pairs-out needs --kind pairwise", file=sys.stderr)
            return EXIT_USAGE
        return aggregate_open(args.kind, args.answers, args.out, args.gold, args.workers_out)
    try:
        result = AGGREGATORS[args.kind](args.answers, args.gold)
        if args.workers_out:
            write_table(args.workers_out, WORKER_HEADER, result.worker_rows())
        if getattr(args, "pairs_out", None):
            if result.pair_rows is None:
                raise InputError("--pairs-out needs --kind pairwise")
            write_table(args.pairs_out, ("task", "winner", "confidence"), iter(result.pair_rows))
        write_table(args.out, result.header, iter(result.rows))
    except InputError as error:
        print(f"crowd aggregate: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # stdout piped into a reader that stopped early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


WORKER_HEADER = ("worker", "reliability", "answers", "low", "high", "spammer")


@dataclass(frozen=True)
class KindResult:
    """Rows to write: the main table, per-worker quality, and (pairwise) the pair winners."""

    header: tuple[str, ...]
    rows: list[tuple[object, ...]]
    workers: tuple[Hashable, ...]
    quality: WorkerQuality
    pair_rows: list[tuple[object, ...]] | None = None

    def worker_rows(self) -> Iterator[tuple[object, ...]]:
        q = self.quality
        for w, worker in enumerate(self.workers):
            figures = (q.reliability[w], q.low[w], q.high[w], q.spammer[w])
            yield worker, _fixed(figures[0]), int(q.answers[w]), *(_fixed(value) for value in figures[1:])


def _fixed(value: float) -> str:
    return f"{value:.6f}"


# --- reading ---------------------------------------------------------------------------------


class Index:
    """Consecutive indices for ids in order of first appearance."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, key: str) -> int:
        return self.ids.setdefault(key, len(self.ids))

    def names(self) -> tuple[str, ...]:
        return tuple(self.ids)


def read_rows(path: str, columns: Sequence[str], may_be_blank: Sequence[str] = ()) -> list[tuple[int, tuple[str, ...]]]:
    """``(line, values)`` of the named columns; only ``may_be_blank`` columns may be empty."""
    with open_input(path) as stream:
        reader = csv.DictReader(stream)
        if reader.fieldnames is None:
            raise InputError(f"{path}: the file is empty (expected a header {','.join(columns)})")
        missing = [column for column in columns if column not in reader.fieldnames]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} in header {','.join(reader.fieldnames)}")
        rows = []
        for row in reader:
            values = tuple(row[column] or "" for column in columns)
            blank = [c for c, v in zip(columns, values, strict=True) if not v and c not in may_be_blank]
            if blank:
                raise InputError(f"{path}, line {reader.line_num}: blank or missing {', '.join(blank)}")
            rows.append((reader.line_num, values))
        if not rows:
            raise InputError(f"{path}: no answers after the header")
        return rows


@contextmanager
def open_input(path: str) -> Iterator[TextIO]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            yield stream
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path}: cannot read: {error}") from error


def write_table(path: str | None, header: Sequence[str], rows: Iterator[tuple[object, ...]]) -> None:
    """Write a CSV table to ``path``, or to stdout when ``path`` is None."""
    if path is None:
        _write(sys.stdout, header, rows)
        return
    try:
        with open(path, "w", newline="", encoding="utf-8") as stream:
            _write(stream, header, rows)
    except OSError as error:
        raise InputError(f"{path}: cannot write: {error}") from error


def _write(stream: TextIO, header: Sequence[str], rows: Iterator[tuple[object, ...]]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


# --- multi -----------------------------------------------------------------------------------


def label_set(text: str) -> frozenset[str]:
    """``a|b`` -> ``{a, b}``; the empty string is the empty set."""
    return frozenset(part for part in text.split("|") if part)


@dataclass(frozen=True)
class MultiAnswers:
    """Label-set answers coded: tasks, workers, marks (answers × labels), the ids, the gold marks by task index."""

    tasks: IntArray
    workers: IntArray
    marks: BoolArray
    task_ids: tuple[str, ...]
    worker_ids: tuple[str, ...]
    labels: tuple[str, ...]
    gold: dict[int, BoolArray]


def read_multi(answers_path: str, gold_path: str | None = None) -> MultiAnswers:
    rows = read_rows(answers_path, ("task", "worker", "labels"), may_be_blank=("labels",))
    gold_rows = read_rows(gold_path, ("task", "labels"), may_be_blank=("labels",)) if gold_path else []
    sets = [label_set(values[2]) for _, values in rows]
    gold_sets = {values[0]: label_set(values[1]) for _, values in gold_rows}
    labels = tuple(sorted(set().union(*sets, *gold_sets.values())))
    column = {label: j for j, label in enumerate(labels)}
    marks = np.zeros((len(rows), len(labels)), dtype=bool)
    for row, chosen in enumerate(sets):
        marks[row, [column[label] for label in chosen]] = True
    task_index, worker_index = Index(), Index()
    tasks = np.array([task_index(values[0]) for _, values in rows], dtype=np.intp)
    workers = np.array([worker_index(values[1]) for _, values in rows], dtype=np.intp)
    gold = {
        task_index.ids[task]: np.isin(labels, sorted(chosen))
        for task, chosen in gold_sets.items()
        if task in task_index.ids
    }
    return MultiAnswers(tasks, workers, marks, task_index.names(), worker_index.names(), labels, gold)


def aggregate_multi(answers_path: str, gold_path: str | None) -> KindResult:
    data = read_multi(answers_path, gold_path)
    if not data.labels:
        model_rows = [(task, "", _fixed(1.0)) for task in data.task_ids]
        quality = WorkerQuality.of(
            np.ones(len(data.worker_ids)),
            np.zeros(len(data.worker_ids)),
            np.bincount(data.workers, minlength=len(data.worker_ids)),
            np.zeros(len(data.worker_ids)),
        )
        return KindResult(("task", "labels", "confidence"), list(model_rows), data.worker_ids, quality)
    model = MultiLabelModel().fit(
        data.tasks, data.workers, data.marks, len(data.task_ids), len(data.worker_ids), gold=data.gold
    )
    chosen, confidence = model.predict(), set_confidence(model.posteriors_)
    rows: list[tuple[object, ...]] = [
        (task, "|".join(label for label, on in zip(data.labels, chosen[i], strict=True) if on), _fixed(confidence[i]))
        for i, task in enumerate(data.task_ids)
    ]
    return KindResult(("task", "labels", "confidence"), rows, data.worker_ids, model.worker_quality())


# --- rating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingAnswers:
    """Ratings coded: tasks, workers, grade indices, the ids, the scale's values, gold grades by task index."""

    tasks: IntArray
    workers: IntArray
    grades: IntArray
    task_ids: tuple[str, ...]
    worker_ids: tuple[str, ...]
    scale: tuple[float, ...]
    gold: dict[int, int]


def _number(path: str, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}, line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path}, line {line}: {column} {text!r} is not a finite number")
    return value


def rating_scale(values: Sequence[float]) -> tuple[float, ...]:
    """Every integer from min to max when all values are integers, else the distinct values, ascending."""
    distinct = sorted(set(values))
    if all(value.is_integer() for value in distinct) and distinct and distinct[-1] - distinct[0] <= 1000:
        return tuple(float(v) for v in range(int(distinct[0]), int(distinct[-1]) + 1))
    return tuple(distinct)


def read_rating(answers_path: str, gold_path: str | None = None) -> RatingAnswers:
    rows = read_rows(answers_path, ("task", "worker", "rating"))
    gold_rows = read_rows(gold_path, ("task", "rating")) if gold_path else []
    values = [_number(answers_path, line, "rating", v[2]) for line, v in rows]
    gold_values = {v[0]: _number(gold_path or "", line, "rating", v[1]) for line, v in gold_rows}
    scale = rating_scale(values + list(gold_values.values()))
    position = {value: k for k, value in enumerate(scale)}
    task_index, worker_index = Index(), Index()
    tasks = np.array([task_index(v[0]) for _, v in rows], dtype=np.intp)
    workers = np.array([worker_index(v[1]) for _, v in rows], dtype=np.intp)
    grades = np.array([position[value] for value in values], dtype=np.intp)
    gold = {task_index.ids[t]: position[value] for t, value in gold_values.items() if t in task_index.ids}
    return RatingAnswers(tasks, workers, grades, task_index.names(), worker_index.names(), scale, gold)


def aggregate_rating(answers_path: str, gold_path: str | None) -> KindResult:
    data = read_rating(answers_path, gold_path)
    n_tasks, n_workers = len(data.task_ids), len(data.worker_ids)
    if len(data.scale) < 2:
        rows = [(task, _value(data.scale[0]), _fixed(1.0)) for task in data.task_ids]
        quality = WorkerQuality.of(
            np.ones(n_workers),
            np.bincount(data.workers, minlength=n_workers),
            np.bincount(data.workers, minlength=n_workers),
            np.zeros(n_workers),
        )
        return KindResult(("task", "rating", "confidence"), list(rows), data.worker_ids, quality)
    model = RatingModel().fit(data.tasks, data.workers, data.grades, n_tasks, n_workers, len(data.scale), data.gold)
    grades = model.predict()
    confidence = grade_confidence(model.posteriors_, grades)
    rows = [
        (task, _value(data.scale[g]), _fixed(c))
        for task, g, c in zip(data.task_ids, grades.tolist(), confidence.tolist(), strict=True)
    ]
    return KindResult(("task", "rating", "confidence"), list(rows), data.worker_ids, model.worker_quality())


def _value(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# --- pairwise --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairwiseAnswers:
    """Comparisons coded, with the ids behind units (tasks), workers and items, and gold outcomes by unit."""

    comparisons: Comparisons
    task_ids: tuple[str, ...]
    worker_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    gold: dict[int, int]


def read_pairwise(answers_path: str, gold_path: str | None = None) -> PairwiseAnswers:
    rows = read_rows(answers_path, ("task", "worker", "left", "right", "winner"))
    task_index, worker_index, item_index = Index(), Index(), Index()
    pairs: dict[str, frozenset[str]] = {}
    columns: tuple[list[int], ...] = ([], [], [], [], [])
    for line, (task, worker, left, right, winner) in rows:
        if left == right:
            raise InputError(f"{answers_path}, line {line}: left and right are the same item {left!r}")
        if pairs.setdefault(task, frozenset((left, right))) != frozenset((left, right)):
            raise InputError(f"{answers_path}, line {line}: task {task!r} compares other items than on its first row")
        outcome = _outcome(answers_path, line, left, right, winner)
        for column, value in zip(
            columns, (task_index(task), worker_index(worker), item_index(left), item_index(right), outcome), strict=True
        ):
            column.append(value)
    coded = [np.array(column, dtype=np.intp) for column in columns]
    comparisons = Comparisons.of(coded[0], coded[1], coded[2], coded[3], coded[4])
    gold = _pairwise_gold(gold_path, task_index.ids, item_index.ids, comparisons) if gold_path else {}
    return PairwiseAnswers(comparisons, task_index.names(), worker_index.names(), item_index.names(), gold)


def _outcome(path: str, line: int, left: str, right: str, winner: str) -> int:
    if winner == left:
        return LEFT
    if winner == right:
        return RIGHT
    if winner.lower() == TIE_WORD:
        return TIE
    raise InputError(f"{path}, line {line}: winner {winner!r} is neither {left!r}, {right!r} nor {TIE_WORD!r}")


def _pairwise_gold(path: str, tasks: dict[str, int], items: dict[str, int], comparisons: Comparisons) -> dict[int, int]:
    """Gold outcomes by unit: 0 the task's first item won, 1 its second, 2 a tie."""
    names = list(items)
    gold: dict[int, int] = {}
    for line, (task, winner) in read_rows(path, ("task", "winner")):
        if task not in tasks:
            continue  # a gold task without answers carries no evidence
        unit = tasks[task]
        first, second = names[int(comparisons.first[unit])], names[int(comparisons.second[unit])]
        if winner.lower() == TIE_WORD:
            gold[unit] = TIE
        elif winner in (first, second):
            gold[unit] = 0 if winner == first else 1
        else:
            raise InputError(f"{path}, line {line}: winner {winner!r} is not an item of task {task!r} nor {TIE_WORD!r}")
    return gold


def aggregate_pairwise(answers_path: str, gold_path: str | None) -> KindResult:
    data = read_pairwise(answers_path, gold_path)
    result = fit_pairwise(data.comparisons, data.gold)
    ranking = result.ranking
    order = np.argsort(ranking.ranks, kind="stable")
    rows: list[tuple[object, ...]] = [
        (data.item_ids[i], f"{ranking.scores[i]:.6f}", int(ranking.ranks[i])) for i in order.tolist()
    ]
    c = data.comparisons
    pick: dict[int, Callable[[int], str]] = {
        FIRST: lambda u: data.item_ids[int(c.first[u])],
        SECOND: lambda u: data.item_ids[int(c.second[u])],
        TIED: lambda u: TIE_WORD,
    }
    winners, confidences = result.winners(), result.confidences()
    pair_rows: list[tuple[object, ...]] = [
        (task, pick[int(winners[u])](u), _fixed(confidences[u])) for u, task in enumerate(data.task_ids)
    ]
    return KindResult(("item", "score", "rank"), rows, data.worker_ids, result.quality, pair_rows)


AGGREGATORS: dict[str, Callable[[str, str | None], KindResult]] = {
    "multi": aggregate_multi,
    "rating": aggregate_rating,
    "pairwise": aggregate_pairwise,
}
