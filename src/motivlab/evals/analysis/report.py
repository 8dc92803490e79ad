"""Figures, tables and ``report.html`` for an evaluation analysis, with the paper's values beside ours.

Output layout (``OUT``): ``tables/*.parquet|csv`` (every table of the analysis, plus item
means), ``figures/*.png``, ``summary.json`` (headline numbers, what was missing or skipped),
``metadata.json`` (package versions, git commit, time) and ``report.html``. The reference values are the published ones from "Motivation in Large
Language Models" (Nahum et al., 2026) as listed in the evaluation spec; they are context for
shapes, not targets: different models, tasks and wordings give different numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motivlab.evals.analysis.common import control_items
from motivlab.evals.analysis.pipeline import Analysis
from motivlab.io import run_metadata, write_json, write_table
from motivlab.report import HtmlReport, save_figure

# summary key -> (what, the paper's value)
PAPER_REFERENCE: dict[str, tuple[str, str]] = {
    "retest_r": ("test–retest r, pre-task (Fisher-z mean over models)", "0.88 (per model 0.64–0.95)"),
    "r_pre_overall": ("pre-task vs breakdown overall r", "0.84"),
    "r_post_post_similar": ("post vs post-similar r", "0.83"),
    "r_pre_post": ("pre vs post r", "0.64"),
    "r_pre_performance": ("pre-task vs judged performance r", "0.33"),
    "r_pre_completion": ("pre-task vs completion r", "0.37"),
    "r_pre_effort": ("pre-task vs effort r", "0.31"),
    "r_pre_log_tokens": ("pre-task vs tokens r (ours: log tokens)", "0.18"),
    "r_post_performance": ("post-task vs judged performance r", "0.41"),
    "r_post_completion": ("post-task vs completion r", "0.45"),
    "r_post_effort": ("post-task vs effort r", "0.44"),
    "r_post_log_tokens": ("post-task vs tokens r (ours: log tokens)", "0.30"),
    "category_r2": ("R² of per-task pre-task score on categories", "≈ 0.68"),
    "factor_r2_overall": ("R² of motivation on want + able factors", "≈ 0.88"),
    "choice_gap": ("chosen − unchosen pre-task score (points)", "≈ 12"),
    "choice_attached_rate_money": ("task with money attached chosen", "≈ 0.79"),
    "choice_attached_rate_threat": ("task with threat attached chosen", "≈ 0.61"),
    "choice_attached_rate_futility": ("task with futility attached chosen", "≈ 0.13"),
}


def comparison_table(summary: dict[str, float], intervals: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Paper value beside ours (with its 95% interval where the analysis has one)."""
    intervals = intervals or {}

    def ours(k: str) -> str:
        if k not in summary:
            return "not computed (see skipped)"
        ci = f" [{intervals[k][0]:.3g}, {intervals[k][1]:.3g}]" if k in intervals else ""
        return f"{summary[k]:.3g}{ci}"

    return pd.DataFrame([{"quantity": what, "paper": paper, "ours (95% CI)": ours(k)}
                         for k, (what, paper) in PAPER_REFERENCE.items()])


# --------------------------------------------------------------------------------------------
# figures (each returns a matplotlib Figure or None when its table is absent)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _err(est: pd.Series, lo: pd.Series, hi: pd.Series) -> list[np.ndarray]:
    """Error-bar lengths; an interval that touches its estimate (a Wilson bound at 0 %) gives 0, not -1e-17."""
    return [np.clip(est - lo, 0, None).to_numpy(), np.clip(hi - est, 0, None).to_numpy()]


# what a difference from control is measured in, per manipulation measure
EFFECT_UNITS = {"pre": "pre-task score, points of 1–100", "post": "post-task score, points of 1–100",
                "performance": "judged performance, points of 1–7", "completion": "judged completion, points of 1–7",
                "effort": "judged effort, points of 1–7", "log_tokens": "log completion tokens (0.1 ≈ +10 %)"}
GROUP_COLOURS = {"positive_extrinsic": "#1b7837", "positive_intrinsic": "#5aae61", "negative_extrinsic": "#c2185b",
                 "demotivation": "#6a3d9a"}


def fig_manipulations(pooled: pd.DataFrame) -> Any:
    """Forest plot: pooled effect of each manipulation vs control with 95% intervals, one panel per
    measure (three per row, so each stays readable on a page), manipulations grouped by kind."""
    if pooled is None or pooled.empty:
        return None
    from motivlab.evals.schema import CONDITION_GROUPS, CONDITIONS

    plt = _plt()
    measures = list(dict.fromkeys(pooled["measure"]))
    present = set(pooled["condition"])
    conditions = [c for c in CONDITIONS if c in present] + sorted(present - set(CONDITIONS))  # grouped by kind
    ncols = min(3, len(measures))
    nrows = -(-len(measures) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, (0.34 * len(conditions) + 1.4) * nrows),
                             sharey=True, squeeze=False)
    y = np.arange(len(conditions))
    for ax, m in zip(axes.flat, measures, strict=False):
        t = pooled[pooled["measure"] == m].set_index("condition").reindex(conditions)
        sig = t["significant"].fillna(False).astype(bool).to_numpy()
        for mask, colour, label in ((sig, "tab:red", "BH q < 0.05"), (~sig, "tab:gray", "not significant")):
            tt = t[mask]
            ax.errorbar(tt["effect"], y[mask], xerr=_err(tt["effect"], tt["lo"], tt["hi"]), fmt="o",
                        color=colour, ms=4, capsize=2, label=label)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(m, fontsize=11)
        ax.set_xlabel(EFFECT_UNITS.get(m, "difference from control"), fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_yticks(y, conditions)
        for tick, c in zip(ax.get_yticklabels(), conditions, strict=False):  # shared axes may hold fewer
            tick.set_color(GROUP_COLOURS.get(CONDITION_GROUPS.get(c, ""), "black"))
    for ax in list(axes.flat)[len(measures):]:
        ax.set_visible(False)
    axes[0][0].invert_yaxis()
    handles = [plt.Line2D([], [], color="tab:red", marker="o", ls="", label="BH q < 0.05"),
               plt.Line2D([], [], color="tab:gray", marker="o", ls="", label="not significant")]
    handles += [plt.Line2D([], [], color=c, ls="", marker="s", label=g.replace("_", " ")) for g, c in GROUP_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Each manipulation minus control, pooled over models (mean paired difference, 95% CI)")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def fig_category_profile(profile: pd.DataFrame) -> Any:
    if profile is None or profile.empty:
        return None
    plt = _plt()
    p = profile[profile["model"] == "pooled"].sort_values("mean_pre")
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(p) + 1.2))
    ax.barh(p["category"], p["mean_pre"], xerr=_err(p["mean_pre"], p["lo"], p["hi"]),
            color="tab:blue", alpha=0.75, capsize=2)
    for model, g in profile[profile["model"] != "pooled"].groupby("model"):
        g = g.set_index("category").reindex(p["category"])
        ax.plot(g["mean_pre"], np.arange(len(p)), "o", ms=3, label=model)
    ax.set_xlabel("mean pre-task motivation (1–100), control")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Category profile")
    return fig


def fig_report_behaviour(items: pd.DataFrame, summary: dict[str, float]) -> Any:
    ctrl = control_items(items)
    if "performance" not in ctrl or ctrl["performance"].notna().sum() == 0:
        return None
    plt = _plt()
    reports = [r for r in ("pre", "post") if r in ctrl and ctrl[r].notna().any()]
    fig, axes = plt.subplots(1, len(reports), figsize=(5 * len(reports), 4), squeeze=False)
    for ax, r in zip(axes[0], reports, strict=True):
        for model, g in ctrl.groupby("model"):
            ax.scatter(g[r], g["performance"], s=6, alpha=0.5, label=model)
        ax.set_xlabel(f"{r}-task self-report (1–100)")
        ax.set_ylabel("judged performance (1–7)")
        rv = summary.get(f"r_{r}_performance")
        ax.set_title(f"{r} vs performance" + (f": pooled r = {rv:.2f}" if rv is not None else ""))
    axes[0][0].legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    return fig


def fig_factor_loadings(loadings: pd.DataFrame) -> Any:
    if loadings is None or loadings.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    x = np.arange(len(loadings))
    ax.bar(x - 0.2, loadings["want"], 0.4, label="want")
    ax.bar(x + 0.2, loadings["able"], 0.4, label="able")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, loadings["component"])
    ax.set_ylabel("varimax loading")
    ax.set_title("Breakdown: two rotated components")
    ax.legend()
    return fig


def fig_choice(binned: pd.DataFrame, logit: pd.DataFrame) -> Any:
    if binned is None or binned.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.errorbar(binned["diff10"] * 10, binned["rate"], yerr=_err(binned["rate"], binned["lo"], binned["hi"]),
                fmt="o", capsize=2, label="observed (Wilson 95%)")
    pooled = logit[logit["model"] == "pooled"] if logit is not None else pd.DataFrame()
    if len(pooled):
        d = np.linspace(binned["diff10"].min(), binned["diff10"].max(), 100)
        p = 1 / (1 + np.exp(-(pooled["intercept"].iloc[0] + pooled["diff10"].iloc[0] * d)))
        ax.plot(d * 10, p, label="logit fit")
    ax.set_xlabel("pre-task score of task 1 − task 2 (points)")
    ax.set_ylabel("P(chose task 1)")
    ax.set_title("Choice follows the self-report (control)")
    ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------
# writing everything


def write_outputs(result: Analysis, out_dir: str | Path, *, source: str = "") -> Path:
    """Write tables, figures, summary.json and report.html into ``out_dir``; return the report path."""
    out = Path(out_dir)
    tables = {**result.tables, "items": result.items}
    for name, table in tables.items():
        if table is not None and not table.empty:
            write_table(table, out / "tables" / f"{name}.parquet")
    summary = result.summary
    figures = {
        "manipulations": fig_manipulations(tables.get("manipulation_pooled")),
        "category_profile": fig_category_profile(tables.get("category_profile")),
        "report_behaviour": fig_report_behaviour(result.items, summary),
        "factor_loadings": fig_factor_loadings(tables.get("factor_loadings")),
        "choice": fig_choice(tables.get("choice_binned"), tables.get("choice_logit")),
    }
    paths = {k: save_figure(f, out / "figures" / f"{k}.png") for k, f in figures.items() if f is not None}
    write_json(out / "summary.json", {"source": source, "summary": summary, "intervals": result.intervals,
                                      "missing": result.missing, "skipped": result.skipped})
    write_json(out / "metadata.json", run_metadata(None, {"results": source}))
    return _html(result, tables, paths, source).write(out / "report.html")


# what each figure and table shows, in words (the report's captions)
FIGURE_CAPTIONS = {
    "report_behaviour": "Each dot is one sub-task under control: the model's self-reported motivation (x) against "
                        "the judge's score of its work (y); the title gives the pooled correlation.",
    "category_profile": "Mean pre-task motivation per task category under control (bars: pooled over models with 95% "
                        "intervals; dots: each model).",
    "factor_loadings": "How the five breakdown components load on the two varimax-rotated factors ('want' and "
                       "'able').",
    "choice": "How often task 1 was chosen, against how much more the model said it wanted task 1 than task 2 "
              "before seeing the choice (dots: observed, Wilson 95%; line: logistic fit).",
    "manipulations": "Each manipulation minus control, per measure: dots are the mean paired difference over "
                     "sub-tasks and models, bars the 95% interval; red where Benjamini-Hochberg q < 0.05 over all "
                     "tests. Labels are coloured by the kind of manipulation.",
}
TABLE_CAPTIONS = {
    "retest": "Test-retest reliability: correlation between two independent samples of the same pre-task question.",
    "cross_context": "Agreement between self-reports asked in different contexts (pre vs breakdown overall, post vs "
                     "post-similar, pre vs post).",
    "report_behaviour": "Correlation of each self-report with each behaviour (judged performance, completion, effort, "
                        "log tokens), per model and pooled.",
    "category_r2": "How much of the per-task pre-task score the task categories explain (R²).",
    "category_ols": "Regression of the pre-task score on task categories: one coefficient per category.",
    "factor_loadings": "Varimax loadings of the breakdown components on the two factors.",
    "factor_variance": "Variance explained by each factor.",
    "factor_regression": "Regression of overall motivation on the two factors.",
    "choice_counts": "How often each task of a pair was chosen, per model.",
    "choice_logit": "Logistic regression of choosing task 1 on the pre-task score difference (per 10 points).",
    "choice_gap": "Mean pre-task score of the chosen task minus the unchosen one.",
    "choice_attached_rate": "How often the task carrying the manipulation was chosen, per manipulation.",
    "choice_attached_logit": "The same as a logistic regression with the score difference as covariate.",
    "manipulation_pooled": "Each manipulation minus control, pooled over models: effect, 95% interval, p and BH q.",
    "condition_means": "Mean of each measure (columns) under each condition (rows), all models together.",
}


def _readable(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """The shape a person reads best (the CSV keeps the long form): condition means as a
    condition x measure grid, conditions in the order of schema.CONDITIONS."""
    if name == "condition_means" and {"condition", "measure", "mean"} <= set(table.columns):
        from motivlab.evals.schema import CONDITIONS

        grid = table.pivot(index="condition", columns="measure", values="mean")
        order = [c for c in CONDITIONS if c in grid.index] + sorted(set(grid.index) - set(CONDITIONS))
        measures = list(dict.fromkeys(table["measure"]))
        grid = grid.reindex(index=order, columns=measures)
        grid.columns.name = None
        return grid.reset_index()
    return table


def _html(result: Analysis, tables: dict[str, pd.DataFrame], figs: dict[str, Path], source: str) -> HtmlReport:
    models = sorted(result.items["model"].unique()) if not result.items.empty else []
    rep = HtmlReport("Self-reported motivation vs behaviour",
                     f"source: {source} · models: {', '.join(models)} · {len(result.items)} item means")
    rep.heading("Data: what was parsed, what is missing, what was skipped")
    rep.table(result.parse_rates, "parse rate per model and measure (Wilson 95%); unparsed rows are excluded")
    rep.text("Missing inputs: " + ("; ".join(result.missing) if result.missing else "none."))
    rep.text("Skipped analyses: " + ("; ".join(result.skipped) if result.skipped else "none."))
    rep.heading("The paper's values next to ours")
    rep.table(comparison_table(result.summary, result.intervals), "reference: Nahum et al. 2026, as listed in the evaluation spec")
    sections = [
        ("Reliability and consistency", [], ["retest", "cross_context"]),
        ("Self-report vs behaviour", ["report_behaviour"], ["report_behaviour"]),
        ("Task categories", ["category_profile"], ["category_r2", "category_ols"]),
        ("Want and able: structure of the breakdown", ["factor_loadings"],
         ["factor_loadings", "factor_variance", "factor_regression"]),
        ("Choice", ["choice"], ["choice_counts", "choice_logit", "choice_gap", "choice_attached_rate",
                                "choice_attached_logit"]),
        ("Manipulations vs control", ["manipulations"], ["manipulation_pooled", "condition_means"]),
    ]
    for title, fig_names, table_names in sections:
        rep.heading(title)
        for f in fig_names:
            if f in figs:
                rep.figure(figs[f], FIGURE_CAPTIONS.get(f, f))
        for t in table_names:
            if t in tables and not tables[t].empty:
                rep.table(_readable(t, tables[t]), f"{TABLE_CAPTIONS.get(t, t)} ({t})", full=f"tables/{t}.csv")
    tests = tables.get("manipulation_tests")
    if tests is not None and not tests.empty:
        shown = tests.sort_values(["significant", "q"], ascending=[False, True])
        rep.table(shown, "Per-model paired t-tests of each manipulation against control, Benjamini–Hochberg over all "
                  "of them (significant first) (manipulation_tests)", max_rows=80, full="tables/manipulation_tests.csv")
    return rep
