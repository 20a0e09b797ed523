"""Integer coding of (task, worker, label) rows, and back."""

from __future__ import annotations

import numpy as np
import pytest

from crowd.consensus.encoding import answer_arrays, decode_labels, encode_answers, encode_gold

ROWS = [("t2", "ann", "dog"), ("t1", "bob", "cat"), ("t2", "bob", "cat"), ("t1", "ann", "cat")]


def test_codes_in_order_of_first_appearance_with_sorted_classes() -> None:
    coded = encode_answers(ROWS)
    assert coded.codebook.task_ids == ("t2", "t1")
    assert coded.codebook.worker_ids == ("ann", "bob")
    assert coded.codebook.classes == ("cat", "dog")
    np.testing.assert_array_equal(coded.tasks, [0, 1, 0, 1])
    np.testing.assert_array_equal(coded.workers, [0, 1, 1, 0])
    np.testing.assert_array_equal(coded.labels, [1, 0, 0, 0])


def test_fixed_label_list_and_seeded_ids() -> None:
    coded = encode_answers(ROWS, classes=["dog", "cat", "other"], task_ids=["t0"], worker_ids=["cy", "bob"])
    assert coded.codebook.classes == ("dog", "cat", "other")
    assert coded.codebook.task_ids == ("t0", "t2", "t1")
    assert coded.codebook.worker_ids == ("cy", "bob", "ann")
    np.testing.assert_array_equal(coded.labels, [0, 1, 1, 1])


def test_label_outside_the_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="dog"):
        encode_answers(ROWS, classes=["cat"])


def test_gold_and_decoding() -> None:
    coded = encode_answers(ROWS)
    assert encode_gold({"t1": "dog", "unseen": "cat"}, coded.codebook) == {1: 1}
    with pytest.raises(ValueError, match="bird"):
        encode_gold({"t1": "bird"}, coded.codebook)
    assert decode_labels(np.array([1, 0]), coded.codebook) == {"t2": "dog", "t1": "cat"}


def test_empty_rows() -> None:
    coded = encode_answers([])
    assert len(coded) == 0
    assert coded.codebook.n_classes == 0


def test_answer_arrays_sizes() -> None:
    arrays = answer_arrays([0, 2], [1, 0], [0, 0], n_classes=3)
    assert (arrays.n_tasks, arrays.n_workers, arrays.n_classes) == (3, 2, 3)
    with pytest.raises(ValueError, match="integer"):
        answer_arrays([0.5], [0], [0])
