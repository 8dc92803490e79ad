"""The tidy results table that ``motivlab eval run`` writes and ``motivlab eval analyze`` reads.

One row per (model, item, condition, sample, measure, field): long format, so a measure with
several fields (the breakdown, the judge's criteria) needs no special columns, and a missing or
unparsable reply is a row with ``value = NaN`` and ``parsed = False`` (kept, never dropped).

This module is the only coupling between the protocol runner and the analysis: both sides
import the constants below, and :func:`validate_results` is the check at the boundary.
"""

from __future__ import annotations

from typing import Any

PROTOCOL_VERSION = "1"

MEASURES: dict[str, tuple[str, ...]] = {
    # measure -> its fields
    "pre": ("score",),  # 1-100, before the task
    "breakdown": ("interest", "challenge", "mastery", "fear", "value", "overall"),  # 1-100 each
    "performance": (  # 1-7 each from the judge; "auto" in [0, 1] where the category is verifiable
        "quality", "completion", "effort", "consistency", "creativity", "attention_to_detail",
        "relevance", "auto",
    ),
    "tokens": ("count",),  # completion tokens of the execution (the effort proxy)
    "post": ("score",),  # 1-100, same conversation, after executing
    "post_similar": ("score",),  # 1-100, same conversation, about a similar task
    "choice": ("chosen",),  # 1 or 2; 0.5 for a tie; NaN if unparsable
}

CONDITIONS: tuple[str, ...] = (
    "control",
    # positive-extrinsic
    "money", "competition",
    # positive-intrinsic
    "legacy", "purpose", "encouragement",
    # negative-extrinsic
    "guilt", "threat", "loss",
    # demotivation
    "discarded", "futility",
)

CONDITION_GROUPS: dict[str, str] = {
    "control": "control",
    "money": "positive_extrinsic", "competition": "positive_extrinsic",
    "legacy": "positive_intrinsic", "purpose": "positive_intrinsic", "encouragement": "positive_intrinsic",
    "guilt": "negative_extrinsic", "threat": "negative_extrinsic", "loss": "negative_extrinsic",
    "discarded": "demotivation", "futility": "demotivation",
}

CHOICE_CONDITIONS: tuple[str, ...] = ("control", "money", "threat", "futility")

# column -> meaning. ``categories`` is a "|"-joined string of category ids (Parquet- and CSV-safe).
COLUMNS: dict[str, str] = {
    "protocol_version": "PROTOCOL_VERSION of the runner that wrote the row",
    "model": "model name (spec as given, never an API key)",
    "task_id": "task id from the task set",
    "subtask_id": "sub-task id (the item actually asked); for choice rows the first task's sub-task",
    "categories": "'|'-joined categories of the task (choice rows: of task 1)",
    "condition": "one of CONDITIONS",
    "sample": "0-based sample index per item",
    "measure": "one of MEASURES",
    "field": "one of MEASURES[measure]",
    "value": "float; NaN when missing/unparsable/refused",
    "parsed": "bool: the reply was parsed into a value",
    "pair_id": "choice rows: id of the choice pair, else empty string",
    "attached_to": "choice rows: 1 or 2 = which task carries the manipulation, 0 = none",
    "other_subtask_id": "choice rows: the second task's sub-task id, else empty string",
}


def validate_results(df: Any) -> list[str]:
    """Return a list of problems with a results table (empty if it conforms).

    The analysis reports these instead of guessing; it never silently coerces.
    """
    problems: list[str] = []
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        problems.append(f"missing columns: {missing}")
        return problems
    versions = set(df["protocol_version"].astype(str).unique())
    if versions - {PROTOCOL_VERSION}:
        problems.append(
            f"results written by protocol version(s) {sorted(versions)}; this analysis reads version {PROTOCOL_VERSION}"
        )
    bad_measures = set(df["measure"].unique()) - set(MEASURES)
    if bad_measures:
        problems.append(f"unknown measures: {sorted(bad_measures)}")
    bad_conditions = set(df["condition"].unique()) - set(CONDITIONS)
    if bad_conditions:
        problems.append(f"unknown conditions: {sorted(bad_conditions)}")
    for measure, fields in MEASURES.items():
        got = set(df.loc[df["measure"] == measure, "field"].unique())
        if got - set(fields):
            problems.append(f"measure {measure!r} has unknown fields {sorted(got - set(fields))}")
    return problems
