"""Figures of the critical-diversity experiment and the loop (matplotlib, Agg, small PNGs).

Measured curves are drawn with every seed (points) and the seed mean (line); predicted ones as a
line with a shaded interval, in the same colour per prior, so the loop's overlay reads at a glance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_calibration", "plot_n_star", "plot_overlay", "plot_p_inf_curves"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(n: int) -> Any:
    return _plt().cm.viridis(np.linspace(0.05, 0.85, max(n, 1)))


def _draw_measured(ax: Any, runs: Any, threshold: float) -> dict[float, Any]:
    priors = sorted(runs["prior"].unique())
    colors = dict(zip(priors, _colors(len(priors)), strict=True))
    for prior in priors:
        g = runs[runs["prior"] == prior]
        p0 = g["p0"].mean()
        ax.plot(g["n"], g["p_inf"], "o", ms=4, alpha=0.55, color=colors[prior])
        mean = g.groupby("n")["p_inf"].mean()
        ax.plot(mean.index, mean.values, "-", lw=1.8, color=colors[prior], label=f"measured, p0 = {p0:.3f}")
    ax.axhline(threshold, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("N (training envs)")
    ax.set_ylabel("p_inf (exact, training envs, end of run)")
    ax.set_ylim(-0.02, 1.02)
    return colors


def plot_p_inf_curves(runs: Any, n_star: Any, *, threshold: float = 0.5) -> Any:
    """p_inf(N) per prior: every seed and the mean; N* marked where it is a number."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = _draw_measured(ax, runs, threshold)
    for row in n_star.itertuples():
        if row.kind == "crossing":
            ax.axvline(row.n_star, color=colors[row.prior], ls="--", lw=0.9)
    ax.legend(fontsize=8)
    ax.set_title("critical diversity: p_inf(N) per prior")
    fig.tight_layout()
    return fig


def plot_n_star(n_star: Any, slope: dict[str, Any], predicted: Any | None = None) -> Any:
    """N*(p0) on log-log axes: measured (with interval; bounds as arrows), fitted slope, prediction."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for row in n_star.itertuples():
        x = row.p0_measured
        if row.kind == "crossing":
            ax.errorbar([x], [row.n_star], yerr=[[row.n_star - row.ci_low], [row.ci_high - row.n_star]],
                        fmt="o", color="C0", capsize=3)
        else:
            marker = "v" if row.kind == "below_range" else "^"
            ax.plot([x], [row.n_star], marker, color="C0", ms=8, alpha=0.7)
    if slope.get("defined"):
        ok = n_star[n_star["kind"] == "crossing"]
        xs = np.geomspace(ok["p0_measured"].min(), ok["p0_measured"].max(), 20)
        a = np.mean(np.log(ok["n_star"]) - slope["slope"] * np.log(ok["p0_measured"]))
        ax.plot(xs, np.exp(a) * xs ** slope["slope"], "-", color="C0", lw=1,
                label=f"measured slope {slope['slope']:.2f} [{slope['ci_low']:.2f}, {slope['ci_high']:.2f}]")
    if predicted is not None:
        kinds = predicted["kind"] if "kind" in predicted else ["crossing"] * len(predicted)
        num = predicted[[k == "crossing" for k in kinds]]
        ax.errorbar(num["p0"], num["n_star"], yerr=[num["n_star"] - num["ci_low"], num["ci_high"] - num["n_star"]],
                    fmt="s", color="C3", capsize=3, alpha=0.8, label="predicted (before verification)")
        for row, kind in zip(predicted.itertuples(), kinds, strict=True):
            if kind != "crossing":
                ax.plot([row.p0], [row.n_star], "v" if kind == "below_range" else "^", color="C3", ms=9, alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a short log axis overlap
    ax.set_xlabel("p0 (measured)")
    ax.set_ylabel("N*")
    ax.set_title("N*(p0): ▲ = beyond range, ▼ = below range")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_overlay(runs: Any, predicted_curves: Any, *, threshold: float = 0.5) -> Any:
    """Measured p_inf(N) (points, mean) with the predicted curves and their 95 % bands."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.6, 4.4))
    colors = _draw_measured(ax, runs, threshold)
    for prior, g in predicted_curves.groupby("prior"):
        color = colors.get(prior, "k")
        ax.plot(g["n"], g["p_pred"], "--", color=color, lw=1.4)
        ax.fill_between(g["n"], g["p_lo"], g["p_hi"], color=color, alpha=0.15)
    ax.plot([], [], "k--", label="predicted (dashed, 95 % band)")
    ax.legend(fontsize=7)
    ax.set_title("predicted vs measured p_inf(N)")
    fig.tight_layout()
    return fig


def plot_calibration(fitted: Any) -> Any:
    """Calibration data (points) and the fitted mean-field model (lines) per run, quantity and split."""
    plt = _plt()
    quants = [("p_exact", "p"), ("s_r_exact", "sR"), ("s_l_exact", "sL")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    runs = sorted(fitted["run"].unique())
    colors = dict(zip(runs, _colors(len(runs)), strict=True))
    for ax, (q, label) in zip(axes, quants, strict=True):
        for r in runs:
            for split, ls in (("train", "-"), ("heldout", ":")):
                g = fitted[(fitted["run"] == r) & (fitted["quantity"] == q) & (fitted["split"] == split)]
                if g.empty:
                    continue
                n = int(g["n"].iloc[0])
                ax.plot(g["step"], 1 / (1 + np.exp(-g["logit"])), "o", ms=3, color=colors[r], alpha=0.7)
                ax.plot(g["step"], 1 / (1 + np.exp(-g["fitted"])), ls, color=colors[r],
                        label=f"N={n} {split}" if q == "p_exact" else None)
        ax.set_title(label)
        ax.set_xlabel("RL step")
        ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=7)
    fig.suptitle("calibration: early-time data (points) and the fitted mean-field model (lines)")
    fig.tight_layout()
    return fig
