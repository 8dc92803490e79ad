"""Choice between two tasks: does the self-report predict which task a model picks?

- **Score difference.** Each choice row names two sub-tasks; their pre-task scores are the same
  model's control-condition item means (so the predictor is measured independently of the
  choice itself). Logistic regression of "chose task 1" on (score₁ − score₂)/10, control rows,
  per model and pooled; the slope is in log-odds per 10 points.
- **Gap.** Mean score of the chosen minus the unchosen task (paper: ≈ 12 points).
- **Attached manipulations.** In money/threat/futility rows one task carries the manipulation
  (``attached_to``); we report how often the carrying task was chosen, with a Wilson interval
  (paper: 79 / 61 / 13 %), and a logit with the score difference plus a ±1 "attached" term.

Ties (value 0.5) and unparsed choices are excluded and counted. A logit whose choices are
perfectly separated by its predictors (every choice goes to the higher-scored task, say) has no
finite maximum-likelihood slope; it is detected before fitting (a linear programme, see
:func:`separated`) and skipped with that reason instead of reporting a slope of 44.7 ± 46,000.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from scipy.optimize import linprog
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from motivlab.evals.analysis.common import Section, control_items, lacking
from motivlab.measure.stats import wilson_interval

MIN_CHOICES = 20


def choice_frame(df: pd.DataFrame, items: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Parsed, non-tie choice rows with both tasks' pre-task scores; counts of what was dropped."""
    rows = df[df["measure"] == "choice"]
    counts = {"choice_rows": len(rows), "unparsed": int((~rows["parsed"]).sum())}
    rows = rows[rows["parsed"]]
    counts["ties"] = int((rows["value"] == 0.5).sum())
    rows = rows[rows["value"].isin([1.0, 2.0])]
    pre = control_items(items).dropna(subset=["pre"]).set_index(["model", "subtask_id"])["pre"]
    pre = pre.groupby(level=[0, 1]).mean()
    s1 = pre.reindex(pd.MultiIndex.from_arrays([rows["model"], rows["subtask_id"]])).to_numpy()
    s2 = pre.reindex(pd.MultiIndex.from_arrays([rows["model"], rows["other_subtask_id"]])).to_numpy()
    out = rows.assign(score_1=s1, score_2=s2, chose_1=(rows["value"] == 1.0).astype(float))
    counts["no_pre_score"] = int((~np.isfinite(s1) | ~np.isfinite(s2)).sum())
    out = out[np.isfinite(s1) & np.isfinite(s2)].copy()
    out["diff10"] = (out["score_1"] - out["score_2"]) / 10.0
    out["attach"] = np.select([out["attached_to"] == 1, out["attached_to"] == 2], [1.0, -1.0], 0.0)
    return out, counts


def separated(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether some β ≠ 0 has sᵢ·xᵢβ ≥ 0 for every row (sᵢ = ±1 the outcome): complete or
    quasi-complete separation, where the logit's likelihood has no finite maximum.

    Linear programme: maximise Σ sᵢxᵢβ subject to sᵢxᵢβ ≥ 0 and −1 ≤ β ≤ 1; the optimum is 0
    exactly when no such β exists (Konis 2007). ``x`` includes the constant column.
    """
    a = np.where(y > 0.5, 1.0, -1.0)[:, None] * x  # (n, k)
    res = linprog(-a.sum(axis=0), A_ub=-a, b_ub=np.zeros(len(a)), bounds=[(-1, 1)] * x.shape[1], method="highs")
    return bool(res.status == 0 and -res.fun > 1e-9 * max(np.abs(a).sum(), 1.0))


def _logit(frame: pd.DataFrame, terms: list[str]) -> dict[str, float] | str:
    if len(frame) < MIN_CHOICES:
        return f"only {len(frame)} usable choices (need {MIN_CHOICES})"
    y = frame["chose_1"].to_numpy()
    if y.min() == y.max():
        return "every choice went the same way"
    x = sm.add_constant(frame[terms].to_numpy(), has_constant="add")
    if separated(x, y):
        return (f"perfect separation: {' and '.join(terms)} split the {len(y)} choices exactly, so the "
                "logit slope is not identified (it would run off to infinity)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = sm.Logit(y, x).fit(disp=0)
    except (np.linalg.LinAlgError, sm.tools.sm_exceptions.PerfectSeparationError) as exc:
        return f"logit failed ({exc})"
    trouble = [w for w in caught if issubclass(w.category, PerfectSeparationWarning | ConvergenceWarning)]
    if trouble or not fit.mle_retvals.get("converged", True):
        why = str(trouble[0].message).splitlines()[0] if trouble else "the optimiser did not converge"
        return f"logit not identified ({why})"
    ci = fit.conf_int()
    out = {"n": len(frame), "pseudo_r2": float(fit.prsquared), "intercept": float(fit.params[0])}
    for i, t in enumerate(terms, start=1):
        out.update({t: float(fit.params[i]), f"{t}_lo": float(ci[i, 0]), f"{t}_hi": float(ci[i, 1]),
                    f"{t}_p": float(fit.pvalues[i])})
    return out


def _gap(frame: pd.DataFrame) -> dict[str, float]:
    chosen = np.where(frame["chose_1"] == 1, frame["score_1"], frame["score_2"])
    other = np.where(frame["chose_1"] == 1, frame["score_2"], frame["score_1"])
    g = chosen - other
    half = stats.t.ppf(0.975, len(g) - 1) * g.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan
    return {"n": len(g), "gap": float(g.mean()), "lo": float(g.mean() - half), "hi": float(g.mean() + half)}


def choice(df: pd.DataFrame, items: pd.DataFrame) -> Section:
    sec = Section("choice")
    if not (df["measure"] == "choice").any():
        sec.skipped.append("no choice rows in the table")
        return sec
    if lacking(control_items(items), "pre"):
        sec.skipped.append("no control pre-task scores to compare the two tasks by")
        return sec
    frame, counts = choice_frame(df, items)
    sec.tables["choice_counts"] = pd.DataFrame([counts])
    if counts["no_pre_score"]:
        sec.skipped.append(
            f"{counts['no_pre_score']} choice rows dropped: no control pre-task score for one of their two "
            "sub-tasks (collect pre-task reports for every sub-task that appears in a choice pair)")
    ctrl = frame[frame["condition"] == "control"]
    logits, gaps = [], []
    for model, sub in [*ctrl.groupby("model", sort=True), ("pooled", ctrl)]:
        res = _logit(sub, ["diff10"])
        if isinstance(res, str):
            sec.skipped.append(f"control logit, {model}: {res}")
        else:
            logits.append({"model": model, **res})
        if len(sub) > 1:
            gaps.append({"model": model, **_gap(sub)})
    if len(ctrl) >= MIN_CHOICES:
        sec.tables["choice_binned"] = _binned(ctrl)
    if logits:
        sec.tables["choice_logit"] = pd.DataFrame(logits)
        pooled = [r for r in logits if r["model"] == "pooled"]
        if pooled:
            sec.summary["choice_slope_per10"] = pooled[0]["diff10"]
            sec.intervals["choice_slope_per10"] = (pooled[0]["diff10_lo"], pooled[0]["diff10_hi"])
    if gaps:
        sec.tables["choice_gap"] = pd.DataFrame(gaps)
        best = gaps[-1]  # the pooled row when there is one
        sec.summary["choice_gap"] = best["gap"]
        sec.intervals["choice_gap"] = (best["lo"], best["hi"])
    sec.tables.update(_attached(frame, sec))
    return sec


def _binned(ctrl: pd.DataFrame, n_bins: int = 8) -> pd.DataFrame:
    """Empirical P(chose task 1) in quantile bins of the score difference (for the figure)."""
    bins = pd.qcut(ctrl["diff10"], q=n_bins, duplicates="drop")
    g = ctrl.groupby(bins, observed=True).agg(diff10=("diff10", "mean"), n=("chose_1", "size"), k=("chose_1", "sum"))
    est, lo, hi = wilson_interval(g["k"].to_numpy(), g["n"].to_numpy())
    return pd.DataFrame({"diff10": g["diff10"].to_numpy(), "n": g["n"].to_numpy(), "rate": est, "lo": lo, "hi": hi})


def _attached(frame: pd.DataFrame, sec: Section) -> dict[str, pd.DataFrame]:
    """Rate of choosing the task that carries the manipulation, and its logit pull."""
    att = frame[frame["attach"] != 0]
    if att.empty:
        sec.skipped.append("no choice rows with a manipulation attached to one task")
        return {}
    rates, pulls = [], []
    for (condition, model), sub in att.groupby(["condition", "model"], sort=True):
        rates.append(_rate(sub, condition, model))
    for condition, sub in att.groupby("condition", sort=True):
        rates.append(_rate(sub, condition, "pooled"))
        sec.summary[f"choice_attached_rate_{condition}"] = rates[-1]["rate"]
        sec.intervals[f"choice_attached_rate_{condition}"] = (rates[-1]["lo"], rates[-1]["hi"])
        res = _logit(sub, ["diff10", "attach"])
        if isinstance(res, str):
            sec.skipped.append(f"attached logit, {condition}: {res}")
        else:
            pulls.append({"condition": condition, **res})
    out = {"choice_attached_rate": pd.DataFrame(rates)}
    if pulls:
        out["choice_attached_logit"] = pd.DataFrame(pulls)
    return out


def _rate(sub: pd.DataFrame, condition: str, model: str) -> dict:
    chose_attached = ((sub["attach"] == 1) & (sub["chose_1"] == 1)) | ((sub["attach"] == -1) & (sub["chose_1"] == 0))
    k, n = int(chose_attached.sum()), len(sub)
    est, lo, hi = wilson_interval(k, n)
    return {"condition": condition, "model": model, "n": n, "chose_attached": k, "rate": float(est),
            "lo": float(lo), "hi": float(hi)}
