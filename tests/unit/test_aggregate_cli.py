"""`crowd aggregate`: CSV in, consensus CSV out, clear errors."""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
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


def test_a_blank_field_deep_in_the_file_is_reported_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"t{i},w{i % 3},cat\n" for i in range(6)) + "t6,,dog\n"
    assert run(write(tmp_path / "a.csv", "task,worker,label\n" + rows)) == 2
    err = capsys.readouterr().err
    assert "line 8: blank or missing worker" in err
    assert err.count("\n") == 1


def test_a_byte_order_mark_and_extra_columns_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ANSWERS.encode())
    assert run(str(path)) == 0
    assert [row["task"] for row in read_csv(capsys.readouterr().out)] == ["t1", "t2"]


def test_ids_that_need_quotes_are_quoted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = 'task,worker,label\n"a,1",ann,"say ""hi"""\n"a,1",bob,"say ""hi"""\nb,ann,no\n'
    assert run(write(tmp_path / "a.csv", answers)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == '"a,1","say ""hi""",' + out.splitlines()[1].rsplit(",", 1)[1]
    assert [(row["task"], row["label"]) for row in read_csv(out)] == [("a,1", 'say "hi"'), ("b", "no")]


def test_output_is_the_fit_written_column_by_column(tmp_path: Path) -> None:
    # Every task once, in order of first appearance; the confidence is the posterior of the label, 6 decimals.
    answers = "task,worker,label\n" + "".join(f"t{i % 7},w{i % 5},{'ab'[i % 3 == 0]}\n" for i in range(60))
    out = tmp_path / "out.csv"
    assert run(write(tmp_path / "a.csv", answers), "--out", str(out)) == 0
    rows = read_csv(out.read_text())
    assert [row["task"] for row in rows] == [f"t{i}" for i in range(7)]
    encoded = aggregate.read_answers(str(tmp_path / "a.csv"), [], aggregate.Progress(False))
    fitted = aggregate.fit_ds(encoded, {})
    for row, label, confidence in zip(rows, fitted.labels, fitted.confidences, strict=True):
        assert row["label"] == encoded.classes[label]
        assert row["confidence"] == f"{confidence:.6f}"


def test_progress_names_each_stage_on_a_terminal() -> None:
    stream, ticks = io.StringIO(), iter(range(100))
    progress = aggregate.Progress(True, stream, clock=lambda: float(next(ticks)))
    progress.stage("reading a.csv")
    progress.stage("fitting Dawid-Skene on 10 answers")
    progress.done()
    assert stream.getvalue() == (
        "\r\033[Kcrowd aggregate: reading a.csv (1.0 s)"
        "\r\033[Kcrowd aggregate: fitting Dawid-Skene on 10 answers (2.0 s)\r\033[K"
    )
    silent = io.StringIO()
    aggregate.Progress(False, silent).stage("reading")
    assert silent.getvalue() == ""


def test_the_command_never_imports_the_server(tmp_path: Path) -> None:
    answers = write(tmp_path / "a.csv", ANSWERS)
    probe = (
        "import sys; from crowd.cli import main; code = main(['aggregate', sys.argv[1], '--out', sys.argv[2]]); "
        "loaded = [m for m in ('aiohttp', 'sqlalchemy', 'pydantic', 'crowd.app') if m in sys.modules]; "
        "print(code, loaded)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, answers, str(tmp_path / "out.csv")], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "0 []"
    assert read_csv((tmp_path / "out.csv").read_text())[0]["task"] == "t1"
