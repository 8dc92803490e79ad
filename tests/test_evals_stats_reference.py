"""Every statistic of ``eval analyze`` equals an independent computation with library functions on
fixed data, at tight tolerances; degenerate inputs are skipped with a reason (issue 10, point 9).

The reference computations start from the item means (``Analysis.items``) or the raw results
table and redo the selection (control condition, within-model z-scores, pairing) themselves, with
scipy / statsmodels / numpy routines the analysis does not use for that quantity (``pearsonr``'s
Fisher interval, ``ttest_rel``, ``false_discovery_control``, ``lstsq``, a GLM, a brute-force
varimax angle). Each test was checked to fail under a planted mistake (docs in the notes):
BH turned off or Bonferroni, d_z doubled, the Fisher interval with n instead of n − 3, an absolute
choice gap, adjusted R² reported as R², the control filter dropped, no within-model standardisation.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from motivlab.evals.analysis.common import BREAKDOWN_COMPONENTS
from motivlab.evals.analysis.pipeline import analyze
from motivlab.evals.synthetic import SyntheticConfig, simulate

TIGHT = dict(rtol=1e-9, atol=1e-10)
CONFIG = SyntheticConfig(seed=3, n_models=2, subtasks_per_task=1, conditions=("control", "money", "threat"),
                         n_choice_pairs=80)


@pytest.fixture(scope="module")
def study():
    results = simulate(CONFIG).results
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = analyze(results)
    ours = [w for w in caught if "motivlab" in str(w.filename)]
    return results, analysis, ours


def _control(items: pd.DataFrame) -> pd.DataFrame:
    return items[items["condition"] == "control"]


def test_analysis_emits_no_warning_from_our_code(study):
    _, _, ours = study
    assert not ours, [f"{w.filename}:{w.lineno}: {w.message}" for w in ours]  # e.g. pandas 4's join(lsuffix=)


# ---- correlations -----------------------------------------------------------------------------


def test_cross_context_correlations_equal_scipy_with_fisher_intervals(study):
    _, analysis, _ = study
    table = analysis.tables["cross_context"]
    ctrl = _control(analysis.items)
    checked = 0
    for (model, x, y), row in table.set_index(["model", "context_1", "context_2"]).iterrows():
        if model == "pooled":
            continue
        sub = ctrl[ctrl["model"] == model][[x, y]].dropna()
        res = stats.pearsonr(sub[x], sub[y])
        ci = res.confidence_interval(0.95)  # Fisher z with standard error 1/sqrt(n - 3)
        np.testing.assert_allclose([row["n"], row["r"], row["p"], row["lo"], row["hi"]],
                                   [len(sub), res.statistic, res.pvalue, ci.low, ci.high], **TIGHT)
        checked += 1
    assert checked >= 10


def test_pooled_correlations_are_the_n_minus_3_weighted_fisher_mean(study):
    _, analysis, _ = study
    table = analysis.tables["report_behaviour"]
    for _, rows in table.groupby(["report", "behaviour"]):
        per, pooled = rows[rows["model"] != "pooled"], rows[rows["model"] == "pooled"].iloc[0]
        z = np.average(np.arctanh(per["r"]), weights=per["n"] - 3)
        se = 1 / np.sqrt((per["n"] - 3).sum())
        half = stats.norm.ppf(0.975) * se
        np.testing.assert_allclose([pooled["r"], pooled["lo"], pooled["hi"], pooled["p"]],
                                   [np.tanh(z), np.tanh(z - half), np.tanh(z + half), 2 * stats.norm.sf(abs(z) / se)],
                                   **TIGHT)


def test_retest_is_the_correlation_of_the_first_two_samples_of_control_items(study):
    results, analysis, _ = study
    pre = results[(results["measure"] == "pre") & (results["condition"] == "control") & results["parsed"]]
    pre = pre.assign(value=pd.to_numeric(pre["value"]))
    wide = pre.pivot_table(index=["model", "subtask_id"], columns="sample", values="value")
    table = analysis.tables["retest"]
    for model, sub in wide.groupby(level="model"):
        sub = sub[[0, 1]].dropna()
        res = stats.pearsonr(sub[0], sub[1])
        got = table[(table["model"] == model) & (table["measure"] == "pre")].iloc[0]
        np.testing.assert_allclose([got["r"], got["n"]], [res.statistic, len(sub)], **TIGHT)


# ---- manipulations ----------------------------------------------------------------------------


def test_manipulation_tests_equal_ttest_rel_and_bh(study):
    _, analysis, _ = study
    items = analysis.items
    table = analysis.tables["manipulation_tests"]
    assert len(table) >= 10
    ctrl = items[items["condition"] == "control"].set_index(["model", "subtask_id"])
    for _, row in table.iterrows():
        cond = items[(items["condition"] == row["condition"]) & (items["model"] == row["model"])]
        cond = cond.set_index(["model", "subtask_id"])[row["measure"]]
        both = pd.concat([cond, ctrl[row["measure"]]], axis=1, join="inner").dropna()
        a, b = both.iloc[:, 0], both.iloc[:, 1]
        res = stats.ttest_rel(a, b)
        ci = res.confidence_interval(0.95)
        d = a - b
        np.testing.assert_allclose(
            [row["n_pairs"], row["effect"], row["t"], row["p"], row["lo"], row["hi"], row["d_z"]],
            [len(d), d.mean(), res.statistic, res.pvalue, ci.low, ci.high, d.mean() / d.std(ddof=1)], **TIGHT)
    q = stats.false_discovery_control(table["p"].to_numpy(), method="bh")  # one family: every per-model test
    np.testing.assert_allclose(table["q"], q, **TIGHT)
    assert (table["significant"] == (q <= 0.05)).all()
    assert 0 < table["significant"].sum() < len(table)  # the data exercise both sides of the cut


# ---- category regression -----------------------------------------------------------------------


def test_category_r2_equals_least_squares(study):
    _, analysis, _ = study
    coefs = analysis.tables["category_ols"]
    terms = [t for t in coefs["term"] if t != "intercept"]
    tasks = _control(analysis.items).dropna(subset=["pre"]).groupby(["task_id", "categories"], as_index=False)["pre"].mean()
    x = np.column_stack([np.ones(len(tasks))] + [tasks["categories"].str.split("|").apply(lambda s, t=t: t in s)
                                                 .to_numpy(float) for t in terms])
    beta, *_ = np.linalg.lstsq(x, tasks["pre"].to_numpy(), rcond=None)
    resid = tasks["pre"].to_numpy() - x @ beta
    r2 = 1 - resid @ resid / ((tasks["pre"] - tasks["pre"].mean()) ** 2).sum()
    n, k = x.shape
    adj = 1 - (1 - r2) * (n - 1) / (n - k)
    pooled = analysis.tables["category_r2"].set_index("model").loc["pooled"]
    np.testing.assert_allclose([pooled["r2"], pooled["adj_r2"], pooled["n_tasks"]], [r2, adj, n], **TIGHT)
    np.testing.assert_allclose(coefs["coef"], beta, rtol=1e-7, atol=1e-8)
    assert analysis.summary["category_r2"] == pooled["r2"]


# ---- factors ---------------------------------------------------------------------------------


def _varimax_brute_force(a: np.ndarray) -> np.ndarray:
    """The 2-factor varimax optimum by searching the rotation angle (grid, then scipy's bounded search)."""
    def rot(t):
        return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])

    def crit(t):
        sq = (a @ rot(t)) ** 2
        return -((sq**2).sum() - (sq.sum(axis=0) ** 2).sum() / len(a))

    grid = np.linspace(0, np.pi / 2, 2001)
    t0 = grid[np.argmin([crit(t) for t in grid])]
    best = optimize.minimize_scalar(crit, bounds=(t0 - 1e-3, t0 + 1e-3), method="bounded",
                                    options={"xatol": 1e-12})
    return a @ rot(best.x)


def test_factor_loadings_equal_an_independent_within_model_pca_and_varimax(study):
    _, analysis, _ = study
    comp = list(BREAKDOWN_COMPONENTS)
    data = _control(analysis.items).dropna(subset=comp)
    z = data.groupby("model")[comp].transform(lambda v: stats.zscore(v, ddof=1))
    eigval, eigvec = np.linalg.eigh(np.corrcoef(z.to_numpy(), rowvar=False))
    top = np.argsort(eigval)[::-1][:2]
    expected = _varimax_brute_force(eigvec[:, top] * np.sqrt(eigval[top]))
    got = analysis.tables["factor_loadings"][["want", "able"]].to_numpy()
    # equal up to the order and signs of the two factors
    err = min(np.abs(np.abs(got[:, perm]) - np.abs(expected)).max() for perm in ([0, 1], [1, 0]))
    assert err < 1e-6, (got, expected)
    assert bool(analysis.tables["factor_rotation"]["converged"].iloc[0])

    scores = z.to_numpy() @ got @ np.linalg.inv(got.T @ got)
    y = data.groupby("model")["overall"].transform(lambda v: stats.zscore(v, ddof=1, nan_policy="omit")).to_numpy()
    ok = np.isfinite(y)
    y, x = y[ok], np.column_stack([np.ones(ok.sum()), scores[ok]])
    _, ssr, *_ = np.linalg.lstsq(x, y, rcond=None)
    r2 = 1 - ssr[0] / ((y - y.mean()) ** 2).sum()
    np.testing.assert_allclose(analysis.summary["factor_r2_overall"], r2, **TIGHT)


# ---- choice ----------------------------------------------------------------------------------


def _choices(results: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    pre = _control(items).dropna(subset=["pre"]).set_index(["model", "subtask_id"])["pre"]
    rows = results[(results["measure"] == "choice") & (results["condition"] == "control") & results["parsed"]].copy()
    rows["value"] = pd.to_numeric(rows["value"])
    rows = rows[rows["value"].isin([1.0, 2.0])]
    rows["s1"] = [pre.get((m, s), np.nan) for m, s in zip(rows["model"], rows["subtask_id"], strict=True)]
    rows["s2"] = [pre.get((m, s), np.nan) for m, s in zip(rows["model"], rows["other_subtask_id"], strict=True)]
    return rows.dropna(subset=["s1", "s2"])


def test_choice_logit_equals_a_binomial_glm_and_the_gap_is_signed(study):
    results, analysis, _ = study
    rows = _choices(results, analysis.items)
    y = (rows["value"] == 1.0).to_numpy(float)
    x = sm.add_constant(((rows["s1"] - rows["s2"]) / 10).to_numpy())
    glm = sm.GLM(y, x, family=sm.families.Binomial()).fit(tol=1e-12)
    logit = analysis.tables["choice_logit"].set_index("model").loc["pooled"]
    np.testing.assert_allclose([logit["diff10"], logit["intercept"], logit["n"]],
                               [glm.params[1], glm.params[0], len(y)], rtol=1e-6)
    np.testing.assert_allclose([logit["diff10_lo"], logit["diff10_hi"]], glm.conf_int()[1], rtol=1e-5)

    gap = np.where(y == 1, rows["s1"] - rows["s2"], rows["s2"] - rows["s1"])
    assert (gap < 0).any()  # some choices went to the lower-scored task: an absolute gap would differ
    ci = stats.ttest_1samp(gap, 0).confidence_interval(0.95)
    pooled = analysis.tables["choice_gap"].set_index("model").loc["pooled"]
    np.testing.assert_allclose([pooled["gap"], pooled["lo"], pooled["hi"], pooled["n"]],
                               [gap.mean(), ci.low, ci.high, len(gap)], **TIGHT)


# ---- degenerate inputs: a skip with a reason, never a crash or an infinite number --------------


def _variant(results: pd.DataFrame, mask, value) -> pd.DataFrame:
    out = results.copy()
    out.loc[mask(out), "value"] = value(out[mask(out)]) if callable(value) else value
    return out


def _finite_tables(analysis) -> None:
    for name, table in analysis.tables.items():
        numbers = table.select_dtypes("number").to_numpy(float)
        assert not np.isinf(numbers).any(), name


def test_dv_constant_within_every_model_is_skipped_with_a_reason(study):
    results, _, _ = study
    const = _variant(results, lambda d: (d["measure"] == "breakdown") & (d["field"] == "overall") & d["parsed"],
                     lambda d: np.where(d["model"] == d["model"].iloc[0], 40.0, 60.0))
    analysis = analyze(const)  # used to crash: "zero-size array"
    assert any("regression of overall on the factors" in s and "constant within" in s for s in analysis.skipped)
    assert "factor_r2_overall" not in analysis.summary and "factor_r2_pre" in analysis.summary
    _finite_tables(analysis)


def test_constant_breakdown_component_in_one_model_is_said_not_silently_dropped(study):
    results, _, _ = study
    first = results["model"].iloc[0]
    const = _variant(results, lambda d: (d["measure"] == "breakdown") & (d["field"] == "fear") & (d["model"] == first),
                     50.0)
    analysis = analyze(const)
    assert any(f"model {first}: fear constant within the model" in s for s in analysis.skipped), analysis.skipped


def test_constant_pre_task_score_gives_no_infinite_r2(study):
    results, _, _ = study
    const = _variant(results, lambda d: (d["measure"] == "pre") & d["parsed"], 55.0)
    analysis = analyze(const)
    _finite_tables(analysis)  # the category R² table used to hold -inf
    assert "category_r2" not in analysis.summary
    assert any("pre-task score is 55 on every task" in s for s in analysis.skipped), analysis.skipped


def test_perfectly_separated_choices_are_detected_not_reported(study):
    results, analysis, _ = study
    pre = _control(analysis.items).set_index(["model", "subtask_id"])["pre"]
    choice = (results["measure"] == "choice") & results["parsed"]
    s1 = np.array([pre.get((m, s), np.nan) for m, s in zip(results["model"], results["subtask_id"], strict=True)])
    s2 = np.array([pre.get((m, s), np.nan) for m, s in zip(results["model"], results["other_subtask_id"], strict=True)])
    separated = results.copy()
    separated.loc[choice, "value"] = np.where(s1 >= s2, 1.0, 2.0)[choice.to_numpy()]  # always the higher score
    out = analyze(separated)
    assert any("control logit, pooled: perfect separation" in s for s in out.skipped), out.skipped
    assert "choice_slope_per10" not in out.summary  # not a slope of 44.7 ± 46,000


def test_separation_check_agrees_with_the_definition():
    from motivlab.evals.analysis.choice import separated

    x = np.column_stack([np.ones(6), [-3, -2, -1, 1, 2, 3.0]])
    assert separated(x, np.array([0, 0, 0, 1, 1, 1.0]))  # complete
    assert separated(x, np.array([0, 0, 0, 0, 1, 1.0]))
    x_tie = np.column_stack([np.ones(6), [-1, 0, 0, 0, 0, 1.0]])
    assert separated(x_tie, np.array([0, 0, 1, 0, 1, 1.0]))  # quasi-complete: only the ties overlap
    assert not separated(x, np.array([0, 1, 0, 1, 0, 1.0]))


# ---- the package's shape -----------------------------------------------------------------------


def test_analysis_modules_import_only_common():
    """No import cycle: consistency/structure/choice/manipulations depend on common alone."""
    import motivlab.evals.analysis as pkg

    folder = Path(pkg.__file__).parent
    for name in ("common", "consistency", "structure", "choice", "manipulations"):
        tree = ast.parse((folder / f"{name}.py").read_text())
        inside = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                  and n.module.startswith("motivlab.evals.analysis")}
        assert inside <= ({"motivlab.evals.analysis.common"} - {f"motivlab.evals.analysis.{name}"}), (name, inside)
