"""Open answer kinds benchmark: free text, spans and boxes, each against its peer in the same run.

    .venv/bin/python bench/kinds_open.py [--quick] [--no-hrrasa] [--json bench/results/kinds_open.json]

``sections()`` returns the three sections as dicts (``bench/kinds.py`` can
include them); run as a script it prints a table, then the JSON.

1. ``crowdspeech_vldb21`` (``../shared/datasets-kinds``, read in place):
   corpus word error rate of our text consensus (default settings, no gold)
   against crowd-kit 1.4.2 ``ROVER`` with the tokenizer and normalisation of
   the dataset's PEERS.txt (published .0763), and ``TextHRRASA``. HRRASA
   needs sentence embeddings; crowd-kit ships no encoder (its docs use a
   sentence-transformers model fetched from a model hub, which this machine
   cannot reach), so the embeddings here are computed locally: TF-IDF of
   character 1–3-grams of the normalised answers, reduced to 256 dimensions
   by truncated SVD (scikit-learn, fitted on the answers themselves) — a
   stand-in, not a sentence encoder. crowd-kit 1.4.2's HRRASA also fails
   under pandas 3 (``HRRASA._aggregate_embeddings`` builds a float Series
   out of arrays: "setting an array element with a sequence"); the run
   replaces that one function by the same weighted mean kept as objects.
   Also: every single answer (reference), ours with equal weights (the
   alignment alone), ours with 10% of the tasks' gold clamped (WER on the
   other 90%), and the rank correlation of our worker reliability with each
   worker's true word accuracy (workers with 5+ answers).
2. Synthetic spans and 3. synthetic boxes, with known truth: workers of
   differing recall, precision (false spans/boxes), boundary or corner
   jitter and label accuracy, and 10% spammers; ours against a per-token
   majority vote (spans) and IoU-matched unweighted mean boxes kept when
   half the answers drew them (boxes); and the rank correlation of each
   method's worker scores with the workers' true quality (their answers'
   mean score against the truth). Three seeds (one with ``--quick``).

Fit times beside every figure; online-step times for one task of each kind.
``--quick`` runs the first 500 CrowdSpeech tasks and one seed.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import sys
import time
import timeit
import warnings
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report import emit

from crowd.consensus.box_geometry import BoxSet, grade_boxes
from crowd.consensus.box_model import TaskClusters
from crowd.consensus.boxes import BoxAggregator
from crowd.consensus.span_quality import span_f1
from crowd.consensus.span_tags import Span, Tokens, parse_spans, spans_to_tags, tags_to_spans
from crowd.consensus.spans import SpanAggregator
from crowd.consensus.text import TextAggregator
from crowd.consensus.words import edit_distance

DATASETS = Path(
    os.environ.get("CROWD_DATASETS_KINDS") or Path(__file__).resolve().parents[2] / "shared" / "datasets-kinds"
)
PUBLISHED_ROVER_WER = 0.0763
SPAN_LABELS = ("LOC", "ORG", "PER")
BOX_LABELS = ("car", "person", "sign")


def sections(datasets: Path = DATASETS, quick: bool = False, hrrasa: bool = True) -> dict[str, dict[str, Any]]:
    """The benchmark's three sections, measured now."""
    seeds = [0] if quick else [0, 1, 2]
    return {
        "crowdspeech_vldb21": crowdspeech_section(datasets / "crowdspeech_vldb21", 500 if quick else None, hrrasa),
        "synthetic_spans": synthetic_section(seeds, spans_run),
        "synthetic_boxes": synthetic_section(seeds, boxes_run),
    }


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def spearman(first: Sequence[float], second: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    ranks = [_average_ranks(np.asarray(values, dtype=np.float64)) for values in (first, second)]
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def online_microseconds(call: Callable[[], Any], number: int = 200) -> float:
    return min(timeit.repeat(call, number=number, repeat=3)) / number * 1e6


# --- 1. CrowdSpeech ------------------------------------------------------------------------


def peers_normalise(text: str) -> str:
    """PEERS.txt's normalisation: lower case, punctuation but apostrophes to spaces, whitespace collapsed."""
    text = re.sub(r"[^\w' ]+", " ", text.lower().replace("\n", " "))
    return " ".join(text.split())


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def corpus_wer(predicted: dict[Hashable, str], gold: dict[str, str], tasks: Sequence[str]) -> tuple[float, float]:
    """Corpus WER (total edits / total gold words) and mean per-task WER, over ``tasks``."""
    edits = [edit_distance(gold[t].split(), predicted[t].split()) for t in tasks]
    words = [len(gold[t].split()) for t in tasks]
    return sum(edits) / sum(words), float(np.mean([e / max(n, 1) for e, n in zip(edits, words, strict=True)]))


def crowdspeech_section(folder: Path, limit: int | None, hrrasa: bool) -> dict[str, Any]:
    rows = [(r["task"], r["worker"], r["text"]) for r in read_csv(folder / "answers.csv")]
    gold = {r["task"]: peers_normalise(r["text"]) for r in read_csv(folder / "gold.csv")}
    tasks = list(dict.fromkeys(task for task, _, _ in rows))
    if limit is not None:
        tasks = tasks[:limit]
        kept = set(tasks)
        rows = [row for row in rows if row[0] in kept]
    systems: dict[str, dict[str, Any]] = {}
    single = [edit_distance(gold[t].split(), peers_normalise(x).split()) for t, _, x in rows]
    systems["single answers (reference)"] = {"corpus_wer": sum(single) / sum(len(gold[t].split()) for t, _, _ in rows)}
    model, seconds = timed(lambda: TextAggregator().fit(rows))
    systems["ours"] = _text_row({t: r.text for t, r in model.results_.items()}, gold, tasks, seconds)
    plain, seconds = timed(lambda: TextAggregator(max_iter=1, prior_strength=1e12).fit(rows))
    systems["ours, equal weights"] = _text_row({t: r.text for t, r in plain.results_.items()}, gold, tasks, seconds)
    rover, seconds = timed(lambda: crowdkit_rover(rows))
    systems["crowd-kit ROVER"] = _text_row(rover, gold, tasks, seconds)
    if hrrasa:
        systems["crowd-kit TextHRRASA, local TF-IDF+SVD embeddings"] = crowdkit_hrrasa(rows, gold, tasks)
    return {
        "tasks": len(tasks),
        "answers": len(rows),
        "published_rover_wer": PUBLISHED_ROVER_WER,
        "systems": systems,
        **gold_experiment(rows, gold, tasks, model),
        "skill_spearman": text_skill_recovery(rows, gold, model),
        "online_step_us": online_microseconds(lambda: model.params_.consensus([(w, x) for t, w, x in rows[:7]])),
    }


def _text_row(
    predicted: dict[Hashable, str], gold: dict[str, str], tasks: Sequence[str], seconds: float
) -> dict[str, Any]:
    corpus, mean = corpus_wer(predicted, gold, tasks)
    return {"corpus_wer": corpus, "mean_wer": mean, "seconds": seconds}


def crowdkit_rover(rows: Sequence[tuple[str, str, str]]) -> dict[Hashable, str]:
    """crowd-kit's ROVER exactly as PEERS.txt ran it."""
    import pandas as pd
    from crowdkit.aggregation import ROVER

    frame = pd.DataFrame([(t, w, peers_normalise(x)) for t, w, x in rows], columns=["task", "worker", "text"])
    rover = ROVER(tokenizer=lambda s: s.split(" "), detokenizer=lambda tokens: " ".join(tokens))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        texts = rover.fit_predict(frame)
    return {task: " ".join(text.split()) for task, text in texts.items()}


def crowdkit_hrrasa(rows: Sequence[tuple[str, str, str]], gold: dict[str, str], tasks: Sequence[str]) -> dict[str, Any]:
    """crowd-kit's TextHRRASA on local embeddings (see the module notes for both caveats)."""
    import pandas as pd
    from crowdkit.aggregation import TextHRRASA
    from crowdkit.aggregation.embeddings import hrrasa
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    hrrasa.HRRASA._aggregate_embeddings = staticmethod(_aggregate_embeddings_pandas3)
    frame = pd.DataFrame([(t, w, peers_normalise(x)) for t, w, x in rows], columns=["task", "worker", "text"])
    start = time.perf_counter()
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)).fit_transform(frame["text"])
    embedded = TruncatedSVD(256, random_state=0).fit_transform(vectors)
    table = dict(zip(frame["text"], embedded, strict=True))
    embedding_seconds = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        texts, seconds = timed(lambda: TextHRRASA(encoder=table.__getitem__).fit_predict(frame, None))
    predicted = {task: " ".join(str(text).split()) for task, text in texts.items()}
    return _text_row(predicted, gold, tasks, seconds) | {"embedding_seconds": embedding_seconds}


def _aggregate_embeddings_pandas3(data: Any, weights: Any, true_embeddings: Any = None) -> Any:
    """crowd-kit's weighted mean embedding per task, kept as an object Series (pandas 3 refuses a float one)."""
    import pandas as pd

    data = data.join(weights, on=["task", "worker"])
    data["weighted_embedding"] = data.weight * data.embedding
    group = data.groupby("task", group_keys=False)
    sums, totals = group.weighted_embedding.apply(np.sum), group.weight.sum()
    means = pd.Series([s / totals[task] for task, s in sums.items()], index=sums.index, dtype=object)
    if true_embeddings is not None:
        means.update(true_embeddings)
    return means


def gold_experiment(
    rows: Sequence[tuple[str, str, str]], gold: dict[str, str], tasks: Sequence[str], model: TextAggregator
) -> dict[str, float]:
    """Corpus WER on 90% of the tasks, without gold and with the other 10% clamped to their gold text."""
    rng = np.random.default_rng(0)
    known = set(rng.choice(np.array(tasks), max(1, len(tasks) // 10), replace=False).tolist())
    scored = [t for t in tasks if t not in known]
    clamped = TextAggregator().fit(rows, gold={t: gold[t] for t in known})
    return {
        "ours_on_90": corpus_wer({t: r.text for t, r in model.results_.items()}, gold, scored)[0],
        "ours_10_gold_on_90": corpus_wer({t: r.text for t, r in clamped.results_.items()}, gold, scored)[0],
    }


def text_skill_recovery(rows: Sequence[tuple[str, str, str]], gold: dict[str, str], model: TextAggregator) -> float:
    """Spearman of our word accuracy with each worker's true word accuracy ``1 - their corpus WER`` (5+ answers)."""
    edits: dict[str, list[int]] = {}
    for task, worker, text in rows:
        reference = gold[task].split()
        edits.setdefault(worker, []).extend([edit_distance(reference, peers_normalise(text).split()), len(reference)])
    workers = [w for w, e in edits.items() if len(e) >= 10]
    truth = [1 - sum(edits[w][::2]) / sum(edits[w][1::2]) for w in workers]
    return spearman(truth, [model.workers_[w].reliability for w in workers])


# --- synthetic crowds ----------------------------------------------------------------------


def synthetic_section(seeds: Sequence[int], run: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    per_seed = [run(seed) for seed in seeds]
    numeric = [key for key, value in per_seed[0].items() if isinstance(value, int | float)]
    return {
        "seeds": list(seeds),
        "per_seed": per_seed,
        "mean": {k: statistics.fmean(r[k] for r in per_seed) for k in numeric},
    }


def crowd_profiles(rng: np.random.Generator, n_workers: int) -> dict[str, np.ndarray]:
    """Each worker's recall, false marks per answer, jitter, label accuracy; 10% spammers."""
    return {
        "spammer": rng.random(n_workers) < 0.1,
        "recall": rng.uniform(0.5, 0.98, n_workers),
        "false_marks": rng.uniform(0.0, 0.6, n_workers),
        "jitter": rng.uniform(0.0, 0.4, n_workers),
        "label_accuracy": rng.uniform(0.7, 1.0, n_workers),
    }


def assignments(rng: np.random.Generator, n_tasks: int, n_workers: int, overlap: int) -> list[tuple[int, int]]:
    return [(t, int(w)) for t in range(n_tasks) for w in rng.choice(n_workers, overlap, replace=False)]


# --- 2. spans ------------------------------------------------------------------------------


def span_crowd(seed: int, n_tasks: int = 400, n_workers: int = 40, overlap: int = 5) -> dict[str, Any]:
    """Texts of 20–50 words with 0–4 labelled spans of 1–3 words; each worker finds a span with their
    recall, moves a boundary by a word with probability ``jitter``, mislabels with ``1 - label_accuracy``
    and adds Poisson(``false_marks``) spans anywhere; spammers mark 0–4 random spans."""
    rng = np.random.default_rng(seed)
    texts, truth, layout = {}, {}, {}
    for t in range(n_tasks):
        words = [f"w{rng.integers(1000)}" for _ in range(rng.integers(20, 50))]
        starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
        ends = starts + np.array([len(w) for w in words])
        spans, position = [], 0
        for _ in range(rng.integers(0, 5)):
            first = position + int(rng.integers(0, 8))
            last = first + int(rng.integers(1, 4))
            if last > len(words):
                break
            spans.append((first, last, SPAN_LABELS[rng.integers(3)]))
            position = last + 1
        texts[t] = " ".join(words)
        truth[t] = [Span(int(starts[a]), int(ends[b - 1]), label) for a, b, label in spans]
        layout[t] = (starts, ends, len(words), spans)
    profile = crowd_profiles(rng, n_workers)
    rows = []
    for t, w in assignments(rng, n_tasks, n_workers, overlap):
        starts, ends, n, spans = layout[t]
        marked = (
            _random_spans(rng, n, int(rng.integers(0, 5)))
            if profile["spammer"][w]
            else _worker_spans(rng, spans, n, profile, w)
        )
        rows.append(
            (t, f"w{w}", [{"start": int(starts[a]), "end": int(ends[b - 1]), "label": label} for a, b, label in marked])
        )
    return {"rows": rows, "texts": texts, "truth": truth}


def _random_spans(rng: np.random.Generator, n: int, count: int) -> list[tuple[int, int, str]]:
    out = []
    for _ in range(count):
        first = int(rng.integers(0, n))
        out.append((first, min(n, first + int(rng.integers(1, 4))), SPAN_LABELS[rng.integers(3)]))
    return out


def _worker_spans(
    rng: np.random.Generator, spans: list[tuple[int, int, str]], n: int, profile: dict[str, np.ndarray], w: int
) -> list[tuple[int, int, str]]:
    out = []
    for first, last, label in spans:
        if rng.random() > profile["recall"][w]:
            continue
        if rng.random() < profile["jitter"][w]:
            first = min(n - 1, max(0, first + int(rng.integers(-1, 2))))
            last = min(n, max(first + 1, last + int(rng.integers(-1, 2))))
        if rng.random() > profile["label_accuracy"][w]:
            label = SPAN_LABELS[rng.integers(3)]
        out.append((first, last, label))
    return out + _random_spans(rng, n, int(rng.poisson(profile["false_marks"][w])))


def token_majority(
    rows: Sequence[tuple[int, str, list[dict[str, Any]]]], texts: dict[int, str]
) -> dict[int, list[Span]]:
    """The baseline: per token the IO tag most answers gave (ties: outside, then the first label); spans from runs."""
    index = {label: i for i, label in enumerate(SPAN_LABELS)}
    by_task: dict[int, list[tuple[Span, ...]]] = {}
    for task, _, value in rows:
        by_task.setdefault(task, []).append(parse_spans(value))
    out = {}
    for task, answers in by_task.items():
        tokens = Tokens.of_text(texts[task])
        tags = np.array([spans_to_tags(a, tokens, index, "io") for a in answers])
        counts = np.stack([(tags == k).sum(axis=0) for k in range(len(SPAN_LABELS) + 1)])
        out[task] = tags_to_spans(counts.argmax(axis=0), tokens, list(SPAN_LABELS), "io")
    return out


def span_scores(
    predicted: dict[int, list[Span]], truth: dict[int, list[Span]], texts: dict[int, str]
) -> dict[str, float]:
    """Micro span F1: exact (same start, end, label) and token overlap ((token, label) pairs)."""
    exact, token = np.zeros(3), np.zeros(3)
    for task, wanted in truth.items():
        found = predicted[task]
        exact += (len(set(found) & set(wanted)), len(found), len(wanted))
        marked, true_marks = _labelled_tokens(found, texts[task]), _labelled_tokens(wanted, texts[task])
        token += (len(marked & true_marks), len(marked), len(true_marks))
    return {"exact_f1": _f1(exact), "token_f1": _f1(token)}


def _labelled_tokens(spans: list[Span], text: str) -> set[tuple[int, int]]:
    tags = spans_to_tags(spans, Tokens.of_text(text), {label: i for i, label in enumerate(SPAN_LABELS)}, "io")
    return {(int(t), int(tags[t])) for t in np.flatnonzero(tags)}


def _f1(counts: np.ndarray) -> float:
    common, found, wanted = counts
    return float(2 * common / (found + wanted)) if found + wanted else 1.0


def spans_run(seed: int) -> dict[str, Any]:
    crowd = span_crowd(seed)
    rows, texts, truth = crowd["rows"], crowd["texts"], crowd["truth"]
    model, seconds = timed(lambda: SpanAggregator(labels=SPAN_LABELS).fit(rows, texts))
    ours = {t: [Span(s["start"], s["end"], s["label"]) for s in r.spans] for t, r in model.results_.items()}
    majority, majority_seconds = timed(lambda: token_majority(rows, texts))
    true_quality = _span_worker_scores(rows, texts, truth)
    baseline_skill = _span_worker_scores(rows, texts, majority)
    workers = sorted(true_quality)
    one_task = [(w, v) for t, w, v in rows if t == 0]
    return {
        **{f"ours_{k}": v for k, v in span_scores(ours, truth, texts).items()},
        **{f"majority_{k}": v for k, v in span_scores(majority, truth, texts).items()},
        "ours_seconds": seconds,
        "majority_seconds": majority_seconds,
        "ours_skill_spearman": spearman(
            [true_quality[w] for w in workers], [model.workers_[w].reliability for w in workers]
        ),
        "majority_skill_spearman": spearman([true_quality[w] for w in workers], [baseline_skill[w] for w in workers]),
        "online_step_us": online_microseconds(lambda: model.params_.consensus(one_task, texts[0])),
    }


def _span_worker_scores(
    rows: Sequence[tuple[int, str, list[dict[str, Any]]]], texts: dict[int, str], reference: dict[int, list[Span]]
) -> dict[str, float]:
    """Each worker's mean token F1 against ``reference`` spans (the truth: their true quality)."""
    scores: dict[str, list[float]] = {}
    for task, worker, value in rows:
        scores.setdefault(worker, []).append(
            span_f1(parse_spans(value), reference[task], "token", Tokens.of_text(texts[task])).f1
        )
    return {worker: float(np.mean(values)) for worker, values in scores.items()}


# --- 3. boxes ------------------------------------------------------------------------------


def box_crowd(seed: int, n_tasks: int = 400, n_workers: int = 40, overlap: int = 5) -> dict[str, Any]:
    """Images of 1000 × 800 px with 0–5 objects of 40–300 px; each worker draws an object with their recall,
    each corner off by N(0, (0.02 + jitter / 3) × the object's size), mislabels with ``1 - label_accuracy`` and
    adds Poisson(``false_marks``) boxes anywhere; spammers draw 0–4 random boxes."""
    rng = np.random.default_rng(seed)
    truth = {t: [_random_box(rng) for _ in range(rng.integers(0, 6))] for t in range(n_tasks)}
    profile = crowd_profiles(rng, n_workers)
    rows = []
    for t, w in assignments(rng, n_tasks, n_workers, overlap):
        if profile["spammer"][w]:
            drawn = [_random_box(rng) for _ in range(rng.integers(0, 5))]
        else:
            drawn = [
                b for b in (_drawn(rng, o, profile, w) for o in truth[t] if rng.random() < profile["recall"][w]) if b
            ]
            drawn += [_random_box(rng) for _ in range(rng.poisson(profile["false_marks"][w]))]
        rows.append((t, f"w{w}", drawn))
    return {"rows": rows, "truth": truth}


def _random_box(rng: np.random.Generator) -> dict[str, Any]:
    w, h = rng.uniform(40, 300, 2)
    return {
        "x": float(rng.uniform(0, 1000 - w)),
        "y": float(rng.uniform(0, 800 - h)),
        "w": float(w),
        "h": float(h),
        "label": BOX_LABELS[rng.integers(3)],
    }


def _drawn(
    rng: np.random.Generator, box: dict[str, Any], profile: dict[str, np.ndarray], w: int
) -> dict[str, Any] | None:
    spread = 0.02 + profile["jitter"][w] / 3
    x1, y1 = box["x"], box["y"]
    x2, y2 = x1 + box["w"], y1 + box["h"]
    dx1, dy1, dx2, dy2 = rng.normal(0, spread, 4) * [box["w"], box["h"], box["w"], box["h"]]
    x1, y1, x2, y2 = x1 + dx1, y1 + dy1, x2 + dx2, y2 + dy2
    if x2 <= x1 or y2 <= y1:
        return None
    label = box["label"] if rng.random() < profile["label_accuracy"][w] else BOX_LABELS[rng.integers(3)]
    return {"x": float(x1), "y": float(y1), "w": float(x2 - x1), "h": float(y2 - y1), "label": label}


def mean_boxes(rows: Sequence[tuple[int, str, list[dict[str, Any]]]]) -> dict[int, BoxSet]:
    """The baseline: the same IoU clusters, each box the unweighted mean, kept when half the answers drew it."""
    by_task: dict[int, list[tuple[str, BoxSet]]] = {}
    for task, worker, value in rows:
        by_task.setdefault(task, []).append((worker, BoxSet.of(value)))
    out = {}
    for task, answers in by_task.items():
        clusters = TaskClusters.of(task, answers, None, 0.5)
        sums, counts = np.zeros((clusters.n_clusters, 4)), np.zeros(clusters.n_clusters)
        labels: list[dict[str, int]] = [{} for _ in range(clusters.n_clusters)]
        for answer, members in zip(clusters.answers, clusters.members, strict=True):
            np.add.at(sums, members, answer.corners())
            np.add.at(counts, members, 1.0)
            for label, cluster in zip(answer.labels, members.tolist(), strict=True):
                labels[cluster][label] = labels[cluster].get(label, 0) + 1
        kept = [c for c in range(clusters.n_clusters) if 2 * counts[c] >= len(answers)]
        corners = sums[kept] / counts[kept][:, np.newaxis] if kept else np.zeros((0, 4))
        coords = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
        out[task] = BoxSet(coords, tuple(min(labels[c], key=lambda name, c=c: (-labels[c][name], name)) for c in kept))
    return out


def box_scores(predicted: dict[int, BoxSet], truth: dict[int, list[dict[str, Any]]]) -> dict[str, float]:
    """Mean IoU over true boxes (a missed one counts 0; same label, IoU ≥ .5 to match), missed and extra boxes."""
    iou_sum, objects, missed, extra = 0.0, 0, 0, 0
    for task, wanted in truth.items():
        grade = grade_boxes(predicted[task], BoxSet.of(wanted))
        iou_sum += grade.mean_iou * len(wanted)
        objects += len(wanted)
        missed += grade.missed
        extra += grade.extra
    return {"mean_iou": iou_sum / objects, "missed": missed, "extra": extra, "objects": objects}


def boxes_run(seed: int) -> dict[str, Any]:
    crowd = box_crowd(seed)
    rows, truth = crowd["rows"], crowd["truth"]
    model, seconds = timed(lambda: BoxAggregator(labels=BOX_LABELS).fit(rows))
    baseline, baseline_seconds = timed(lambda: mean_boxes(rows))
    true_quality = _box_worker_scores(rows, {t: BoxSet.of(b) for t, b in truth.items()})
    baseline_skill = _box_worker_scores(rows, baseline)
    workers = sorted(true_quality)
    one_task = [(w, v) for t, w, v in rows if t == 0]
    ours = box_scores({t: r.box_set() for t, r in model.results_.items()}, truth)
    plain = box_scores(baseline, truth)
    return {
        **{f"ours_{k}": v for k, v in ours.items()},
        **{f"mean_{k}": v for k, v in plain.items() if k != "objects"},
        "ours_seconds": seconds,
        "mean_seconds": baseline_seconds,
        "ours_skill_spearman": spearman(
            [true_quality[w] for w in workers], [model.workers_[w].reliability for w in workers]
        ),
        "mean_skill_spearman": spearman([true_quality[w] for w in workers], [baseline_skill[w] for w in workers]),
        "online_step_us": online_microseconds(lambda: model.params_.consensus(one_task)),
    }


def _box_worker_scores(
    rows: Sequence[tuple[int, str, list[dict[str, Any]]]], reference: dict[int, BoxSet]
) -> dict[str, float]:
    """Each worker's mean IoU-weighted Jaccard against ``reference`` (against the truth: their true quality)."""
    scores: dict[str, list[float]] = {}
    for task, worker, value in rows:
        scores.setdefault(worker, []).append(grade_boxes(BoxSet.of(value), reference[task]).score)
    return {worker: float(np.mean(values)) for worker, values in scores.items()}


# --- report --------------------------------------------------------------------------------


def checks(report: dict[str, dict[str, Any]]) -> dict[str, bool]:
    speech = report["crowdspeech_vldb21"]["systems"]
    spans, boxes = report["synthetic_spans"]["mean"], report["synthetic_boxes"]["mean"]
    return {
        "text: WER below crowd-kit ROVER's (same run)": speech["ours"]["corpus_wer"]
        < speech["crowd-kit ROVER"]["corpus_wer"],
        "text: WER below the published ROVER .0763": speech["ours"]["corpus_wer"] < PUBLISHED_ROVER_WER,
        "spans: exact span F1 above token majority": spans["ours_exact_f1"] > spans["majority_exact_f1"],
        "spans: skill recovery above majority agreement": spans["ours_skill_spearman"]
        > spans["majority_skill_spearman"],
        "boxes: mean IoU above the plain mean": boxes["ours_mean_iou"] > boxes["mean_mean_iou"],
        "boxes: fewer missed boxes": boxes["ours_missed"] < boxes["mean_missed"],
        "boxes: skill recovery above mean-box agreement": boxes["ours_skill_spearman"] > boxes["mean_skill_spearman"],
    }


def print_table(report: dict[str, dict[str, Any]]) -> None:
    speech = report["crowdspeech_vldb21"]
    print(f"crowdspeech_vldb21: {speech['tasks']:,} tasks, {speech['answers']:,} answers (published ROVER .0763)")
    print(f"  {'system':<52}{'corpus WER':>11}{'mean WER':>10}{'fit s':>8}")
    for name, row in speech["systems"].items():
        mean = f"{row['mean_wer']:>10.4f}" if "mean_wer" in row else f"{'':>10}"
        seconds = f"{row['seconds']:>8.1f}" if "seconds" in row else ""
        print(f"  {name:<52}{row['corpus_wer']:>11.4f}{mean}{seconds}")
    on_90, with_gold = speech["ours_on_90"], speech["ours_10_gold_on_90"]
    print(f"  on 90% of tasks: ours {on_90:.4f}, with the other 10% as gold {with_gold:.4f}")
    print(f"  worker skill recovery (Spearman with true word accuracy): {speech['skill_spearman']:.3f}")
    print(f"  online step, one 7-answer task: {speech['online_step_us']:.0f} µs")
    spans = report["synthetic_spans"]["mean"]
    print(
        f"\nsynthetic spans (mean of seeds {report['synthetic_spans']['seeds']}; 400 texts, 40 workers, 5 answers each)"
    )
    print(f"  {'method':<24}{'exact F1':>9}{'token F1':>9}{'skill ρ':>9}{'fit s':>8}")
    for name, key in (("ours (token DS, BIO)", "ours"), ("token majority vote", "majority")):
        figures = [spans[f"{key}_{k}"] for k in ("exact_f1", "token_f1", "skill_spearman")]
        print(f"  {name:<24}" + "".join(f"{f:>9.3f}" for f in figures) + f"{spans[f'{key}_seconds']:>8.2f}")
    print(f"  online step, one task: {spans['online_step_us']:.0f} µs")
    boxes = report["synthetic_boxes"]["mean"]
    seeds = report["synthetic_boxes"]["seeds"]
    objects = boxes["ours_objects"]
    print(f"\nsynthetic boxes (mean of seeds {seeds}; 400 images, {objects:.0f} objects, 40 workers, 5 answers each)")
    print(f"  {'method':<24}{'mean IoU':>9}{'missed':>8}{'extra':>8}{'skill ρ':>9}{'fit s':>8}")
    for name, key in (("ours (EM)", "ours"), ("IoU-matched mean", "mean")):
        figures = boxes[f"{key}_mean_iou"], boxes[f"{key}_missed"], boxes[f"{key}_extra"]
        rest = f"{boxes[f'{key}_skill_spearman']:>9.3f}{boxes[f'{key}_seconds']:>8.2f}"
        print(f"  {name:<24}{figures[0]:>9.3f}{figures[1]:>8.1f}{figures[2]:>8.1f}{rest}")
    print(f"  online step, one task: {boxes['online_step_us']:.0f} µs")
    print("\ntargets:")
    for name, met in checks(report).items():
        print(f"  {'met    ' if met else 'NOT MET'}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="500 CrowdSpeech tasks, one seed")
    parser.add_argument("--no-hrrasa", action="store_true", help="skip crowd-kit's HRRASA (the slowest peer)")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    report = sections(args.datasets, args.quick, not args.no_hrrasa)
    print_table(report)
    emit({**report, "checks": checks(report)}, args.json)


if __name__ == "__main__":
    main()
