"""`crowd aggregate`: CSV in, consensus CSV out, clear errors."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest

from crowd import aggregate
from tests.support.datasets import DATASETS


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="crowd aggregate")
    aggregate.add_arguments(parser)
    return aggregate.run(parser.parse_args(argv))


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


ANSWERS = "task,worker,label,created_at\nt1,ann,cat,x\nt1,bob,cat,x\nt1,cy,dog,x\nt2,ann,dog,x\nt2,bob,dog,x\n"


@pytest.mark.parametrize("method", ["ds", "mv"])
def test_writes_consensus_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str) -> None:
    assert run(write(tmp_path / "a.csv", ANSWERS), "--method", method) == 0
    out, err = capsys.readouterr()
    rows = read_csv(out)
    assert [(row["task"], row["label"]) for row in rows] == [("t1", "cat"), ("t2", "dog")]
    assert all(0.5 < float(row["confidence"]) <= 1 for row in rows)
    assert err == ""


def test_gold_out_and_workers_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = write(tmp_path / "g.csv", "task,label\nt1,dog\n")
    out, workers = tmp_path / "out.csv", tmp_path / "workers.csv"
    code = run(write(tmp_path / "a.csv", ANSWERS), "--gold", gold, "--out", str(out), "--workers-out", str(workers))
    assert code == 0
    assert capsys.readouterr().out == ""
    assert read_csv(out.read_text())[0] == {"task": "t1", "label": "dog", "confidence": "1.000000"}
    worker_rows = read_csv(workers.read_text())
    assert [row["worker"] for row in worker_rows] == ["ann", "bob", "cy"]
    assert [row["answers"] for row in worker_rows] == ["2", "2", "1"]
    assert all(0 <= float(row["reliability"]) <= 1 for row in worker_rows)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("task,worker\nt1,ann\n", "missing column(s) label"),
        ("task,worker,label\nt1,ann\n", "line 2: blank or missing label"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    assert run(write(tmp_path / "a.csv", content)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_unreadable_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(tmp_path / "missing.csv")) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "latin1.csv").write_bytes(b"task,worker,label\n\xe9,a,b\n")
    assert run(str(tmp_path / "latin1.csv")) == 2
    assert "cannot read" in capsys.readouterr().err
    answers = write(tmp_path / "a.csv", ANSWERS)
    assert run(answers, "--gold", str(tmp_path / "nope.csv")) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_header_only_gives_an_empty_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(write(tmp_path / "a.csv", "task,worker,label\n")) == 0
    assert capsys.readouterr().out == "task,label,confidence\n"


def test_real_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = DATASETS / "rte"
    if not folder.is_dir():
        pytest.skip("shared datasets not available")
    assert run(str(folder / "answers.csv"), "--workers-out", str(tmp_path / "w.csv")) == 0
    predicted = {row["task"]: row["label"] for row in read_csv(capsys.readouterr().out)}
    with (folder / "gold.csv").open(encoding="utf-8") as stream:
        gold = {row["task"]: row["label"] for row in csv.DictReader(stream)}
    accuracy = sum(predicted[task] == label for task, label in gold.items()) / len(gold)
    assert accuracy > 0.9  # crowd-kit 1.4.2 DS: .928, MV: .875
    assert len(read_csv((tmp_path / "w.csv").read_text())) == 164
