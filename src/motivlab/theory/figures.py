"""The theory figures (``motivlab theory figures``): PNG + the table behind each + one index.html.

1. Single environment: ``p_∞`` over ``(log α^z/α^y, log α^x/α^y)`` at ``p0 = 0.01, sR0 = 0.5, sL0 = 0.1``.
2. The same heat-map on a grid of initial skills ``(sR0, sL0)``.
3. Homogeneous coupling ``c = (1, 1, 0)``: ``p_∞`` against ``N`` for several ``p0`` (N* marked).
4. ``N*`` against ``p0`` in log-log axes with fitted slopes (95 % t intervals) for several ``c_y``
   and skill gaps.
5. Heterogeneous ``N*`` vs ``p0`` per geometry — drawn by :mod:`motivlab.theory.heterogeneous.figure5` (another
   module; skipped with a note when it is not installed).
6. ``N*`` against the local-skill transfer ``c_y`` for several ``p0``: where diversity stops helping.

Every figure is one batched computation; ``quick=True`` shrinks the grids so figures 1–4 take a
few seconds (used by the tests and CI).
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motivlab.io import run_metadata, write_json, write_table
from motivlab.report import HtmlReport, save_figure
from motivlab.theory.homogeneous.params import Problem
from motivlab.theory.homogeneous.sweeps import (
    critical_curve,
    diversity_sweep,
    fit_loglog_slope,
    learnability_heatmap,
)

__all__ = ["FigureOutput", "make_figures"]

THETA = 0.5


@dataclass
class FigureOutput:
    """What one figure produced: its PNG, its data tables, a caption and summary numbers."""

    name: str
    png: Path | None
    tables: list[Path] = field(default_factory=list)
    caption: str = ""
    summary: pd.DataFrame | None = None
    note: str = ""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ratios(quick: bool) -> np.ndarray:
    return np.logspace(-2, 3, 16 if quick else 41)


def _heat(ax: Any, df: pd.DataFrame, title: str) -> Any:
    """Draw one p_∞ heat-map (log10 ratio axes) with the θ contour; returns the mesh for a colourbar."""
    rz, rx = np.unique(df.ratio_z), np.unique(df.ratio_x)
    grid = df.p_inf.to_numpy().reshape(rz.size, rx.size)  # rows: ratio_z, cols: ratio_x
    mesh = ax.pcolormesh(np.log10(rz), np.log10(rx), grid.T, vmin=0, vmax=1, cmap="viridis", shading="nearest")
    if grid.min() < THETA < grid.max():
        ax.contour(np.log10(rz), np.log10(rx), grid.T, levels=[THETA], colors="white", linewidths=1.2)
    ax.plot(0, 0, marker="+", color="red", ms=8)
    ax.set_title(title, fontsize=9)
    return mesh


def figure1(out: Path, quick: bool) -> FigureOutput:
    plt = _plt()
    base = Problem(p0=0.01, sr0=0.5, sl0=0.1)
    df = learnability_heatmap(base, _ratios(quick), _ratios(quick))
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    mesh = _heat(ax, df, "p0 = 0.01, sR0 = 0.5, sL0 = 0.1")
    ax.set_xlabel("log10 αz/αy (propensity learnability)")
    ax.set_ylabel("log10 αx/αy (reward-seeking skill learnability)")
    fig.colorbar(mesh, ax=ax, label="p∞")
    png = save_figure(fig, out / "fig1_single_env_heatmap.png")
    won = df.p_inf > THETA
    summary = pd.DataFrame({"quantity": ["grid points", "fraction with p∞ > θ", "min p∞", "max p∞"],
                            "value": [len(df), won.mean(), df.p_inf.min(), df.p_inf.max()]})
    return FigureOutput(
        "Figure 1 — single environment", png, [write_table(df, out / "fig1_single_env_heatmap")],
        "p∞ over the learnability ratios for one environment (white: p∞ = 0.5; red +: all α equal). "
        "Reward-seeking wins when its propensity learns fast enough, or when its skill learns fast "
        "enough that the skill gap stays open while the propensity grows.", summary,
    )


def figure2(out: Path, quick: bool) -> FigureOutput:
    plt = _plt()
    sr0s = [0.3, 0.5, 0.9] if quick else [0.3, 0.5, 0.7, 0.9]
    sl0s = [0.1, 0.3, 0.5] if quick else [0.05, 0.1, 0.3, 0.5]
    ratios = np.logspace(-2, 3, 11 if quick else 31)
    tables = []
    for sl0 in sl0s:
        for sr0 in sr0s:
            tables.append(learnability_heatmap(Problem(p0=0.01, sr0=sr0, sl0=sl0), ratios, ratios))
    df = pd.concat(tables, ignore_index=True)
    fig, axes = plt.subplots(len(sl0s), len(sr0s), figsize=(2.6 * len(sr0s) + 1, 2.4 * len(sl0s)),
                             sharex=True, sharey=True, squeeze=False)
    mesh = None
    for i, sl0 in enumerate(sl0s):
        for j, sr0 in enumerate(sr0s):
            sub = df[(df.sr0 == sr0) & (df.sl0 == sl0)]
            gap = "" if sr0 > sl0 else " (no gap)"
            mesh = _heat(axes[i, j], sub, f"sR0={sr0}, sL0={sl0}{gap}")
    for ax in axes[-1]:
        ax.set_xlabel("log10 αz/αy")
    for ax in axes[:, 0]:
        ax.set_ylabel("log10 αx/αy")
    fig.colorbar(mesh, ax=axes, label="p∞", shrink=0.8)
    png = save_figure(fig, out / "fig2_heatmaps_by_initial_skill.png")
    summary = (df.assign(won=df.p_inf > THETA).groupby(["sr0", "sl0"], as_index=False)
               .agg(fraction_won=("won", "mean"), max_p_inf=("p_inf", "max")))
    return FigureOutput(
        "Figure 2 — heat-maps over initial skills", png, [write_table(df, out / "fig2_heatmaps_by_initial_skill")],
        "The figure-1 heat-map (p0 = 0.01) for a grid of initial skills. A larger skill gap sR0 − sL0 "
        "widens the region where reward-seeking wins; without an initial gap it wins only where its "
        "skill learns ~100× faster than the local skill and opens a gap before the local skill saturates.", summary,
    )


def figure3(out: Path, quick: bool) -> FigureOutput:
    plt = _plt()
    p0s = np.array([1e-1, 1e-2, 1e-3, 1e-4])
    n_values = np.geomspace(1, 1e6, 40 if quick else 121)
    problems = Problem(p0=p0s, sr0=0.5, sl0=0.1, c_z=1.0, c_x=1.0, c_y=0.0)
    df = diversity_sweep(problems, n_values)
    crit = critical_curve(problems, threshold=THETA, n_max=1e6)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, p0 in enumerate(p0s):
        sub = df[df.member == i]
        line = ax.semilogx(sub.n, sub.p_inf, label=f"p0 = {p0:g}")[0]
        ns = crit.n_star.iloc[i]
        if not pd.isna(ns):
            ax.axvline(float(ns), color=line.get_color(), ls=":", lw=1)
    ax.axhline(THETA, color="grey", lw=0.8)
    ax.set_xlabel("number of environments N")
    ax.set_ylabel("p∞")
    ax.set_title("homogeneous coupling c = (1, 1, 0), sR0 = 0.5, sL0 = 0.1, α = 1", fontsize=9)
    ax.legend(fontsize=8)
    png = save_figure(fig, out / "fig3_p_inf_vs_n.png")
    summary = crit[["p0", "n_star"]].assign(p0_times_n_star=crit.p0 * crit.n_star)
    return FigureOutput(
        "Figure 3 — p∞ against diversity", png,
        [write_table(df, out / "fig3_p_inf_vs_n"), write_table(crit, out / "fig3_n_star")],
        "Final propensity against the number of environments N (dotted: N*). The transition is sharp: "
        "below N* local skill saturates first and the propensity collapses; above it reward-seeking wins.",
        summary,
    )


def _fig4_settings() -> list[tuple[str, dict[str, float]]]:
    return [
        ("c_y = 0, sR0 = 0.5", {"c_y": 0.0, "sr0": 0.5}),
        ("c_y = 1e-4, sR0 = 0.5", {"c_y": 1e-4, "sr0": 0.5}),
        ("c_y = 1e-3, sR0 = 0.5", {"c_y": 1e-3, "sr0": 0.5}),
        ("c_y = 1e-2, sR0 = 0.5", {"c_y": 1e-2, "sr0": 0.5}),
        ("c_y = 0, sR0 = 0.3", {"c_y": 0.0, "sr0": 0.3}),
        ("c_y = 0, sR0 = 0.9", {"c_y": 0.0, "sr0": 0.9}),
    ]


def figure4(out: Path, quick: bool, on_round: Callable[[int, int], None] | None = None) -> FigureOutput:
    plt = _plt()
    p0s = np.geomspace(1e-5, 1e-1, 7 if quick else 17)
    settings = _fig4_settings()
    c_y = np.array([s["c_y"] for _, s in settings])[:, None]  # (S, 1)
    sr0 = np.array([s["sr0"] for _, s in settings])[:, None]
    problems = Problem(p0=p0s[None, :], sr0=sr0, sl0=0.1, c_z=1.0, c_x=1.0, c_y=c_y)  # (S, P)
    crit = critical_curve(problems, threshold=THETA, n_max=1e7, on_round=on_round)
    crit.insert(0, "setting", np.repeat([name for name, _ in settings], p0s.size))
    fig, ax = plt.subplots(figsize=(6.2, 6.2))
    rows = []
    for name, _ in settings:
        sub = crit[crit.setting == name]
        ns = sub.n_star.to_numpy(dtype=float, na_value=np.nan)
        pts = ax.loglog(sub.p0, ns, "o", ms=4)[0]
        row: dict[str, Any] = {"setting": name, "crossed": int(np.isfinite(ns).sum()), "of": len(ns)}
        try:
            fit = fit_loglog_slope(sub.p0, ns)
            ok = np.isfinite(ns)
            xs = sub.p0.to_numpy()[ok]
            ax.loglog(xs, 10 ** (fit.intercept + fit.slope * np.log10(xs)), "-", color=pts.get_color(),
                      label=f"{name}: slope {fit.slope:.3f} [{fit.slope_lo:.3f}, {fit.slope_hi:.3f}]")
            row |= fit.as_dict()
        except ValueError as exc:  # fewer than 3 crossings up to n_max: no slope, say why
            pts.set_label(f"{name}: no slope ({exc})")
        rows.append(row)
    ax.set_xlabel("initial propensity p0")
    ax.set_ylabel("critical diversity N*")
    ax.set_title("N*(p0), c_z = c_x = 1, sL0 = 0.1, α = 1 (95 % CI of slope)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1, frameon=False)
    png = save_figure(fig, out / "fig4_n_star_vs_p0.png")
    # settings without a slope keep missing cells (nullable dtypes: null in Parquet, never NaN)
    slopes = pd.DataFrame(rows)
    slopes = slopes.astype({c: "Int64" if c == "n_points" else "Float64"
                            for c in slopes.columns if c not in ("setting", "crossed", "of")})
    return FigureOutput(
        "Figure 4 — critical diversity scaling", png,
        [write_table(crit, out / "fig4_n_star_vs_p0"), write_table(slopes, out / "fig4_slopes")],
        "N* against p0 in log-log axes with OLS slopes and 95 % t intervals. Local-skill transfer c_y "
        "raises N* and, below some p0, removes the crossing altogether (no N* up to n_max = 1e7): "
        "diversity then also spreads the local skill. For c_y > 0 the curve bends upward before the "
        "crossing disappears, so its OLS slope summarises a curve rather than measuring a power law. "
        "A larger skill gap lowers N*.", slopes,
    )


def figure5(out: Path, quick: bool) -> FigureOutput:
    """Heterogeneous N*(p0) from :mod:`motivlab.theory.heterogeneous.figure5` when that module is present."""
    try:
        mod = importlib.import_module("motivlab.theory.heterogeneous.figure5")
    except ImportError as exc:
        return FigureOutput("Figure 5 — heterogeneous coupling", None, note=f"skipped: {exc}")
    res = mod.make_figure5(out, quick)
    png = res.get("png")
    tables = [Path(t) for t in res.get("tables", [])]
    slopes = res.get("slopes")
    summary = None
    if isinstance(slopes, pd.DataFrame):
        summary = slopes
    elif isinstance(slopes, dict) and slopes:
        summary = pd.DataFrame([{"geometry": k, **(v if isinstance(v, dict) else {"slope": v})} for k, v in slopes.items()])
    caption = res.get("caption", "Heterogeneous coupling: N* against p0 per geometry (median and IQR over resamples).")
    return FigureOutput("Figure 5 — heterogeneous coupling", Path(png) if png else None, tables, caption, summary)


def figure6(out: Path, quick: bool, on_round: Callable[[int, int], None] | None = None) -> FigureOutput:
    """N* vs c_y (log axis) for p0 = 1e-1 … 1e-4, c_z = c_x = 1, sR0 = 0.5, sL0 = 0.1, α = 1."""
    plt = _plt()
    p0s = np.array([1e-1, 1e-2, 1e-3, 1e-4])
    c_ys = np.geomspace(1e-6, 1e-1, 11 if quick else 31)
    problems = Problem(p0=p0s[:, None], sr0=0.5, sl0=0.1, c_z=1.0, c_x=1.0, c_y=c_ys[None, :])  # (P, C)
    crit = critical_curve(problems, threshold=THETA, n_max=1e7, on_round=on_round)
    crit.insert(0, "c_y_grid", np.tile(c_ys, p0s.size))
    base = critical_curve(Problem(p0=p0s, sr0=0.5, sl0=0.1, c_z=1.0, c_x=1.0, c_y=0.0), threshold=THETA, n_max=1e7)
    fig, ax = plt.subplots(figsize=(6.2, 4.8))
    rows = []
    for i, p0 in enumerate(p0s):
        sub = crit.iloc[i * c_ys.size:(i + 1) * c_ys.size]
        ns = sub.n_star.to_numpy(dtype=float, na_value=np.nan)
        line = ax.loglog(c_ys, ns, "o-", ms=3, label=f"p0 = {p0:g}")[0]
        n0 = float(base.n_star.to_numpy(dtype=float, na_value=np.nan)[i])
        ax.axhline(n0, color=line.get_color(), lw=0.6, ls=":")
        last = c_ys[np.isfinite(ns)].max() if np.isfinite(ns).any() else np.nan
        rows.append({"p0": p0, "n_star_c_y_0": n0, "largest_c_y_with_crossing": last,
                     "n_star_at_largest": float(ns[np.isfinite(ns)][-1]) if np.isfinite(ns).any() else np.nan})
    ax.set_xlabel("local-skill transfer c_y")
    ax.set_ylabel("critical diversity N* (none above: no crossing up to 1e7)")
    ax.set_title("N*(c_y), c_z = c_x = 1, sR0 = 0.5, sL0 = 0.1, α = 1 (dotted: c_y = 0)", fontsize=9)
    ax.legend(fontsize=8)
    png = save_figure(fig, out / "fig6_n_star_vs_c_y.png")
    summary = pd.DataFrame(rows)
    return FigureOutput(
        "Figure 6 — critical diversity against local-skill transfer", png,
        [write_table(crit, out / "fig6_n_star_vs_c_y"), write_table(summary, out / "fig6_summary")],
        "N* against c_y: while c_y (N* − 1) stays well below 1 the local skill barely gains from diversity and N* "
        "is the c_y = 0 value (dotted); once diversity spreads the local skill too, N* rises steeply and then "
        "the crossing disappears (no point: no N* up to 1e7). Smaller p0 needs larger N*, so it loses the "
        "crossing at a smaller c_y.", summary,
    )


FIGURES: dict[str, Callable[..., FigureOutput]] = {
    "1": figure1, "2": figure2, "3": figure3, "4": figure4, "5": figure5, "6": figure6,
}


def make_figures(out_dir: str | Path, *, quick: bool = False, which: str = "123456", progress: bool = True) -> list[FigureOutput]:
    """Compute and draw the selected figures into ``out_dir``, then write ``index.html``.

    A failure in figure 5 (another module) is recorded on the page and in the result instead of
    discarding figures 1–4; the caller decides the exit code (see :func:`failed`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs: list[FigureOutput] = []
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), disable=not progress,
                  transient=False) as bar:
        task = bar.add_task("theory figures", total=len(which))
        for key in which:
            bar.update(task, description=f"figure {key}")
            kwargs: dict[str, Any] = {}
            if key in "46":
                sub = bar.add_task("  N* rounds", total=None)
                kwargs["on_round"] = lambda done, total, sub=sub: bar.update(sub, completed=done, total=total)
            try:
                outputs.append(FIGURES[key](out, quick, **kwargs))
            except Exception as exc:
                if key != "5":
                    raise
                outputs.append(FigureOutput("Figure 5 — heterogeneous coupling", None,
                                            note=f"FAILED: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            bar.advance(task)
    _write_index(out, outputs, quick)
    return outputs


def failed(outputs: list[FigureOutput]) -> list[str]:
    """Names of figures whose computation raised (as opposed to being skipped)."""
    return [o.name for o in outputs if o.note.startswith("FAILED")]


def _write_index(out: Path, outputs: list[FigureOutput], quick: bool) -> None:
    report = HtmlReport("motivlab theory — the behavioural-selection model",
                        "figures 1–5" + (" (quick grids)" if quick else ""))
    for o in outputs:
        report.heading(o.name)
        if o.png is not None:
            report.figure(o.png, o.caption)
        elif o.caption:
            report.text(o.caption)
        if o.summary is not None:
            report.table(o.summary, "summary")
        if o.tables:
            report.text("Data: " + ", ".join(Path(t).name for t in o.tables) + " (CSV beside each Parquet file).")
        if o.note:
            report.code(o.note)
    meta = run_metadata(seed=None, config={"quick": quick, "threshold": THETA})
    write_json(out / "metadata.json", meta)
    report.heading("Reproduce")
    report.code(f"motivlab theory figures --out {out}" + (" --quick" if quick else ""))
    report.write(out / "index.html")
