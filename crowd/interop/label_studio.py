"""Label Studio's formats, as plain data: the choices of a labeling config,
tasks from an export, results as Label Studio annotations.

A Label Studio task export is a JSON list of ``{"id": 1, "data": {...}}``;
its labeling config is XML whose ``<Choices name=… toName=…>`` holds one
``<Choice value=…/>`` per label. Results go back as tasks carrying an
annotation (completed tasks: the consensus label) and a prediction whose
``score`` is the consensus confidence, so a team can review them there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

MAX_CONFIG_BYTES = 100_000
MODEL_VERSION = "crowd-consensus"


class LabelStudioError(ValueError):
    """The input is not a Label Studio config or export we can use."""


@dataclass(frozen=True, slots=True)
class Choices:
    from_name: str
    to_name: str
    labels: list[str]


def choices_of(config: str) -> Choices:
    """The first ``<Choices>`` control of a labeling config."""
    if len(config.encode()) > MAX_CONFIG_BYTES:
        raise LabelStudioError("labeling config too large")
    if "<!DOCTYPE" in config or "<!ENTITY" in config:
        raise LabelStudioError("labeling config may not declare a DTD or entities")
    try:
        root = ElementTree.fromstring(config)
    except ElementTree.ParseError as exc:
        raise LabelStudioError(f"labeling config is not XML: {exc}") from exc
    control = root if root.tag == "Choices" else root.find(".//Choices")
    if control is None:
        raise LabelStudioError("labeling config has no <Choices> control")
    labels = [choice.get("value") or choice.get("alias") for choice in control.iter("Choice")]
    if not labels or any(not label for label in labels):
        raise LabelStudioError("every <Choice> needs a value")
    name, to_name = control.get("name"), control.get("toName")
    if not name or not to_name:
        raise LabelStudioError("<Choices> needs name and toName")
    return Choices(name, to_name, [str(label) for label in labels])


@dataclass(frozen=True, slots=True)
class ImportedTask:
    external_id: object
    """The task's ``id``: a number becomes its decimal text; anything else is
    passed on as it is, for the batch's checks to accept (text) or refuse."""
    data: dict[str, Any]


def tasks_of(export: Any) -> list[ImportedTask]:
    """Tasks of a Label Studio export: each item's ``data``; its ``id``
    (if any) becomes the external id, so results map back."""
    if not isinstance(export, list):
        raise LabelStudioError("a Label Studio export is a JSON list of tasks")
    found = []
    for i, item in enumerate(export):
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            raise LabelStudioError(f"task {i} has no data object")
        task_id = item.get("id")
        numbered = isinstance(task_id, int) and not isinstance(task_id, bool)
        found.append(ImportedTask(str(task_id) if numbered else task_id, item["data"]))
    return found


def as_task(
    choices: Choices,
    external_id: str,
    data: dict[str, Any],
    status: str,
    label: str | None,
    confidence: float | None,
    posterior: dict[str, float] | None,
) -> dict[str, Any]:
    """One result as a Label Studio task: completed tasks carry the
    consensus as an annotation; any task with a posterior carries its top
    label as a prediction scored by its probability."""
    task: dict[str, Any] = {"data": {**data, "crowd_external_id": external_id}}
    if external_id.isdigit():
        task["id"] = int(external_id)
    if status == "completed" and label is not None:
        task["annotations"] = [{"result": [_choice(choices, label, confidence)], "ground_truth": False}]
    if posterior:
        top = max(posterior, key=lambda name: posterior[name])
        task["predictions"] = [
            {"model_version": MODEL_VERSION, "score": posterior[top], "result": [_choice(choices, top, posterior[top])]}
        ]
    return task


def _choice(choices: Choices, label: str, score: float | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "from_name": choices.from_name,
        "to_name": choices.to_name,
        "type": "choices",
        "value": {"choices": [label]},
    }
    if score is not None:
        result["score"] = score
    return result
