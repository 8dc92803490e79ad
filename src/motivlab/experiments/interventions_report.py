"""Figures, summary.json and report.html of ``motivlab experiment interventions`` (the analysis is in
:mod:`motivlab.experiments.interventions`; this module only shows it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# (quantity in summary.parquet, column title) of the headline table, in the order
HEADLINE = [
    ("reward_exact_train_end", "reward (exact, train, no prefix)"), ("reward_kept_exact", "reward kept (vs baseline)"),
    ("reward_sampled_last", "training reward (sampled, last 10 steps)"),
    ("p_train_end", "p train"), ("p_heldout_end", "p held-out"), ("p_trap_end", "p trap"),
    ("s_l_note_trap_end", "trap: T follows the note"), ("s_r_train_end", "sR train"),
    ("d_trait_train", "Δ trait train"), ("d_trait_heldout", "Δ trait held-out"),
    ("d_stated_train", "Δ stated"), ("d_p_train", "Δ p"), ("report_train_end", "P(report)"),
    ("p_prefixed_train_end", "p with prefix"),
]


def _cell(summary: Any, arm: str, rho: float, q: str) -> str:
    r = summary[(summary.arm == arm) & (summary.rho == rho) & (summary.quantity == q)]
    if r.empty or not np.isfinite(r["mean"].iloc[0]):
        return "—"
    mean, lo, hi = r[["mean", "lo", "hi"]].iloc[0]
    return f"{mean:.3f}" if not np.isfinite(lo) else f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def headline_table(summary: Any, rho0: float | None) -> Any:
    """One row per arm (at the main rho), the issue's questions as columns, 'mean [95 % t interval]'."""
    import pandas as pd

    main = summary[summary.rho == rho0] if rho0 is not None else summary
    rows = []
    for arm in dict.fromkeys(main.arm):
        rows.append({"arm": arm, **{title: _cell(summary, arm, rho0, q) for q, title in HEADLINE}})
    return pd.DataFrame(rows)


def _mean_ci(summary: Any, arm: str, rho: float, q: str) -> tuple[float, float, float]:
    r = summary[(summary.arm == arm) & (summary.rho == rho) & (summary.quantity == q)]
    if r.empty:
        return np.nan, np.nan, np.nan
    return tuple(float(x) for x in r[["mean", "lo", "hi"]].iloc[0])


def _err(mean: float, lo: float, hi: float) -> list[list[float]]:
    if not np.isfinite(lo):
        return [[0.0], [0.0]]
    return [[mean - lo], [hi - mean]]


def figures(runs: Any, summary: Any, traj: Any, rho0: float | None, out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motivlab.report.html import save_figure

    arms = list(dict.fromkeys(runs[runs.rho == rho0].arm))
    colors = {a: plt.cm.tab10(i % 10) for i, a in enumerate(arms)}
    paths = {}

    # 1. Pareto: reward kept vs unwanted motivation removed (held-out p), per arm
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, split in zip(axes, ("train", "heldout"), strict=True):
        for a in arms:
            x = _mean_ci(summary, a, rho0, f"p_removed_{split}")
            y = _mean_ci(summary, a, rho0, "reward_kept_exact")
            ax.errorbar([x[0]], [y[0]], xerr=_err(*x), yerr=_err(*y), fmt="o", color=colors[a], capsize=3, label=a)
            ax.annotate(a, (x[0], y[0]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.axhline(1, color="0.7", lw=0.8)
        ax.axvline(0, color="0.7", lw=0.8)
        ax.set_xlabel(f"unwanted motivation removed: 1 − p_end / baseline ({split} envs)")
        ax.set_ylabel("reward kept: exact expected reward / baseline (train envs, world's prompts)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Pareto: reward kept vs reward-seeking removed (mean, 95 % t interval over seeds)")
    fig.tight_layout()
    paths["pareto"] = save_figure(fig, out / "figures" / "pareto.png")

    # 2. trajectories of the exact quantities per arm (means over seeds)
    panels = [("p_exact", "train", "p (train)"), ("p_exact", "heldout", "p (held-out)"), ("s_r_exact", "train", "sR (train)"),
              ("trait_exact", "train", "trait P(X|probe) (train)"), ("trait_exact", "heldout", "trait (held-out)"),
              ("stated_exact", "train", "stated P(says grader) (train)"), ("report_exact", "train", "P(report) (train)"),
              ("s_l_note_exact", "trap", "trap: P(note's lie | T)"), ("p_exact", "trap", "p (trap)")]
    fig, axes = plt.subplots(3, 3, figsize=(13, 10), sharex=True)
    main = traj[traj.rho == rho0]
    for ax, (col, split, title) in zip(axes.flat, panels, strict=True):
        for a in arms:
            g = main[(main.arm == a) & (main.split == split)]
            if col in g and g[col].notna().any():
                mean = g.groupby("step")[col].mean()
                ax.plot(mean.index, mean.values, color=colors[a], label=a)
        ax.set_title(title, fontsize=9)
    axes[0, 0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("RL step")
    fig.tight_layout()
    paths["trajectories"] = save_figure(fig, out / "figures" / "trajectories.png")

    # 3. stated vs revealed; 4. entanglement vs rho; 5. clip rate; 6. obfuscation
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    ax = axes[0]
    for a in arms:
        x, y = _mean_ci(summary, a, rho0, "d_p_train"), _mean_ci(summary, a, rho0, "d_stated_train")
        ax.errorbar([x[0]], [y[0]], xerr=_err(*x), yerr=_err(*y), fmt="o", color=colors[a], capsize=3)
        ax.annotate(a, (x[0], y[0]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    lim = [-1, 1]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("revealed: Δp (train, end − start)")
    ax.set_ylabel("stated: Δ P(self-description says grader)")
    ax.set_title("stated vs revealed", fontsize=9)
    ax = axes[1]
    for arm_name in dict.fromkeys(runs[runs.rho != rho0].arm):
        sub = summary[(summary.arm == arm_name) & (summary.quantity == "d_trait_heldout")].sort_values("rho")
        ax.errorbar(sub.rho, sub["mean"], yerr=[sub["mean"] - sub.lo.fillna(sub["mean"]), sub.hi.fillna(sub["mean"]) - sub["mean"]],
                    fmt="o-", capsize=3, label=f"{arm_name}: Δ trait (held-out)")
        dp = summary[(summary.arm == arm_name) & (summary.quantity == "d_p_heldout")].sort_values("rho")
        ax.plot(dp.rho, dp["mean"], "s:", color="0.5", label=f"{arm_name}: Δ p (held-out)")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xlabel("trait correlation ρ of the organism")
    ax.set_title("entangled generalisation", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    runs_dir = out / "sweep" / "runs"
    ax = axes[2]
    for name in sorted(p.name for p in runs_dir.glob("cap*")) if runs_dir.is_dir() else []:
        import pandas as pd

        s = pd.read_parquet(runs_dir / name / "steps.parquet")
        if "steer/clip_rate" in s:
            ax.plot(s.step, s["steer/clip_rate"], color="C0", alpha=0.6)
            ax.plot(s.step, s["steer/decision_clip_rate"], color="C3", alpha=0.6)
    ax.plot([], [], color="C0", label="all positions")
    ax.plot([], [], color="C3", label="decision position")
    ax.set_title("capping: clip rate over training (per seed)", fontsize=9)
    ax.set_xlabel("RL step")
    ax.legend(fontsize=7)
    ax = axes[3]
    for a in arms:
        g = main[(main.arm == a) & (main.split == "trap")]
        if "s_l_note_exact" in g and g.s_l_note_exact.notna().any():
            mean = g.groupby("step")[["s_l_note_exact", "s_l_exact"]].mean()
            ax.plot(mean.index, mean.s_l_note_exact, color=colors[a], label=a)
    ax.set_yscale("log")
    ax.set_title("obfuscation: P(T answers the note's lie) on traps", fontsize=9)
    ax.set_xlabel("RL step")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    fig.tight_layout()
    paths["questions"] = save_figure(fig, out / "figures" / "questions.png")
    return paths


def write_report(spec: Any, runs: Any, summary: Any, traj: Any, out: Path, *, sweep_seconds: float, workers: int,
                 failed: int) -> dict[str, Any]:
    """figures/*.png, headline.parquet, summary.json and report.html; returns the summary dict."""
    from motivlab.io import run_metadata, write_json, write_table
    from motivlab.report.html import HtmlReport

    rho0 = spec.organism.get("trait_correlation")
    head = headline_table(summary, rho0)
    write_table(head, out / "headline.parquet")
    paths = figures(runs, summary, traj, rho0, out)
    result = {
        "experiment": "interventions", "spec": spec.model_dump(mode="json"), "runs": len(runs),
        "failed_points": failed, "sweep_seconds": sweep_seconds, "workers": workers,
        "headline": head.to_dict(orient="records"),
        "metadata": run_metadata(None),
    }
    write_json(out / "summary.json", result)
    rep = HtmlReport("Shaping motivation-space exploration: baseline vs interventions")
    rep.text(f"{len(runs)} runs ({failed} failed points), {len(spec.seeds)} seeds per arm, {spec.steps} GRPO steps each; "
             f"sweep wall time {sweep_seconds:.0f} s with {workers} worker(s). Organism: {spec.organism}. "
             "Cells: mean [95 % Student-t interval over seeds]. 'kept'/'removed' are relative to the baseline run of "
             "the same seed; Δ = end − start of the run (exact, teacher-forced).")
    rep.table(head, "headline (main organism)", max_rows=100)
    rep.figure(paths["pareto"], "reward kept vs unwanted motivation removed")
    rep.figure(paths["trajectories"], "exact quantities over training, mean over seeds")
    rep.figure(paths["questions"], "stated vs revealed; trait drift vs ρ; clip rate; obfuscation")
    rep.heading("Arms")
    for arm in spec.arms:
        rep.text(f"{arm.name}: {arm.interventions or 'no intervention'}")
    rep.heading("All quantities").table(summary, max_rows=2000)
    rep.heading("Runs").table(runs, max_rows=200)
    rep.write(out / "report.html")
    return result
