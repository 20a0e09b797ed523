"""`crowd aggregate --kind multi|rating|pairwise`: CSV in, consensus CSV out, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from crowd import cli


def run(*argv: str) -> int:
    return cli.main(["aggregate", *argv])


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


MULTI = (
    "task,worker,labels\n"
    "t1,ann,cat|dog\nt1,bob,cat|dog\nt1,cy,cat\n"
    "t2,ann,\nt2,bob,\nt2,cy,dog\n"
    "t3,ann,dog\nt3,bob,dog\nt3,cy,dog\n"
)
RATING = "task,worker,rating\nt1,ann,4\nt1,bob,4\nt1,cy,4\nt2,ann,1\nt2,bob,1\nt2,cy,2\nt3,ann,3\nt3,bob,3\nt3,cy,3\n"
PAIRWISE = (
    "task,worker,left,right,winner\n"
    "p1,ann,a,b,a\np1,bob,b,a,a\np1,cy,a,b,a\n"
    "p2,ann,b,c,b\np2,bob,b,c,b\np2,cy,c,b,tie\n"
    "p3,ann,a,c,a\np3,bob,c,a,a\n"
)


def test_multi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workers = tmp_path / "w.csv"
    assert run(write(tmp_path / "a.csv", MULTI), "--kind", "multi", "--workers-out", str(workers)) == 0
    out = rows(capsys.readouterr().out)
    assert [(r["task"], r["labels"]) for r in out] == [("t1", "cat|dog"), ("t2", ""), ("t3", "dog")]
    assert all(0 < float(r["confidence"]) <= 1 for r in out)
    quality = rows(workers.read_text())
    assert [r["worker"] for r in quality] == ["ann", "bob", "cy"]
    assert [r["answers"] for r in quality] == ["3", "3", "3"]
    assert all(0 <= float(r["low"]) <= float(r["high"]) <= 1 for r in quality)


def test_multi_gold_is_clamped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = write(tmp_path / "g.csv", "task,labels\nt2,dog\n")
    assert run(write(tmp_path / "a.csv", MULTI), "--kind", "multi", "--gold", gold) == 0
    out = {r["task"]: r for r in rows(capsys.readouterr().out)}
    assert out["t2"] == {"task": "t2", "labels": "dog", "confidence": "1.000000"}


def test_rating(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_path = tmp_path / "out.csv"
    assert run(write(tmp_path / "a.csv", RATING), "--kind", "rating", "--out", str(out_path)) == 0
    assert capsys.readouterr().out == ""
    out = rows(out_path.read_text())
    assert [(r["task"], r["rating"]) for r in out] == [("t1", "4"), ("t2", "1"), ("t3", "3")]
    gold = write(tmp_path / "g.csv", "task,rating\nt3,5\n")
    assert run(write(tmp_path / "a.csv", RATING), "--kind", "rating", "--gold", gold) == 0
    assert rows(capsys.readouterr().out)[2] == {"task": "t3", "rating": "5", "confidence": "1.000000"}


def test_pairwise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs, workers = tmp_path / "pairs.csv", tmp_path / "w.csv"
    answers = write(tmp_path / "a.csv", PAIRWISE)
    assert run(answers, "--kind", "pairwise", "--pairs-out", str(pairs), "--workers-out", str(workers)) == 0
    ranking = rows(capsys.readouterr().out)
    assert [(r["item"], r["rank"]) for r in ranking] == [("a", "1"), ("b", "2"), ("c", "3")]
    winners = {r["task"]: r["winner"] for r in rows(pairs.read_text())}
    assert winners["p1"] == "a"
    assert winners["p3"] == "a"
    assert len(rows(workers.read_text())) == 3
    gold = write(tmp_path / "g.csv", "task,winner\np2,c\n")
    assert run(answers, "--kind", "pairwise", "--gold", gold, "--pairs-out", str(pairs)) == 0
    capsys.readouterr()
    assert {r["task"]: r for r in rows(pairs.read_text())}["p2"] == {
        "task": "p2",
        "winner": "c",
        "confidence": "1.000000",
    }


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("multi", "", "empty"),
        ("multi", "task,worker\nt1,ann\n", "missing column(s) labels"),
        ("multi", "task,worker,labels\n", "no answers"),
        ("rating", "task,worker,rating\nt1,ann,4\nt1,bob,high\n", "line 3: rating 'high' is not a number"),
        ("rating", "task,worker,rating\nt1,,4\n", "line 2: blank or missing worker"),
        ("pairwise", "task,worker,left,right,winner\np1,ann,a,b,c\n", "line 2: winner 'c' is neither"),
        ("pairwise", "task,worker,left,right,winner\np1,ann,a,a,a\n", "line 2: left and right are the same"),
        ("pairwise", "task,worker,left,right,winner\np1,ann,a,b,a\np1,bob,a,c,a\n", "line 3: task 'p1' compares"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, content: str, message: str
) -> None:
    assert run(write(tmp_path / "a.csv", content), "--kind", kind) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_bad_gold_and_misplaced_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = write(tmp_path / "a.csv", PAIRWISE)
    gold = write(tmp_path / "g.csv", "task,winner\np1,z\n")
    assert run(answers, "--kind", "pairwise", "--gold", gold) == 2
    assert "line 2: winner 'z' is not an item of task 'p1'" in capsys.readouterr().err
    assert run(write(tmp_path / "r.csv", RATING), "--kind", "rating", "--pairs-out", str(tmp_path / "p.csv")) == 2
    assert "--pairs-out needs --kind pairwise" in capsys.readouterr().err
    assert run(str(tmp_path / "missing.csv"), "--kind", "multi") == 2
    assert "cannot read" in capsys.readouterr().err


def test_choice_is_still_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = write(tmp_path / "a.csv", "task,worker,label\nt1,ann,cat\nt1,bob,cat\n")
    assert run(answers) == 0
    assert rows(capsys.readouterr().out)[0]["label"] == "cat"


def test_the_open_kinds_run_through_the_same_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = write(
        tmp_path / "text.csv",
        "task,worker,text\nt1,a,The cat sat\nt1,b,the cat sat\nt1,c,the bat sat\nt2,a,hello world\nt2,b,Hello world\n",
    )
    assert run(answers, "--kind", "text") == 0
    found = {row["task"]: row for row in rows(capsys.readouterr().out)}
    assert found["t1"]["text"] == "the cat sat"
    assert found["t2"]["text"] == "hello world"
    assert 0 < float(found["t1"]["confidence"]) <= 1


def test_pairs_out_is_refused_for_the_open_kinds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = write(tmp_path / "text.csv", "task,worker,text\nt1,a,x\n")
    assert run(answers, "--kind", "text", "--pairs-out", str(tmp_path / "p.csv")) == 2
    assert "--pairs-out needs --kind pairwise" in capsys.readouterr().err
