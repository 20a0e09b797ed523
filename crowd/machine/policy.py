"""Pure rules for predictions."""

from __future__ import annotations

MODEL_PREFIX = "model:"
"""Consensus sees model ``gpt-x`` as the worker ``model:gpt-x``."""


def model_worker(model: str) -> str:
    return MODEL_PREFIX + model


def initial_target(min_overlap: int, min_human_answers: int, models: int) -> int:
    """Human answers a new task asks for at first: its models' votes stand
    in for human ones toward ``min_overlap``, never below
    ``min_human_answers``. Dynamic overlap asks for more if the votes are
    not confident enough."""
    return max(min_human_answers, min_overlap - models, 0)


def saved_answers(min_overlap: int, human_answers: int, models: int) -> float:
    """Human answers a completed task did without, credited to each of its
    ``models`` in equal shares."""
    if models == 0:
        return 0.0
    return max(0, min_overlap - human_answers) / models
