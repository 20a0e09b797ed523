"""Integer coding of answer rows, and back.

The estimators work on three parallel integer arrays (task index, worker
index, label index) so that every EM step is a handful of vectorised numpy
operations. This module is the thin adapter between rows of arbitrary
hashable ids — what a database or a CSV file holds — and those arrays.

Index order is deterministic:

* ids given up front (``task_ids``, ``worker_ids``) keep their positions, so a
  warm start can reuse the worker matrices of a previous fit;
* ids met for the first time are appended in order of first appearance;
* classes are either the project's fixed label list, in its order, or, when
  none is given, the sorted set of labels seen.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]
TaskId = TypeVar("TaskId", bound=Hashable)


@dataclass(frozen=True)
class Codebook:
    """The ids behind each integer index: ``task_ids[i]`` is task ``i``."""

    task_ids: tuple[Hashable, ...]
    worker_ids: tuple[Hashable, ...]
    classes: tuple[Hashable, ...]

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class CodedAnswers:
    """Answers as parallel index arrays, with the codebook to decode them."""

    tasks: IntArray
    workers: IntArray
    labels: IntArray
    codebook: Codebook

    def __len__(self) -> int:
        return len(self.tasks)


class _Indexer:
    """Assigns consecutive indices to ids, keeping those it was seeded with."""

    def __init__(self, seed: Iterable[Hashable] = ()) -> None:
        self.index: dict[Hashable, int] = {}
        for key in seed:
            self.index.setdefault(key, len(self.index))

    def __call__(self, key: Hashable) -> int:
        return self.index.setdefault(key, len(self.index))

    def ids(self) -> tuple[Hashable, ...]:
        return tuple(self.index)


def encode_answers(
    rows: Iterable[Sequence[Hashable]],
    classes: Sequence[Hashable] | None = None,
    task_ids: Iterable[Hashable] = (),
    worker_ids: Iterable[Hashable] = (),
) -> CodedAnswers:
    """Code ``(task, worker, label)`` rows (any 3-item sequences) as index arrays.

    ``classes`` fixes the label order (the project's label list); a label
    outside it raises ``ValueError``. Without it, the classes are the sorted
    distinct labels. ``task_ids`` and ``worker_ids`` pre-assign indices (for
    tasks without answers yet, or to line workers up with a previous fit).
    """
    task_index, worker_index = _Indexer(task_ids), _Indexer(worker_ids)
    columns: tuple[list[int], list[int], list[Hashable]] = ([], [], [])
    for task, worker, label in rows:
        columns[0].append(task_index(task))
        columns[1].append(worker_index(worker))
        columns[2].append(label)
    class_order = _sorted_classes(columns[2]) if classes is None else tuple(classes)
    codebook = Codebook(task_index.ids(), worker_index.ids(), class_order)
    return CodedAnswers(
        tasks=np.asarray(columns[0], dtype=np.intp),
        workers=np.asarray(columns[1], dtype=np.intp),
        labels=_label_indices(columns[2], class_order),
        codebook=codebook,
    )


def _sorted_classes(labels: list[Hashable]) -> tuple[Hashable, ...]:
    """The distinct labels in sorted order (labels must be mutually comparable)."""
    distinct: set[Any] = set(labels)
    return tuple(sorted(distinct))


def _label_indices(labels: list[Hashable], classes: tuple[Hashable, ...]) -> IntArray:
    class_index = {label: k for k, label in enumerate(classes)}
    unknown = set(labels) - class_index.keys()
    if unknown:
        raise ValueError(f"labels outside the class list {list(classes)!r}: {sorted(map(repr, unknown))}")
    return np.asarray([class_index[label] for label in labels], dtype=np.intp)


def encode_gold(gold: Mapping[TaskId, Hashable], codebook: Codebook) -> dict[int, int]:
    """Code a ``task id -> label`` mapping for ``fit(gold=...)``.

    Gold tasks absent from the codebook are dropped: with no answers they
    carry no evidence about any worker. A gold label outside the classes
    raises ``ValueError``.
    """
    task_index = {task: i for i, task in enumerate(codebook.task_ids)}
    class_index = {label: k for k, label in enumerate(codebook.classes)}
    coded: dict[int, int] = {}
    for task, label in gold.items():
        if label not in class_index:
            raise ValueError(f"gold label {label!r} of task {task!r} is not one of {list(codebook.classes)!r}")
        if task in task_index:
            coded[task_index[task]] = class_index[label]
    return coded


def decode_labels(predictions: IntArray, codebook: Codebook) -> dict[Hashable, Hashable]:
    """Map each task id to the label of its predicted class index."""
    return {task: codebook.classes[k] for task, k in zip(codebook.task_ids, predictions.tolist(), strict=True)}


@dataclass(frozen=True)
class AnswerArrays:
    """Validated index arrays and the sizes of the index spaces they live in."""

    tasks: IntArray
    workers: IntArray
    labels: IntArray
    n_tasks: int
    n_workers: int
    n_classes: int

    def __len__(self) -> int:
        return len(self.tasks)


def answer_arrays(
    tasks: npt.ArrayLike,
    workers: npt.ArrayLike,
    labels: npt.ArrayLike,
    n_tasks: int | None = None,
    n_workers: int | None = None,
    n_classes: int | None = None,
) -> AnswerArrays:
    """Check three parallel index arrays; each size defaults to ``max + 1``."""
    task_index, worker_index, label_index = (
        _index_array("tasks", tasks),
        _index_array("workers", workers),
        _index_array("labels", labels),
    )
    if not len(task_index) == len(worker_index) == len(label_index):
        raise ValueError("tasks, workers and labels must have the same length")
    return AnswerArrays(
        tasks=task_index,
        workers=worker_index,
        labels=label_index,
        n_tasks=_index_space("n_tasks", task_index, n_tasks),
        n_workers=_index_space("n_workers", worker_index, n_workers),
        n_classes=_index_space("n_classes", label_index, n_classes),
    )


def _index_array(name: str, values: npt.ArrayLike) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D array of integer indices")
    return array.astype(np.intp, copy=False)


def _index_space(name: str, column: IntArray, size: int | None) -> int:
    if size is not None and size >= 0 and (not column.size or column.view(np.uintp).max() < size):
        return size  # one pass: seen unsigned, a negative index is larger than any size
    needed = int(column.max()) + 1 if column.size else 0
    if column.size and column.min() < 0:
        raise ValueError(f"{name[2:]} indices must be non-negative")
    if size is None:
        return needed
    if size < needed:
        raise ValueError(f"{name}={size} but an index {needed - 1} occurs")
    return size
