"""What every analysis module shares: the item keys, the section an analysis returns, small filters.

The analysis modules (consistency, structure, choice, manipulations) import from here and from
nothing else in the package; :mod:`motivlab.evals.analysis.pipeline` imports them. So the
package's imports form a tree (common ← analyses ← pipeline ← report/cli), not a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

ITEM_KEYS = ["model", "task_id", "subtask_id", "categories", "condition"]
GENERAL_CRITERIA = ("quality", "consistency", "creativity", "attention_to_detail", "relevance")
BREAKDOWN_COMPONENTS = ("interest", "challenge", "mastery", "fear", "value")


@dataclass
class Section:
    """What one analysis produced: tables, headline numbers and what it could not do (and why)."""

    name: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # summary key -> 95% interval


def control_items(items: pd.DataFrame) -> pd.DataFrame:
    """The rows of the control condition (the only ones reliability and structure are measured on)."""
    return items[items["condition"] == "control"]


def lacking(frame: pd.DataFrame, *columns: str) -> list[str]:
    """The columns of ``columns`` that ``frame`` lacks or has only NaN in."""
    return [c for c in columns if c not in frame.columns or frame[c].notna().sum() == 0]
