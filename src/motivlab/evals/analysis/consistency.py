"""Reliability and validity of self-reports: test–retest, consistency across contexts, report vs behaviour.

Every correlation is a Pearson r computed per model (items = sub-tasks in the control
condition), with a Fisher-z 95% interval; models are then pooled by Fisher z weighted by
``n - 3`` (the inverse variance of z), which is the "Fisher-z mean across models" of the paper
with the weights made explicit. A correlation needs at least ``MIN_N`` complete items and a
non-constant variable on both sides; otherwise that cell is skipped and the skip is reported.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from motivlab.evals.analysis.common import ITEM_KEYS, Section, control_items, lacking

MIN_N = 10
REPORTS = ("pre", "post")
BEHAVIOURS = ("performance", "completion", "effort", "log_tokens", "auto")
CONTEXTS = ("pre", "overall", "post", "post_similar")  # "overall" = the breakdown's overall score


def fisher_ci(r: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for a correlation from atanh(r) ± z·1/√(n−3)."""
    z, half = np.arctanh(np.clip(r, -0.999999, 0.999999)), stats.norm.ppf(0.5 + confidence / 2) / np.sqrt(n - 3)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def correlate(x: np.ndarray, y: np.ndarray) -> dict[str, float] | str:
    """r, interval, p and n on complete pairs, or the reason it cannot be computed."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < MIN_N:
        return f"only {len(x)} complete items (need {MIN_N})"
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return "a variable is constant"
    r, p = stats.pearsonr(x, y)
    lo, hi = fisher_ci(float(r), len(x))
    return {"n": len(x), "r": float(r), "lo": lo, "hi": hi, "p": float(p)}


def pool_fisher(rs: np.ndarray, ns: np.ndarray) -> dict[str, float]:
    """Pool correlations by the (n−3)-weighted mean of Fisher z; interval and p from its standard error."""
    w = ns - 3.0
    z = float(np.sum(w * np.arctanh(np.clip(rs, -0.999999, 0.999999))) / np.sum(w))
    se = 1.0 / np.sqrt(np.sum(w))
    half = stats.norm.ppf(0.975) * se  # the exact quantile, as in fisher_ci (1.96 is 1.959964)
    return {"n": int(ns.sum()), "r": float(np.tanh(z)), "lo": float(np.tanh(z - half)),
            "hi": float(np.tanh(z + half)), "p": float(2 * stats.norm.sf(abs(z) / se))}


def correlation_table(frame: pd.DataFrame, pairs: list[tuple[str, str]], group: str = "model",
                      x_label: str = "x", y_label: str = "y") -> tuple[pd.DataFrame, list[str]]:
    """Per-group correlations for each (x, y) pair plus a ``pooled`` row per pair."""
    rows, skipped = [], []
    for x, y in pairs:
        missing = lacking(frame, x, y)
        if missing:
            skipped.append(f"{x} vs {y}: no data for {missing}")
            continue
        per = []
        for g, sub in frame.groupby(group, sort=True):
            res = correlate(sub[x].to_numpy(float), sub[y].to_numpy(float))
            if isinstance(res, str):
                skipped.append(f"{x} vs {y}, {group} {g}: {res}")
                continue
            per.append({group: g, x_label: x, y_label: y, **res})
        if per:
            pooled = pool_fisher(np.array([p["r"] for p in per]), np.array([p["n"] for p in per]))
            rows.extend([*per, {group: "pooled", x_label: x, y_label: y, **pooled}])
    cols = [group, x_label, y_label, "n", "r", "lo", "hi", "p"]
    return pd.DataFrame(rows, columns=cols), skipped


def _pooled(sec: Section, key: str, table: pd.DataFrame, x_col: str, x: str, y_col: str, y: str) -> bool:
    """Put the pooled r of (x, y) and its interval into the section's summary; False if there is none."""
    row = table[(table["model"] == "pooled") & (table[x_col] == x) & (table[y_col] == y)]
    if not len(row):
        return False
    sec.summary[key] = float(row["r"].iloc[0])
    sec.intervals[key] = (float(row["lo"].iloc[0]), float(row["hi"].iloc[0]))
    return True


def retest(samples: pd.DataFrame) -> Section:
    """Correlation between the first two samples of each control item, per model and measure."""
    sec = Section("test-retest")
    ctrl = control_items(samples)
    if ctrl.empty or ctrl["sample"].nunique() < 2:
        sec.skipped.append("needs at least two samples per item in the control condition")
        return sec
    s0, s1 = sorted(ctrl["sample"].unique())[:2]
    measures = [m for m in CONTEXTS if m in ctrl.columns]
    a = ctrl[ctrl["sample"] == s0].set_index(ITEM_KEYS)[measures]
    b = ctrl[ctrl["sample"] == s1].set_index(ITEM_KEYS)[measures]
    both = a.add_suffix("_1").join(b.add_suffix("_2"), how="inner").reset_index()
    pairs = [(f"{m}_1", f"{m}_2") for m in measures]
    table, sec.skipped = correlation_table(both, pairs, x_label="sample_1", y_label="sample_2")
    table.insert(1, "measure", table["sample_1"].str.removesuffix("_1"))
    sec.tables["retest"] = table.drop(columns=["sample_1", "sample_2"])
    if _pooled(sec, "retest_r", table, "sample_1", "pre_1", "sample_2", "pre_2"):
        per = table[(table["model"] != "pooled") & (table["sample_1"] == "pre_1")]["r"]
        sec.summary["retest_r_min"], sec.summary["retest_r_max"] = float(per.min()), float(per.max())
    else:
        sec.skipped.append("pre-task test-retest could not be computed")
    return sec


def cross_context(items: pd.DataFrame) -> Section:
    """Pre, breakdown-overall, post and post-similar scores of the same items, pairwise."""
    sec = Section("cross-context consistency")
    pairs = list(itertools.combinations(CONTEXTS, 2))
    table, sec.skipped = correlation_table(control_items(items), pairs, x_label="context_1", y_label="context_2")
    sec.tables["cross_context"] = table
    for x, y in pairs:
        _pooled(sec, f"r_{x}_{y}", table, "context_1", x, "context_2", y)
    return sec


def report_behaviour(items: pd.DataFrame) -> Section:
    """Self-reports (pre, post) against judged performance, completion, effort, tokens and auto-correctness."""
    sec = Section("self-report vs behaviour")
    pairs = [(r, b) for r in REPORTS for b in BEHAVIOURS]
    table, sec.skipped = correlation_table(control_items(items), pairs, x_label="report", y_label="behaviour")
    sec.tables["report_behaviour"] = table
    for r, b in pairs:
        _pooled(sec, f"r_{r}_{b}", table, "report", r, "behaviour", b)
    return sec
