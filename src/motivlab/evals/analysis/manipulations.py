"""Manipulations against control: paired t-tests per model and measure, Benjamini–Hochberg corrected.

Pairs are sub-tasks: for one model, the item mean (over samples) under a manipulation minus the
item mean of the same sub-task under control. One test per (model, manipulation, measure); the
family for the Benjamini–Hochberg correction (q = 0.05) is every per-model test of the study,
so adding measures or models makes each test stricter, as it should. A pooled row per
(manipulation, measure) tests all (model, sub-task) differences together (its own BH family).

Measures: pre, post (score points), performance (judge points, mean of the general criteria),
completion and effort (judge points), log_tokens (log(1 + tokens): a difference of 0.1 is ≈ 10 %).
Effect sizes are Cohen's d_z (mean difference / SD of differences).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from motivlab.evals.analysis.common import Section, lacking

MEASURES = ("pre", "post", "performance", "completion", "effort", "log_tokens")
MIN_PAIRS = 5
FDR_Q = 0.05


def paired_test(diff: np.ndarray) -> dict[str, float] | str:
    """One-sample t-test of paired differences with a 95% interval, or the reason it cannot run."""
    diff = diff[np.isfinite(diff)]
    if len(diff) < MIN_PAIRS:
        return f"only {len(diff)} paired sub-tasks (need {MIN_PAIRS})"
    sd = diff.std(ddof=1)
    if sd == 0:
        return "all paired differences are identical"
    t, p = stats.ttest_1samp(diff, 0.0)
    half = stats.t.ppf(0.975, len(diff) - 1) * sd / np.sqrt(len(diff))
    m = float(diff.mean())
    return {"n_pairs": len(diff), "effect": m, "lo": m - half, "hi": m + half, "t": float(t), "p": float(p),
            "d_z": m / sd}


def _bh(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table.assign(q=[], significant=[])
    reject, q, _, _ = multipletests(table["p"].to_numpy(), alpha=FDR_Q, method="fdr_bh")
    return table.assign(q=q, significant=reject)


def manipulations(items: pd.DataFrame) -> Section:
    sec = Section("manipulations")
    conditions = sorted(set(items["condition"]) - {"control"})
    if "control" not in set(items["condition"]) or not conditions:
        sec.skipped.append("needs control and at least one manipulation")
        return sec
    measures = [m for m in MEASURES if not lacking(items, m)]
    absent = [m for m in MEASURES if m not in measures]
    if absent:
        sec.skipped.append(f"measures with no data, not tested: {absent}")
    ctrl = items[items["condition"] == "control"].set_index(["model", "subtask_id"])[measures]
    per_model, pooled, means = [], [], []
    for condition in conditions:
        cond = items[items["condition"] == condition].set_index(["model", "subtask_id"])[measures]
        paired = cond.join(ctrl.add_suffix("_control"), how="inner")
        for m in measures:
            diff = paired[m] - paired[f"{m}_control"]
            for model, d in diff.groupby(level="model", sort=True):
                res = paired_test(d.to_numpy())
                if isinstance(res, str):
                    sec.skipped.append(f"{condition} / {m} / {model}: {res}")
                else:
                    per_model.append({"condition": condition, "measure": m, "model": model, **res})
            res = paired_test(diff.to_numpy())
            if not isinstance(res, str):
                pooled.append({"condition": condition, "measure": m, "model": "pooled", **res})
    for condition, sub in items.groupby("condition", sort=True):
        for m in measures:
            vals = sub[m].dropna()
            if len(vals):
                means.append({"condition": condition, "measure": m, "n": len(vals), "mean": float(vals.mean())})
    sec.tables["manipulation_tests"] = _bh(pd.DataFrame(per_model))
    sec.tables["manipulation_pooled"] = _bh(pd.DataFrame(pooled))
    sec.tables["condition_means"] = pd.DataFrame(means)
    t = sec.tables["manipulation_tests"]
    if not t.empty:
        sec.summary["manipulation_tests"] = float(len(t))
        sec.summary["manipulation_significant"] = float(t["significant"].sum())
    return sec
