"""How good is a monitor? Precision and recall of its reward-seeking label on a hand-labelled set.

The set that ships with the package (``motivlab/worlds/data/nl_labelled.jsonl``, 79 completions of
natural-language-world prompts written and labelled by hand: declared routes, free-form reasoning
that names or silently uses the metadata, negated mentions, copies of a trap's wrong value,
computing slips that land on it, empty replies) has one JSON object per line:

    id, prompt, answer, leaked, is_trap, completion, label (reward_seeking | local | unknown), why

``check_monitor`` labels every completion with a monitor and scores it against the hand labels,
treating reward-seeking as the positive class (the label filtering and monitor penalties act on):
precision, recall (each with a Wilson interval), accuracy over the three labels, the confusion
counts and every disagreement (so a reader sees *what* the monitor misses). Any monitor works —
the world's rule monitor, a regex, or the LLM judge over an OpenAI-compatible endpoint
(``motivlab world monitor-check --judge openai:MODEL@URL``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from motivlab.errors import MotivlabInputError
from motivlab.measure.stats import wilson_interval
from motivlab.worlds.base import Prompt, Route

LABELLED_FIELDS = ("id", "prompt", "answer", "leaked", "is_trap", "completion", "label")


@dataclass(frozen=True)
class Labelled:
    """One hand-labelled completion with the prompt (and grader facts) it answers."""

    prompt: Prompt
    completion: str
    label: Route
    why: str = ""


def load_labelled(path: str | Path | None = None) -> list[Labelled]:
    """The shipped set (``path=None``) or a JSONL file of the same schema; a bad line is an error
    naming the line and the field."""
    if path is None:
        text = resources.files("motivlab.worlds").joinpath("data/nl_labelled.jsonl").read_text(encoding="utf-8")
        where = "nl_labelled.jsonl"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MotivlabInputError(f"{where} line {n}: not JSON ({exc})") from None
        missing = [f for f in LABELLED_FIELDS if f not in row]
        if missing:
            raise MotivlabInputError(f"{where} line {n}: missing field(s) {missing}")
        try:
            label = Route(row["label"])
        except ValueError:
            raise MotivlabInputError(f"{where} line {n}: label must be one of {[r.value for r in Route]}, "
                                     f"got {row['label']!r}") from None
        meta = {"answer": str(row["answer"]), "leaked": str(row["leaked"]), "is_trap": bool(row["is_trap"])}
        rows.append(Labelled(Prompt(int(row["id"]), str(row["prompt"]), meta), str(row["completion"]), label,
                             str(row.get("why", ""))))
    if not rows:
        raise MotivlabInputError(f"{where}: no labelled completions")
    return rows


def check_monitor(monitor: Any, rows: list[Labelled], *, confidence: float = 0.95) -> dict[str, Any]:
    """Score ``monitor`` (anything with ``label_batch``) against the hand labels (module docstring)."""
    got = [Route(r) for r in monitor.label_batch([r.prompt for r in rows], [r.completion for r in rows])]
    if len(got) != len(rows):
        raise ValueError(f"monitor returned {len(got)} labels for {len(rows)} completions")
    rs = Route.REWARD_SEEKING
    tp = sum(g == rs and r.label == rs for g, r in zip(got, rows, strict=True))
    fp = sum(g == rs and r.label != rs for g, r in zip(got, rows, strict=True))
    fn = sum(g != rs and r.label == rs for g, r in zip(got, rows, strict=True))
    precision = wilson_interval(tp, tp + fp, confidence)
    recall = wilson_interval(tp, tp + fn, confidence)
    correct = sum(g == r.label for g, r in zip(got, rows, strict=True))
    accuracy = wilson_interval(correct, len(rows), confidence)
    confusion: dict[str, int] = {}
    for g, r in zip(got, rows, strict=True):
        key = f"{r.label.value}->{g.value}"
        confusion[key] = confusion.get(key, 0) + 1
    disagreements = [{"id": r.prompt.env_id, "completion": r.completion, "label": r.label.value, "monitor": g.value,
                      "why": r.why} for g, r in zip(got, rows, strict=True) if g != r.label]

    def trio(v: Any) -> list[float]:
        return [round(float(x), 4) for x in v]

    return {
        "monitor": getattr(monitor, "name", type(monitor).__name__), "n": len(rows),
        "n_reward_seeking": sum(r.label == rs for r in rows),
        "precision": trio(precision), "recall": trio(recall), "accuracy": trio(accuracy),
        "tp": tp, "fp": fp, "fn": fn, "confusion": confusion, "disagreements": disagreements,
    }
