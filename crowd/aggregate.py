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

The files are read by pyarrow's multi-threaded CSV reader, each column is
factorised by hashing (``dictionary_encode``: ids to consecutive indices in
order of first appearance), and the output is formatted and written as whole
columns: no Python work per row. pyarrow is imported here only when a file
is read, so ``crowd serve`` never loads it. A file the fast reader refuses
(a row with a missing field, bytes that are not UTF-8, a quoted line break)
or that has a blank field is read again by Python's ``csv`` module, which
says what is wrong and on which line, as it always did.

Errors (unreadable or empty file, missing column, blank field) print one line
to stderr and exit with status 2. A large input on a terminal shows its
progress, stage by stage, on stderr.
"""

from __future__ import annotations

import argparse
import csv
import errno
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import numpy as np

from crowd.consensus.dawid_skene import DawidSkene
from crowd.consensus.encoding import FloatArray, IntArray
from crowd.consensus.majority import MajorityVote, winning_classes
from crowd.consensus.reliability import expected_accuracy

if TYPE_CHECKING:
    import pyarrow as pa

EXIT_USAGE = 2
PROGRESS_MIN_BYTES = 8_000_000
"""Inputs smaller than this (about 400k answers) finish too fast to need a progress display."""
ANSWER_COLUMNS = ("task", "worker", "label")
GOLD_COLUMNS = ("task", "label")


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
    progress = Progress.for_file(args.answers)
    try:
        result = aggregate(args.answers, args.gold, args.method, progress)
        progress.stage("writing")
        if args.workers_out:
            write_table(args.workers_out, result.worker_table())
        write_table(args.out, result.task_table())
        progress.done()
    except InputError as error:
        progress.done()
        print(f"crowd aggregate: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # stdout piped into a reader that stopped early, e.g. `| head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


# --- encoded answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedAnswers:
    """Answers as index arrays; ``task_ids[i]`` (a pyarrow string array) is task ``i``, likewise workers."""

    tasks: IntArray
    workers: IntArray
    labels: IntArray
    task_ids: pa.Array
    worker_ids: pa.Array
    classes: list[str]

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)


def factorize(column: pa.ChunkedArray | pa.Array) -> tuple[IntArray, pa.Array]:
    """Index of each value and the distinct values, in order of first appearance (a hash table, no sort)."""
    import pyarrow as pa

    encoded = column.dictionary_encode()
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks != 1 else encoded.chunk(0)
    indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
    return indices, encoded.dictionary


def encode_columns(
    tasks: pa.ChunkedArray | pa.Array,
    workers: pa.ChunkedArray | pa.Array,
    labels: pa.ChunkedArray | pa.Array,
    extra_classes: Sequence[str] = (),
) -> EncodedAnswers:
    """Factorise three string columns; classes are the sorted labels seen (and ``extra_classes``)."""
    task_index, task_ids = factorize(tasks)
    worker_index, worker_ids = factorize(workers)
    label_index, seen = factorize(labels)
    seen_labels: list[str] = seen.to_pylist()
    classes = sorted(set(seen_labels) | set(extra_classes))
    position = {label: k for k, label in enumerate(classes)}
    to_class = np.array([position[label] for label in seen_labels], dtype=np.intp)
    return EncodedAnswers(task_index, worker_index, np.take(to_class, label_index), task_ids, worker_ids, classes)


def encode_gold(gold: dict[str, str], encoded: EncodedAnswers) -> dict[int, int]:
    """``task index -> class index`` for the gold tasks that have answers (the others carry no evidence)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not gold:
        return {}
    tasks = list(gold)
    found = pc.index_in(pa.array(tasks, type=pa.string()), value_set=encoded.task_ids).to_pylist()
    position = {label: k for k, label in enumerate(encoded.classes)}
    return {index: position[gold[task]] for task, index in zip(tasks, found, strict=True) if index is not None}


# --- the fit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consensus:
    """Labels, confidences and worker reliabilities, ready to write."""

    encoded: EncodedAnswers
    labels: IntArray
    confidences: FloatArray
    reliabilities: FloatArray

    def task_table(self) -> pa.Table:
        import pyarrow as pa

        classes = pa.array(self.encoded.classes, type=pa.string())
        return pa.table(
            {
                "task": self.encoded.task_ids,
                "label": classes.take(pa.array(self.labels)),
                "confidence": fixed_six(self.confidences),
            }
        )

    def worker_table(self) -> pa.Table:
        import pyarrow as pa

        counts = np.bincount(self.encoded.workers, minlength=self.encoded.n_workers)
        return pa.table(
            {
                "worker": self.encoded.worker_ids,
                "reliability": fixed_six(self.reliabilities),
                "answers": pa.array(counts).cast(pa.string()),
            }
        )


def aggregate(answers_path: str, gold_path: str | None, method: str, progress: Progress) -> Consensus:
    """Read, encode, fit and summarise; raises :class:`InputError` on bad input."""
    gold: dict[str, str] = {}
    if gold_path:
        gold_table = read_table(gold_path, GOLD_COLUMNS)
        gold = dict(zip(gold_table.column("task").to_pylist(), gold_table.column("label").to_pylist(), strict=True))
    encoded = read_answers(answers_path, list(gold.values()), progress)
    gold_index = encode_gold(gold, encoded)
    progress.stage(f"fitting {'Dawid-Skene' if method == 'ds' else 'majority vote'} on {len(encoded):,} answers")
    return fit_ds(encoded, gold_index) if method == "ds" else fit_mv(encoded, gold_index)


def fit_ds(encoded: EncodedAnswers, gold: dict[int, int]) -> Consensus:
    sizes = encoded.n_tasks, encoded.n_workers, len(encoded.classes)
    model = DawidSkene().fit(encoded.tasks, encoded.workers, encoded.labels, *sizes, gold=gold)
    return _consensus(encoded, model.predict_proba(), expected_accuracy(model.confusions_, model.priors_))


def fit_mv(encoded: EncodedAnswers, gold: dict[int, int]) -> Consensus:
    sizes = encoded.n_tasks, encoded.n_workers, len(encoded.classes)
    shares = MajorityVote().fit(encoded.tasks, encoded.workers, encoded.labels, *sizes)
    posteriors = shares.predict_proba().copy()
    if gold:
        tasks, classes = np.array(list(gold), dtype=np.intp), np.array(list(gold.values()), dtype=np.intp)
        posteriors[tasks] = 0.0
        posteriors[tasks, classes] = 1.0
    agrees = (encoded.labels == winning_classes(posteriors)[encoded.tasks]).astype(np.float64)
    answered = np.maximum(np.bincount(encoded.workers, minlength=sizes[1]), 1)
    return _consensus(encoded, posteriors, np.bincount(encoded.workers, agrees, sizes[1]) / answered)


def _consensus(encoded: EncodedAnswers, posteriors: FloatArray, reliabilities: FloatArray) -> Consensus:
    labels = winning_classes(posteriors)
    return Consensus(encoded, labels, posteriors[np.arange(len(labels)), labels], reliabilities)


def fixed_six(values: FloatArray) -> pa.Array:
    """``f"{v:.6f}"`` for values in ``[0, 1]``, as a string column built without a Python loop."""
    import pyarrow as pa
    import pyarrow.compute as pc

    millionths = np.rint(np.clip(values, 0.0, 1.0) * 1e6).astype(np.int64)
    whole = pa.array(millionths // 1_000_000).cast(pa.string())
    fraction = pc.utf8_lpad(pa.array(millionths % 1_000_000).cast(pa.string()), 6, "0")
    return pc.binary_join_element_wise(whole, fraction, ".")


# --- reading ---------------------------------------------------------------------------------


def read_answers(path: str, gold_labels: Sequence[str], progress: Progress) -> EncodedAnswers:
    """Read and factorise an answers file; a blank field (an empty id among the distinct ones) is reported
    with its line by :func:`read_rows`."""
    progress.stage(f"reading {path}")
    table = _fast_table(path, ANSWER_COLUMNS)
    if table is None:
        table = _python_table(path, ANSWER_COLUMNS)
    progress.stage(f"encoding {table.num_rows:,} answers")
    tasks, workers, labels = (table.column(name) for name in ANSWER_COLUMNS)
    encoded = encode_columns(tasks, workers, labels, extra_classes=gold_labels)
    del table  # the strings: only the distinct ids are kept
    if any(_has_blank(ids) for ids in (encoded.task_ids, encoded.worker_ids)) or "" in encoded.classes:
        _python_table(path, ANSWER_COLUMNS)  # raises, with the line
    return encoded


def read_table(path: str, columns: Sequence[str]) -> pa.Table:
    """The named columns of a CSV file as strings, checking header and fields like :func:`read_rows`."""
    table = _fast_table(path, columns)
    if table is None or any(_has_blank(table.column(name)) for name in columns):
        return _python_table(path, columns)
    return table


def _fast_table(path: str, columns: Sequence[str]) -> pa.Table | None:
    """The named columns as strings by pyarrow's reader, or ``None`` where it refuses the file."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    _check_header(path, columns)
    options = pcsv.ConvertOptions(
        include_columns=list(columns),
        column_types={name: pa.string() for name in columns},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        return pcsv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError):
        return None  # the exact reader says what is wrong, and where


def _has_blank(column: pa.ChunkedArray | pa.Array) -> bool:
    import pyarrow.compute as pc

    return bool(column.null_count) or bool(pc.any(pc.equal(pc.utf8_length(column), 0)).as_py())


def _check_header(path: str, columns: Sequence[str]) -> None:
    with open_input(path) as stream:
        header = next(csv.reader(stream), None)
    if header is None:
        raise InputError(f"{path}: the file is empty (expected a header {','.join(columns)})")
    missing = [column for column in columns if column not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} in header {','.join(header)}")


def _python_table(path: str, columns: Sequence[str]) -> pa.Table:
    """The slow, exact path: raises the error Python's ``csv`` finds, else gives its rows as a table."""
    import pyarrow as pa

    rows = read_rows(path, columns)
    return pa.table({name: pa.array([row[j] for row in rows], type=pa.string()) for j, name in enumerate(columns)})


def read_rows(path: str, columns: Sequence[str]) -> list[tuple[str, ...]]:
    """The named columns of a CSV file, as string tuples, checking header and fields."""
    with open_input(path) as stream:
        reader = csv.DictReader(stream)
        if reader.fieldnames is None:
            raise InputError(f"{path}: the file is empty (expected a header {','.join(columns)})")
        missing = [column for column in columns if column not in reader.fieldnames]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} in header {','.join(reader.fieldnames)}")
        return [_fields(row, columns, path, reader.line_num) for row in reader]


def _fields(row: dict[str, str | None], columns: Sequence[str], path: str, line: int) -> tuple[str, ...]:
    values = tuple(row[column] or "" for column in columns)
    blank = [column for column, value in zip(columns, values, strict=True) if not value]
    if blank:
        raise InputError(f"{path}, line {line}: blank or missing {', '.join(blank)}")
    return values


@contextmanager
def open_input(path: str) -> Iterator[TextIO]:
    """Open a UTF-8 CSV file, turning OS and decoding errors into :class:`InputError`."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            yield stream
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path}: cannot read: {error}") from error


# --- writing ---------------------------------------------------------------------------------


def write_table(path: str | None, table: pa.Table) -> None:
    """Write ``table`` as CSV (header, ``\\n`` line ends, quotes only where needed) to ``path`` or stdout."""
    if path is None:
        sys.stdout.flush()
        _write(sys.stdout.buffer, table)
        return
    try:
        with open(path, "wb") as stream:
            _write(stream, table)
    except OSError as error:
        raise InputError(f"{path}: cannot write: {error}") from error


def _write(stream: BinaryIO, table: pa.Table) -> None:
    """Unquoted by pyarrow when no value needs quotes (the usual ids), else quoted where needed by ``csv``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    options = pcsv.WriteOptions(quoting_style="none", quoting_header="none")
    try:
        sink = pa.BufferOutputStream()
        pcsv.write_csv(table, sink, options)
    except pa.ArrowInvalid:  # a value with a comma, quote or line break
        _write_quoted(stream, table)
        return
    try:
        stream.write(memoryview(sink.getvalue()))
        stream.flush()
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise BrokenPipeError(*error.args) from error
        raise


def _write_quoted(stream: BinaryIO, table: pa.Table) -> None:
    import io

    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(table.column_names)
    writer.writerows(zip(*(table.column(name).to_pylist() for name in table.column_names), strict=True))
    text.detach()


# --- progress --------------------------------------------------------------------------------


class Progress:
    """A one-line progress display on stderr, shown only for a terminal and a large input: each stage with the
    seconds since the start."""

    def __init__(self, enabled: bool, stream: TextIO = sys.stderr, clock: Any = time.perf_counter) -> None:
        self.enabled = enabled
        self.stream = stream
        self.clock = clock
        self.started = clock()

    @classmethod
    def for_file(cls, path: str) -> Progress:
        try:
            large = os.path.getsize(path) >= PROGRESS_MIN_BYTES
        except OSError:
            large = False
        return cls(large and sys.stderr.isatty())

    def stage(self, message: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\033[Kcrowd aggregate: {message} ({self.clock() - self.started:.1f} s)")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
