"""``crowd aggregate --kind text|spans|boxes``: consensus of open answers from a CSV, without a server.

Inputs (UTF-8 CSV with a header; other columns are ignored; fields may hold
line breaks when quoted):

* ``text``: ``task,worker,text``; gold ``task,text``.
* ``spans``: ``task,worker,value`` with the answer's JSON
  (``[{"start", "end", "label"}]``, character offsets), and optionally a
  ``text`` column with the task's text (tokens then come from it; without
  it, from the answers' span boundaries); gold ``task,value``.
* ``boxes``: ``task,worker,value`` with ``[{"x", "y", "w", "h", "label"}]``
  (pixels, or fractions of the image: one unit per task); gold ``task,value``.

Output (stdout unless ``out``), one row per task in order of first
appearance: ``task,text,confidence`` for text, ``task,value,confidence``
for spans and boxes, the value as JSON. Confidence is the probability that
the whole consensus is right (see docs/consensus-open-kinds.md); gold tasks
keep their gold value with confidence 1. ``workers_out`` gets
``worker,reliability,low,high,answers,gold_answers`` (90% credible interval).

Errors (unreadable or empty file, missing column, blank task or worker,
malformed JSON or answer, with the line it starts on) print one line to
stderr and return exit status 2.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from crowd.consensus.box_geometry import BoxSet
from crowd.consensus.boxes import BoxAggregator
from crowd.consensus.span_tags import parse_spans
from crowd.consensus.spans import SpanAggregator
from crowd.consensus.text import TextAggregator
from crowd.consensus.worker_scores import WorkerReliability

KINDS = ("text", "spans", "boxes")
EXIT_USAGE = 2


class InputError(Exception):
    """A problem with an input file, reported as one line on stderr."""


@dataclass(frozen=True)
class Row:
    """One CSV record's named fields and the line it starts on."""

    line: int
    fields: dict[str, str]


def aggregate_open(
    kind: str,
    answers_path: str,
    out: str | None = None,
    gold_path: str | None = None,
    workers_out: str | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the consensus of ``kind`` on a CSV of answers; returns the process exit status (0, or 2 on bad input)."""
    try:
        if kind not in KINDS:
            raise InputError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        results, header, workers = _AGGREGATORS[kind](answers_path, gold_path)
        if workers_out:
            write_table(
                workers_out, ("worker", "reliability", "low", "high", "answers", "gold_answers"), worker_rows(workers)
            )
        write_table(out, header, iter(results))
    except InputError as error:
        print(f"crowd aggregate: {error}", file=stderr or sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # stdout piped into a reader that stopped early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


Outcome = tuple[list[tuple[object, ...]], tuple[str, ...], Mapping[Hashable, WorkerReliability]]


def aggregate_text(answers_path: str, gold_path: str | None) -> Outcome:
    rows = read_rows(answers_path, ("task", "worker", "text"), blank_ok=("text",))
    gold: dict[Hashable, str] = {
        r.fields["task"]: r.fields["text"] for r in read_rows(gold_path, ("task", "text"), ("text",))
    }
    model = TextAggregator().fit(((r.fields["task"], r.fields["worker"], r.fields["text"]) for r in rows), gold)
    out: list[tuple[object, ...]] = [
        (task, model.results_[task].text, _confidence(model.results_[task].confidence)) for task in _tasks(rows)
    ]
    return out, ("task", "text", "confidence"), model.workers_


def aggregate_spans(answers_path: str, gold_path: str | None) -> Outcome:
    rows = read_rows(answers_path, ("task", "worker", "value"))
    answers = [(r.fields["task"], r.fields["worker"], parsed(r, answers_path, parse_spans)) for r in rows]
    texts: dict[Hashable, str] = {r.fields["task"]: r.fields["text"] for r in rows if r.fields.get("text")}
    gold: dict[Hashable, Any] = {r.fields["task"]: parsed(r, gold_path, parse_spans) for r in gold_rows(gold_path)}
    model = SpanAggregator().fit(answers, texts, gold)
    out = [(task, _json(model.results_[task].value), model.results_[task].confidence) for task in _tasks(rows)]
    return _formatted(out), ("task", "value", "confidence"), model.workers_


def aggregate_boxes(answers_path: str, gold_path: str | None) -> Outcome:
    rows = read_rows(answers_path, ("task", "worker", "value"))
    answers = [(r.fields["task"], r.fields["worker"], parsed(r, answers_path, BoxSet.of)) for r in rows]
    gold: dict[Hashable, Any] = {r.fields["task"]: parsed(r, gold_path, BoxSet.of) for r in gold_rows(gold_path)}
    model = BoxAggregator().fit(answers, gold)
    out = [(task, _json(model.results_[task].value), model.results_[task].confidence) for task in _tasks(rows)]
    return _formatted(out), ("task", "value", "confidence"), model.workers_


_AGGREGATORS: dict[str, Callable[[str, str | None], Outcome]] = {
    "text": aggregate_text,
    "spans": aggregate_spans,
    "boxes": aggregate_boxes,
}


def gold_rows(path: str | None) -> list[Row]:
    return read_rows(path, ("task", "value"))


def parsed(row: Row, path: str | None, parse: Callable[[Any], Any]) -> Any:
    """The row's ``value`` JSON, parsed into the kind's answer; errors name the file and line."""
    try:
        value = json.loads(row.fields["value"])
    except json.JSONDecodeError as error:
        raise InputError(f"{path}, line {row.line}: value is not valid JSON: {error.msg}") from error
    try:
        return parse(value)
    except ValueError as error:
        raise InputError(f"{path}, line {row.line}: {error}") from error


def _tasks(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(row.fields["task"] for row in rows))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _confidence(value: float) -> str:
    return f"{value:.6f}"


def _formatted(rows: list[tuple[str, str, float]]) -> list[tuple[object, ...]]:
    return [(task, value, _confidence(confidence)) for task, value, confidence in rows]


def worker_rows(workers: Mapping[Hashable, WorkerReliability]) -> Iterator[tuple[object, ...]]:
    for worker, standing in workers.items():
        figures = (standing.reliability, standing.low, standing.high)
        yield (worker, *(f"{figure:.6f}" for figure in figures), standing.answers, standing.gold_answers)


def read_rows(path: str | None, columns: Sequence[str], blank_ok: Sequence[str] = ()) -> list[Row]:
    """The named columns (and any ``text`` column) of a CSV file, checking the header and blank fields."""
    if path is None:
        return []
    with open_input(path) as stream:
        reader = csv.DictReader(stream)
        if reader.fieldnames is None:
            raise InputError(f"{path}: the file is empty (expected a header {','.join(columns)})")
        missing = [column for column in columns if column not in reader.fieldnames]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} in header {','.join(reader.fieldnames)}")
        rows = []
        start = reader.line_num + 1
        for record in reader:
            rows.append(_row(record, columns, blank_ok, path, start))
            start = reader.line_num + 1
        return rows


def _row(record: dict[str, str | None], columns: Sequence[str], blank_ok: Sequence[str], path: str, line: int) -> Row:
    fields = {name: record.get(name) or "" for name in (*columns, "text")}
    blank = [column for column in columns if column not in blank_ok and not fields[column].strip()]
    if blank:
        raise InputError(f"{path}, line {line}: blank or missing {', '.join(blank)}")
    return Row(line, fields)


@contextmanager
def open_input(path: str) -> Iterator[TextIO]:
    """Open a UTF-8 CSV file, turning OS, decoding and CSV errors into :class:`InputError`."""
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
