"""Structure of self-reported motivation: what task categories explain, and the want/able factors.

- **Categories.** Per-task mean pre-task score (control; mean over models, sub-tasks, samples)
  regressed by OLS on one dummy per category (multi-label, so a task may switch on several);
  R² says how much of the variation between tasks the categories explain (paper: ≈ 0.68).
- **Factors.** PCA of the five breakdown components (interest, challenge, mastery, fear, value)
  on their correlation matrix, two components kept and varimax-rotated. Components are
  z-scored *within each model* first, so differences between models' average scores cannot
  masquerade as a shared factor. The rotated factor loading most on interest/challenge/value is
  called "want", the other "able" (signs oriented so interest and mastery load positively).
  Motivation (the breakdown's overall score, and the pre-task score) is then regressed on the
  two factor scores (paper: R² ≈ 0.88).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from motivlab.evals.analysis.common import BREAKDOWN_COMPONENTS, Section, control_items, lacking
from motivlab.evals.tasks import CATEGORIES

MIN_TASKS_PER_PARAM = 3
MIN_FACTOR_ITEMS = 20
WANT_FIELDS = ("interest", "challenge", "value")


VARIMAX_TOL = 1e-8  # statsmodels' GPA step tolerance; 1e-10 is below what float64 reaches on 5 × 2 loadings
STATIONARY = 1e-6  # relative asymmetry of Lᵀ∇ below which the rotation is at a stationary point


def varimax(loadings: np.ndarray, *, max_iter: int = 10_000) -> tuple[np.ndarray, np.ndarray, float]:
    """Kaiser's varimax rotation by statsmodels' gradient projection algorithm (``rotate_factors``).

    loadings (p, k) -> (rotated (p, k), R (k, k), stationarity). ``stationarity`` is how far the
    result is from an optimum, checked independently of the algorithm: at a stationary point of
    the varimax criterion M = Λᵀ(Λ³ − Λ·diag(mean(Λ²))) is symmetric, so the relative asymmetry
    ‖M − Mᵀ‖/‖M‖ is 0 (below :data:`STATIONARY` counts as converged). The SVD iteration used
    before stopped after 500 steps with an asymmetry of 0.3 and loadings 0.04-0.08 off.
    """
    from statsmodels.multivariate.factor_rotation import rotate_factors

    rotated, rotation = rotate_factors(np.asarray(loadings, float), "varimax", max_tries=max_iter, tol=VARIMAX_TOL)
    return rotated, rotation, varimax_stationarity(rotated)


def varimax_stationarity(rotated: np.ndarray) -> float:
    """‖M − Mᵀ‖/‖M‖ with M = Λᵀ(Λ³ − Λ·diag(mean(Λ²))): 0 at an optimum of the varimax criterion."""
    m = rotated.T @ (rotated**3 - rotated * (rotated**2).mean(axis=0, keepdims=True))
    return float(np.linalg.norm(m - m.T) / max(np.linalg.norm(m), 1e-300))


def _category_dummies(task_cats: pd.Series) -> pd.DataFrame:
    sets = task_cats.str.split("|").apply(set)
    seen = set().union(*sets) if len(sets) else set()
    order = [c for c in CATEGORIES if c in seen] + sorted(seen - set(CATEGORIES) - {""})
    return pd.DataFrame({c: sets.apply(lambda s, c=c: float(c in s)) for c in order}, index=task_cats.index)


def _collinear_columns(x: pd.DataFrame) -> list[str]:
    """Columns that add no rank to [1, earlier columns] (e.g. two categories always together)."""
    kept = np.ones((len(x), 1))
    dropped = []
    for c in x.columns:
        trial = np.column_stack([kept, x[c].to_numpy()])
        if np.linalg.matrix_rank(trial) > kept.shape[1]:
            kept = trial
        else:
            dropped.append(c)
    return dropped


def _category_ols(task_means: pd.DataFrame) -> tuple[dict, pd.DataFrame, list[str]]:
    """OLS of task mean on category dummies; constant dummies are dropped (and said so)."""
    skipped = []
    x = _category_dummies(task_means["categories"])
    constant = [c for c in x.columns if x[c].nunique() < 2]
    if constant:
        skipped.append(f"categories dropped (on every task or none): {constant}")
        x = x.drop(columns=constant)
    collinear = _collinear_columns(x)
    if collinear:
        skipped.append(f"categories dropped (collinear with others on these tasks): {collinear}")
        x = x.drop(columns=collinear)
    if x.shape[1] == 0:
        return {}, pd.DataFrame(), [*skipped, "no category varies across these tasks"]
    if len(task_means) < MIN_TASKS_PER_PARAM * (x.shape[1] + 1):
        return {}, pd.DataFrame(), [*skipped, f"only {len(task_means)} tasks for {x.shape[1]} categories"]
    if task_means["pre"].nunique() < 2:
        value = task_means["pre"].iloc[0]
        return {}, pd.DataFrame(), [*skipped, f"the pre-task score is {value:g} on every task: nothing to explain, "
                                    "R² undefined"]
    fit = sm.OLS(task_means["pre"].to_numpy(), sm.add_constant(x.to_numpy(), has_constant="add")).fit()
    ci = fit.conf_int()
    coefs = pd.DataFrame({
        "term": ["intercept", *x.columns], "coef": fit.params, "se": fit.bse, "lo": ci[:, 0], "hi": ci[:, 1],
        "p": fit.pvalues, "n_tasks": [len(x), *x.sum().astype(int)],
    })
    return {"n_tasks": len(x), "r2": float(fit.rsquared), "adj_r2": float(fit.rsquared_adj)}, coefs, skipped


def _profile(task_means: pd.DataFrame, model: str) -> pd.DataFrame:
    x = _category_dummies(task_means["categories"])
    rows = []
    for c in x.columns:
        v = task_means.loc[x[c] == 1, "pre"].to_numpy()
        half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.inf
        rows.append({"model": model, "category": c, "n_tasks": len(v), "mean_pre": v.mean(),
                     "lo": v.mean() - half, "hi": v.mean() + half})
    return pd.DataFrame(rows).replace([np.inf, -np.inf], np.nan).dropna()


def categories(items: pd.DataFrame) -> Section:
    """Category OLS (pooled over models and per model) and the category profile of pre-task scores."""
    sec = Section("task categories")
    ctrl = control_items(items)
    if lacking(ctrl, "pre"):
        sec.skipped.append("no parsed pre-task scores in the control condition")
        return sec
    ctrl = ctrl.dropna(subset=["pre"])
    fits, profiles = [], []
    for model, sub in [("pooled", ctrl), *ctrl.groupby("model", sort=True)]:
        tm = sub.groupby(["task_id", "categories"], as_index=False)["pre"].mean()
        stats_, coefs, skipped = _category_ols(tm)
        sec.skipped.extend(f"{model}: {s}" for s in skipped)
        if stats_:
            fits.append({"model": model, **stats_})
            if model == "pooled":
                sec.tables["category_ols"] = coefs
        profiles.append(_profile(tm, model))
    if fits:
        sec.tables["category_r2"] = pd.DataFrame(fits)
        pooled = [f for f in fits if f["model"] == "pooled"]
        if pooled:
            sec.summary["category_r2"] = pooled[0]["r2"]
    sec.tables["category_profile"] = pd.concat(profiles, ignore_index=True)
    return sec


def _zscore_within(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    g = frame.groupby("model")[cols]
    return (frame[cols] - g.transform("mean")) / g.transform("std").replace(0, np.nan)


def _constant_models(frame: pd.DataFrame, cols: list[str]) -> dict[str, list[str]]:
    """Models in which a column of ``cols`` takes one value (no within-model variation): {model: columns}."""
    spread = frame.groupby("model")[cols].agg(lambda v: v.nunique(dropna=True))
    return {str(m): [c for c in cols if row[c] < 2] for m, row in spread.iterrows() if (row < 2).any()}


def _drop_constant_models(frame: pd.DataFrame, cols: list[str], sec: Section, what: str) -> pd.DataFrame:
    """``frame`` without the models where a column of ``cols`` is constant (z-scores undefined), said in ``sec``."""
    constant = _constant_models(frame, cols)
    for model, which in sorted(constant.items()):
        sec.skipped.append(f"model {model}: {', '.join(which)} constant within the model; its items are {what}")
    return frame[~frame["model"].astype(str).isin(list(constant))]


def factors(items: pd.DataFrame) -> Section:
    """PCA + varimax of the breakdown and the regression of motivation on the two factors."""
    sec = Section("want/able factors")
    ctrl = control_items(items)
    missing = lacking(ctrl, *BREAKDOWN_COMPONENTS)
    if missing:
        sec.skipped.append(f"breakdown components missing: {missing}")
        return sec
    comp = list(BREAKDOWN_COMPONENTS)
    data = ctrl.dropna(subset=comp)
    data = _drop_constant_models(data, comp, sec, "left out of the factor analysis")
    z = _zscore_within(data, comp).dropna()
    if len(z) < MIN_FACTOR_ITEMS:
        sec.skipped.append(f"only {len(z)} items with a complete breakdown (need {MIN_FACTOR_ITEMS})")
        return sec
    corr = np.corrcoef(z.to_numpy(), rowvar=False)  # (5, 5)
    eigval, eigvec = np.linalg.eigh(corr)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = eigval[order], eigvec[:, order]
    rotated, _, stationarity = varimax(eigvec[:, :2] * np.sqrt(eigval[:2]))  # (5, 2)
    sec.tables["factor_rotation"] = pd.DataFrame([{
        "method": "varimax (statsmodels rotate_factors, GPA)", "stationarity": stationarity,
        "converged": stationarity < STATIONARY}])
    if stationarity >= STATIONARY:
        sec.skipped.append(f"varimax did not converge (stationarity residual {stationarity:.2g} >= {STATIONARY:g}); "
                           "loadings not reported")
        return sec
    want_idx = [comp.index(f) for f in WANT_FIELDS]
    w = int(np.argmax((rotated[want_idx] ** 2).sum(axis=0)))
    loadings = rotated[:, [w, 1 - w]]
    loadings[:, 0] *= np.sign(loadings[comp.index("interest"), 0]) or 1.0
    loadings[:, 1] *= np.sign(loadings[comp.index("mastery"), 1]) or 1.0
    sec.tables["factor_loadings"] = pd.DataFrame({
        "component": comp, "want": loadings[:, 0], "able": loadings[:, 1],
        "communality": (loadings**2).sum(axis=1),
    })
    explained = (loadings**2).sum(axis=0) / len(comp)
    sec.tables["factor_variance"] = pd.DataFrame({
        "factor": ["want", "able", "unrotated PC1", "unrotated PC2"],
        "explained_share": [*explained, *(eigval[:2] / len(comp))],
    })
    sec.summary["factor_explained"] = float(explained.sum())
    scores = z.to_numpy() @ loadings @ np.linalg.inv(loadings.T @ loadings)  # (n, 2) least-squares scores
    data = data.loc[z.index]
    rows = []
    for dv in ("overall", "pre"):
        if lacking(data, dv):
            sec.skipped.append(f"regression of {dv} on the factors: no {dv} scores")
            continue
        constant = _constant_models(data, [dv])
        if constant:
            sec.skipped.append(f"regression of {dv} on the factors: {dv} is constant within model(s) "
                               f"{sorted(constant)}; their items are left out")
        y = _zscore_within(data, [dv])[dv].to_numpy()
        ok = np.isfinite(y)
        if ok.sum() < MIN_FACTOR_ITEMS:
            sec.skipped.append(f"regression of {dv} on the factors: only {int(ok.sum())} items where {dv} varies "
                               f"within its model (need {MIN_FACTOR_ITEMS})")
            continue
        fit = sm.OLS(y[ok], sm.add_constant(scores[ok], has_constant="add")).fit()
        for term, coef, se, p in zip(("intercept", "want", "able"), fit.params, fit.bse, fit.pvalues, strict=True):
            rows.append({"dv": dv, "term": term, "coef": coef, "se": se, "p": p, "r2": fit.rsquared, "n": int(ok.sum())})
        sec.summary[f"factor_r2_{dv}"] = float(fit.rsquared)
    sec.tables["factor_regression"] = pd.DataFrame(rows)
    return sec
