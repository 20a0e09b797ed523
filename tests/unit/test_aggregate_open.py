"""``crowd aggregate --kind text|spans|boxes``: CSV in, consensus CSV out, clear errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from crowd.aggregate_open import aggregate_open


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


TEXTS = (
    "task,worker,text\n"
    't1,ann,"The cat\nsat."\n'
    "t1,bob,the cat sat\n"
    "t1,cy,the hat sat\n"
    "t2,ann,hello world\n"
    "t2,bob,hello word\n"
)


def test_text_consensus_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert aggregate_open("text", write(tmp_path / "a.csv", TEXTS)) == 0
    out, err = capsys.readouterr()
    rows = read_csv(out)
    assert rows[0]["text"] == "the cat sat"
    assert [row["task"] for row in rows] == ["t1", "t2"]
    assert all(0 < float(row["confidence"]) <= 1 for row in rows)
    assert err == ""


def test_text_gold_and_workers_out(tmp_path: Path) -> None:
    gold = write(tmp_path / "g.csv", "task,text\nt2,Hello world!\n")
    out, workers = tmp_path / "out.csv", tmp_path / "w.csv"
    code = aggregate_open("text", write(tmp_path / "a.csv", TEXTS), str(out), gold, str(workers))
    assert code == 0
    assert read_csv(out.read_text())[1] == {"task": "t2", "text": "hello world", "confidence": "1.000000"}
    standing = {row["worker"]: row for row in read_csv(workers.read_text())}
    assert set(standing) == {"ann", "bob", "cy"}
    assert standing["bob"]["gold_answers"] == "1"
    assert standing["ann"]["answers"] == "2"
    for row in standing.values():
        assert 0 <= float(row["low"]) <= float(row["reliability"]) <= float(row["high"]) <= 1


SPANS = [
    ("ann", [{"start": 0, "end": 12, "label": "PER"}]),
    ("bob", [{"start": 0, "end": 12, "label": "PER"}]),
    ("cy", [{"start": 7, "end": 12, "label": "PER"}]),
]


def csv_of(rows: list[tuple[str, ...]], header: str) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return stream.getvalue()


def test_spans_with_and_without_the_task_text(tmp_path: Path) -> None:
    text = "Barack Obama met Angela Merkel."
    with_text = csv_of([("t1", w, json.dumps(v), text) for w, v in SPANS], "task,worker,value,text")
    without = csv_of([("t1", w, json.dumps(v)) for w, v in SPANS], "task,worker,value")
    for name, content in (("with.csv", with_text), ("without.csv", without)):
        out = tmp_path / f"out-{name}"
        assert aggregate_open("spans", write(tmp_path / name, content), str(out)) == 0
        (row,) = read_csv(out.read_text())
        assert json.loads(row["value"]) == [{"start": 0, "end": 12, "label": "PER"}]
        assert 0 < float(row["confidence"]) <= 1


def test_boxes_with_gold(tmp_path: Path) -> None:
    def boxes(x: float) -> str:
        return json.dumps([{"x": x, "y": 0, "w": 10, "h": 10, "label": "car"}])

    answers = csv_of([("i1", "ann", boxes(0)), ("i1", "bob", boxes(1)), ("i2", "ann", "[]")], "task,worker,value")
    gold = write(tmp_path / "g.csv", csv_of([("i1", boxes(0.5))], "task,value"))
    out = tmp_path / "out.csv"
    assert aggregate_open("boxes", write(tmp_path / "a.csv", answers), str(out), gold) == 0
    rows = read_csv(out.read_text())
    assert json.loads(rows[0]["value"]) == json.loads(boxes(0.5))
    assert rows[0]["confidence"] == "1.000000"
    assert json.loads(rows[1]["value"]) == []


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("text", "", "the file is empty"),
        ("text", "task,worker\nt1,ann\n", "missing column(s) text"),
        ("text", "task,worker,text\n,ann,hi\n", "line 2: blank or missing task"),
        (
            "spans",
            'task,worker,value\nt1,ann,[]\n"t2","bob","[{""start"": 1,\n ""end"": }]"\n',
            "line 3: value is not valid JSON",
        ),
        (
            "spans",
            'task,worker,value\nt1,ann,"[{""start"": 5, ""end"": 2, ""label"": ""x""}]"\n',
            "line 2: span 0 needs",
        ),
        ("boxes", 'task,worker,value\nt1,ann,"{""x"": 1}"\n', "line 2: a boxes answer is a list"),
        ("boxes", "task,worker,value\nt1,ann,[]\nt1,bob,nope\n", "line 3: value is not valid JSON"),
        ("pies", "task,worker,value\n", "unknown kind 'pies'"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, kind: str, content: str, message: str) -> None:
    err = io.StringIO()
    out = tmp_path / "out.csv"
    assert aggregate_open(kind, write(tmp_path / "a.csv", content), str(out), stderr=err) == 2
    assert message in err.getvalue()
    assert err.getvalue().count("\n") == 1
    assert not out.exists()


def test_unreadable_files_exit_2(tmp_path: Path) -> None:
    err = io.StringIO()
    assert aggregate_open("text", str(tmp_path / "missing.csv"), stderr=err) == 2
    assert "cannot read" in err.getvalue()
    err = io.StringIO()
    answers = write(tmp_path / "a.csv", TEXTS)
    assert aggregate_open("text", answers, gold_path=str(tmp_path / "nope.csv"), stderr=err) == 2
    assert "nope.csv" in err.getvalue()
