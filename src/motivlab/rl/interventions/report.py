"""The report's "Interventions" section: what each configured intervention did, per step."""

from __future__ import annotations

from typing import Any

import pandas as pd


def intervention_columns(steps: pd.DataFrame) -> list[str]:
    """``steps.parquet`` columns written by hooks (``<hook>/<name>``)."""
    return [c for c in steps.columns if "/" in c]


def intervention_table(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per hook column: first, last, mean and max over the steps (NaN-free)."""
    rows = []
    for col in intervention_columns(steps):
        values = pd.to_numeric(steps[col], errors="coerce").dropna()
        if len(values):
            rows.append({"column": col, "first": float(values.iloc[0]), "last": float(values.iloc[-1]),
                         "mean": float(values.mean()), "max": float(values.max())})
    return pd.DataFrame(rows)


def add_intervention_section(report: Any, config: Any, steps: pd.DataFrame) -> None:
    """Configured interventions and their logged effect; nothing when there are neither."""
    specs = list(getattr(config, "interventions", []) or [])
    table = intervention_table(steps)
    if not specs and table.empty:
        return
    report.heading("Interventions")
    for i, spec in enumerate(specs):
        fields = ", ".join(f"{k} = {v!r}" for k, v in spec.model_dump(exclude_none=True).items() if k != "kind")
        report.text(f"{i + 1}. {spec.kind}: {fields}")
    if not table.empty:
        report.table(table, "What each intervention changed, per step (steps.parquet columns <hook>/<name>).")
