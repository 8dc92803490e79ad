"""The shaping knobs in ``motivlab organism calibrate``: requested vs measured, one knob at a time.

Grid points vary one shaping knob of :class:`~motivlab.models.organism.OrganismConfig` —
``trait_correlation``, ``self_accuracy``, ``instruction_share``, ``report_rate`` — with the other
three at :data:`SHAPING_ON` (the organism of the interventions experiment), p₀/sR₀/sL₀ at the
default. Each row holds, for every knob that is on, what the corpus implies
(:func:`motivlab.models.corpus.expected_extras`) and what the organism does, measured exactly
(``organism.json`` → ``measured.shaping``): trait = P(X | probe) and stated = P(K | self prompt)
on the training and held-out splits, the in-context trait difference rho (after a reward-seeking
vs a task-focused episode), the report rate P(R | prompt) and p under the instruction marker.
"""

from __future__ import annotations

from typing import Any

SHAPING_ON: dict[str, float] = {"trait_correlation": 1.0, "self_accuracy": 1.0, "instruction_share": 0.1,
                                "report_rate": 0.05}
SHAPING_GRIDS = {"trait_correlations": "trait_correlation", "self_accuracies": "self_accuracy",
                 "instruction_shares": "instruction_share", "report_rates": "report_rate"}
# (column prefix, key in measured.shaping[split], key in expected, tolerance)
MEASURES = [("trait", "trait", "trait", 0.05), ("stated", "stated", "stated", 0.05),
            ("report", "p_report_raw", "report", 0.05), ("p_marked", "p_prefixed", "p_marked", 0.05)]


def shaping_points(cfg: Any, default: dict[str, float]) -> list[dict[str, Any]]:
    """Grid points of the shaping lists of a CalibrationConfig (none when they are empty)."""
    points = []
    for field, knob in SHAPING_GRIDS.items():
        for value in getattr(cfg, field, []) or []:
            points.append({**default, **SHAPING_ON, knob: value, "seed": cfg.seed, "knob": knob})
    return points


def shaping_knobs(point: dict[str, Any]) -> dict[str, Any]:
    return {k: point[k] for k in SHAPING_ON if k in point}


def shaping_row(point: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The requested/measured columns of one organism's shaping knobs (empty when none is on)."""
    shaping = meta["measured"].get("shaping")
    if not shaping:
        return {}
    row: dict[str, Any] = {k: point.get(k) for k in SHAPING_ON}
    expected = shaping["expected"]
    for col, key, exp_key, tol in MEASURES:
        if exp_key in expected:
            row[f"{col}_requested"] = expected[exp_key]
            row[f"{col}_measured"] = shaping["train"].get(key)
            row[f"{col}_heldout"] = shaping["heldout"].get(key)
            row[f"{col}_ok"] = abs(row[f"{col}_measured"] - expected[exp_key]) <= tol
    if "in_context" in shaping:
        row["rho_requested"] = expected["rho"]
        row["rho_measured"] = shaping["in_context"]["rho"]
        row["rho_ok"] = abs(row["rho_measured"] - expected["rho"]) <= 0.1
    return row


def shaping_markdown(table: Any) -> str:
    """The shaping rows as a Markdown table (requested vs measured), '' when there are none."""
    if "trait_correlation" not in table or table["trait_correlation"].isna().all():
        return ""
    rows = table[table["trait_correlation"].notna() | table.get("self_accuracy", table["trait_correlation"]).notna()]
    head = ["varied", "rho", "self acc", "instr share", "report rate", "trait req", "trait meas (train/held-out)",
            "rho req", "rho meas (in context)", "stated req", "stated meas (train/held-out)", "report req",
            "report meas", "p marked meas"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def f(row: Any, key: str, fmt: str = "{:.3f}") -> str:
        v = row.get(key)
        return "—" if v is None or v != v else fmt.format(v)

    for _, r in rows.iterrows():
        lines.append("| " + " | ".join([
            str(r["knob"]), f(r, "trait_correlation", "{:g}"), f(r, "self_accuracy", "{:g}"),
            f(r, "instruction_share", "{:g}"), f(r, "report_rate", "{:g}"), f(r, "trait_requested"),
            f"{f(r, 'trait_measured')} / {f(r, 'trait_heldout')}", f(r, "rho_requested", "{:.2f}"), f(r, "rho_measured"),
            f(r, "stated_requested"), f"{f(r, 'stated_measured')} / {f(r, 'stated_heldout')}",
            f(r, "report_requested"), f(r, "report_measured"), f(r, "p_marked_measured"),
        ]) + " |")
    return "\n".join(lines)
