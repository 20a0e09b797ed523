"""``crowd aggregate``: consensus labels from a CSV of answers, without a server.

Input: ``ANSWERS.csv`` with the header ``task,worker,label`` (other columns,
such as ``created_at`` in the server's export, are ignored); optionally
``--gold GOLD.csv`` with ``task,label``. Labels are kept as strings and the
class order is the sorted set of labels found in both files, which is also
the tie order: on an exact tie the label first in sorted order wins.

Output (stdout unless ``--out``): ``task,label,confidence``, one row per task
in order of first appearance, where confidence is the task's posterior
probability of its label (Dawid-Skene) or the label's vote share (majority
vote). Gold tasks keep their gold label with confidence 1. ``--workers-out``
writes ``worker,reliability,answers``: the expected accuracy under the class
priors (Dawid-Skene) or the share of the worker's answers that match the
consensus (majority vote).

Errors (unreadable or empty file, missing column, blank field) print one line
to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from crowd.consensus.dawid_skene import DawidSkene
from crowd.consensus.encoding import CodedAnswers, FloatArray, encode_answers, encode_gold
from crowd.consensus.majority import MajorityVote, winning_classes
from crowd.consensus.reliability import expected_accuracy

EXIT_USAGE = 2
PROGRESS_EVERY = 100_000
"""Rows between two progress updates."""
PROGRESS_MIN_BYTES = 8_000_000
"""Inputs smaller than this (about 400k answers) finish too fast to need a progress display."""


class InputError(Exception):
    """A problem with an input file, reported as one line on stderr."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``crowd aggregate`` arguments on ``parser``."""
    parser.add_argument("answers", metavar="ANSWERS.csv", help="CSV with header task,worker,label")
    parser.add_argument("--gold", metavar="GOLD.csv", help="CSV with header task,label: known labels, clamped")
    parser.add_argument("--method", choices=("ds", "mv"), default="ds", help="Dawid-Skene (default) or majority vote")
    parser.add_argument("--out", metavar="OUT.csv", help="write task,label,confidence here instead of stdout")
    parser.add_argument("--workers-out", metavar="W.csv", help="write worker,reliability,answers here")


def run(args: argparse.Namespace) -> int:
    """Run ``crowd aggregate``; returns the process exit status."""
    try:
        result = aggregate(args.answers, args.gold, args.method, Progress.for_file(args.answers))
        if args.workers_out:
            write_table(args.workers_out, ("worker", "reliability", "answers"), result.worker_rows())
        write_table(args.out, ("task", "label", "confidence"), result.task_rows())
    except InputError as error:
        print(f"crowd aggregate: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # stdout piped into a reader that stopped early, e.g. `| head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


@dataclass(frozen=True)
class Consensus:
    """Labels, confidences and worker reliabilities, ready to write."""

    coded: CodedAnswers
    labels: list[int]
    confidences: FloatArray
    reliabilities: FloatArray

    def task_rows(self) -> Iterator[tuple[object, ...]]:
        classes = self.coded.codebook.classes
        book, confidences = self.coded.codebook, self.confidences.tolist()
        for task, label, confidence in zip(book.task_ids, self.labels, confidences, strict=True):
            yield task, classes[label], f"{confidence:.6f}"

    def worker_rows(self) -> Iterator[tuple[object, ...]]:
        counts = np.bincount(self.coded.workers, minlength=self.coded.codebook.n_workers).tolist()
        reliabilities = self.reliabilities.tolist()
        for worker, reliability, count in zip(self.coded.codebook.worker_ids, reliabilities, counts, strict=True):
            yield worker, f"{reliability:.6f}", count


def aggregate(answers_path: str, gold_path: str | None, method: str, progress: Progress) -> Consensus:
    """Read, encode, fit and summarise; raises :class:`InputError` on bad input."""
    rows = read_rows(answers_path, ("task", "worker", "label"), progress)
    gold = {row[0]: row[1] for row in read_rows(gold_path, ("task", "label"), progress)} if gold_path else {}
    classes = sorted({row[2] for row in rows} | set(gold.values()))
    coded = encode_answers(rows, classes=classes)
    gold_index = encode_gold(gold, coded.codebook)
    progress.stage(f"fitting {'Dawid-Skene' if method == 'ds' else 'majority vote'} on {len(coded):,} answers")
    consensus = fit_ds(coded, gold_index) if method == "ds" else fit_mv(coded, gold_index)
    progress.done()
    return consensus


def fit_ds(coded: CodedAnswers, gold: dict[int, int]) -> Consensus:
    book = coded.codebook
    model = DawidSkene().fit(
        coded.tasks, coded.workers, coded.labels, book.n_tasks, book.n_workers, book.n_classes, gold=gold
    )
    return _consensus(coded, model.predict_proba(), expected_accuracy(model.confusions_, model.priors_))


def fit_mv(coded: CodedAnswers, gold: dict[int, int]) -> Consensus:
    book = coded.codebook
    shares = MajorityVote().fit(coded.tasks, coded.workers, coded.labels, book.n_tasks, book.n_workers, book.n_classes)
    posteriors = shares.predict_proba().copy()
    for task, label in gold.items():
        posteriors[task] = np.eye(book.n_classes)[label]
    agrees = (coded.labels == winning_classes(posteriors)[coded.tasks]).astype(np.float64)
    answered = np.maximum(np.bincount(coded.workers, minlength=book.n_workers), 1)
    return _consensus(coded, posteriors, np.bincount(coded.workers, agrees, book.n_workers) / answered)


def _consensus(coded: CodedAnswers, posteriors: FloatArray, reliabilities: FloatArray) -> Consensus:
    labels = winning_classes(posteriors)
    return Consensus(coded, labels.tolist(), posteriors[np.arange(len(labels)), labels], reliabilities)


def read_rows(path: str, columns: Sequence[str], progress: Progress) -> list[tuple[str, ...]]:
    """The named columns of a CSV file, as string tuples, checking header and fields."""
    with open_input(path) as stream:
        reader = csv.DictReader(stream)
        if reader.fieldnames is None:
            raise InputError(f"{path}: the file is empty (expected a header {','.join(columns)})")
        missing = [column for column in columns if column not in reader.fieldnames]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} in header {','.join(reader.fieldnames)}")
        return [_fields(row, columns, path, reader.line_num, progress) for row in reader]


def _fields(
    row: dict[str, str | None], columns: Sequence[str], path: str, line: int, progress: Progress
) -> tuple[str, ...]:
    values = tuple(row[column] or "" for column in columns)
    blank = [column for column, value in zip(columns, values, strict=True) if not value]
    if blank:
        raise InputError(f"{path}, line {line}: blank or missing {', '.join(blank)}")
    progress.tick(f"read {line - 1:,} rows of {path}")
    return values


@contextmanager
def open_input(path: str) -> Iterator[TextIO]:
    """Open a UTF-8 CSV file, turning OS and decoding errors into :class:`InputError`."""
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


class Progress:
    """A one-line progress display on stderr, shown only for a terminal and a large input."""

    def __init__(self, enabled: bool, stream: TextIO = sys.stderr) -> None:
        self.enabled = enabled
        self.stream = stream
        self.ticks = 0

    @classmethod
    def for_file(cls, path: str) -> Progress:
        try:
            large = os.path.getsize(path) >= PROGRESS_MIN_BYTES
        except OSError:
            large = False
        return cls(large and sys.stderr.isatty())

    def tick(self, message: str) -> None:
        self.ticks += 1
        if self.enabled and self.ticks % PROGRESS_EVERY == 0:
            self.stage(message)

    def stage(self, message: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\033[Kcrowd aggregate: {message}")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
