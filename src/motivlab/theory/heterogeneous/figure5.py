"""Figure 5: critical diversity ``N*`` against ``p0`` in the heterogeneous model, per geometry.

For each geometry (uniform, gaussian, clustered, manifold) the coordinate scale is calibrated so
that the median ``N*`` at ``p0 = 0.01`` is 100 (:func:`motivlab.theory.heterogeneous.calibration.calibrate_scale`);
then ``N*`` is measured for 6 values of ``p0`` (0.001 … 0.04) over 32 resamples of geometry and heterogeneity
(N on a 16-point log grid from 1 to 10,000) and the log-log slope is fitted with a bootstrap
interval. The calibration fixes the intercept, so only the slopes are comparable: similar slopes
across geometries would say the exponent does not depend on how environments are arranged.

Cost control (documented departures from "simulate everything"): a (resample, p0) pair stops
being simulated once it has crossed θ (its first crossing is known), and a sweep stops once 25 of
32 resamples have crossed for every p0 (enough for the median and IQR; later resamples are reported
as ``N* = inf``, "above the last simulated N"). Above N = 1000 the kernel is applied with
D = 2048 random Fourier features, chosen from an error budget — median N* within ~5 % of the
dense kernel — measured by ``benchmarks/theory_rff_error_budget.py`` (8 resamples, N* ≈ 250–520,
RFF everywhere against dense on the same populations): worst median-N* error 9.4 / 3.2 / 1.7 /
0.9 % (uniform) and 15.4 / 15.6 / 7.5 / 5.2 % (clustered) for D = 256 / 512 / 1024 / 2048. The
previous D = 256 above N = 512 moved N* by 9–16 %. Each
crossing bracket of the grid (a factor 1.85 in N) is then bisected twice on integer N, because
``p_∞(N)`` is often a near-step and plain interpolation would pin N* to grid midpoints.

Run: ``motivlab theory figures --which 5`` (or ``make_figure5(Path("out"))``); ``quick=True`` is a
reduced version (8 resamples, N ≤ 1000, 4 p0 values) for tests and CI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from motivlab.io import write_json, write_table
from motivlab.theory.heterogeneous.calibration import calibrate_scale, loglog_slope
from motivlab.theory.heterogeneous.diversity import default_n_grid, diversity_sweep
from motivlab.theory.heterogeneous.geometries import Geometry
from motivlab.theory.heterogeneous.population import HeterogeneousConfig, draw_population
from motivlab.validation import config_rules

__all__ = ["Figure5Config", "compute_figure5", "make_figure5"]

PNG_NAME = "figure5_heterogeneous_nstar.png"


class Figure5Config(BaseModel):
    """What figure 5 computes. ``quick()`` gives the reduced CI version."""

    model_config = config_rules(frozen=True)

    geometries: tuple[Geometry, ...] = Field(("uniform", "gaussian", "clustered", "manifold"), description="Geometries compared.")
    p0s: tuple[float, ...] = Field(
        tuple(np.logspace(-3, -1.4, 6)),
        description="Initial propensities (N* vs p0), 0.001 … 0.04. Larger p0 put N* at 1–5 environments, where "
        "integer N quantises N* and bends the log-log fit (p0 = 0.1 steepened all slopes by ~0.15).",
    )
    n_max: int = Field(10_000, ge=2, description="Largest N on the diversity grid.")
    n_points: int = Field(16, ge=3, description="Points on the log N grid from 1 to n_max.")
    resamples: int = Field(32, ge=2, description="Independent draws of geometry and heterogeneity.")
    target: float = Field(100.0, gt=1, description="Calibration target: median N* at p0_ref.")
    p0_ref: float = Field(0.01, gt=0, lt=1, description="Calibration reference p0.")
    stop_quantile: float | None = Field(0.75, gt=0, le=1, description="Stop sweeps once this N* quantile is fixed.")
    refine_rounds: int = Field(2, ge=0, description="Bisections of each N* grid bracket (log N), see refine_nstar.")
    model: HeterogeneousConfig = Field(
        HeterogeneousConfig(n_features=2048, dense_max=1000),
        description="Model and solver settings (geometry/scale overridden). D = 2048 from the 5 % error budget "
        "on median N* (module docstring); dense kernel up to N = 1000 (32 resamples × 1000² doubles = 256 MB).",
    )

    @classmethod
    def quick(cls) -> Figure5Config:
        return cls(p0s=tuple(np.logspace(-2.5, -1.5, 4)), n_max=1000, n_points=10, resamples=8)


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled, transient=False)


def compute_figure5(cfg: Figure5Config, *, seed: int = 0, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Calibrate and sweep every geometry; returns tidy tables (no drawing)."""
    n_grid = default_n_grid(cfg.n_max, cfg.n_points)
    p0s = np.asarray(cfg.p0s)
    seeds = np.random.SeedSequence(seed).spawn(len(cfg.geometries))
    rows_n, rows_sum, rows_cal, rows_slope, rows_p, rows_coords = [], [], [], [], [], []
    with _progress(progress) as bar:
        task = bar.add_task("figure 5", total=len(cfg.geometries) * (n_grid.size + 1))
        for geom, ss in zip(cfg.geometries, seeds, strict=True):
            model = cfg.model.model_copy(update={"geometry": geom})
            pop = draw_population(model, int(n_grid[-1]), cfg.resamples, np.random.default_rng(ss))
            bar.update(task, description=f"{geom}: calibrating scale")
            cal = calibrate_scale(
                model, target=cfg.target, p0_ref=cfg.p0_ref, n_grid=n_grid, population=pop,
                on_eval=lambda s, m, g=geom: bar.update(task, description=f"{g}: calibrating s={s:.3f} → N*={m:.1f}"),
            )
            bar.advance(task)
            bar.update(task, description=f"{geom}: N* sweep (scale {cal.scale:.3f})")
            done_before = bar.tasks[0].completed
            res = diversity_sweep(
                model.model_copy(update={"scale": cal.scale}), p0s=p0s, n_grid=n_grid, population=pop,
                stop_quantile=cfg.stop_quantile, refine_rounds=cfg.refine_rounds,
                on_point=lambda i, g, d0=done_before: bar.update(task, completed=d0 + i),
            )
            slope = loglog_slope(p0s, res.nstar, seed=seed)
            rows_cal.append({"geometry": geom, "scale": cal.scale, "median_nstar": cal.median_nstar,
                             "target": cfg.target, "p0_ref": cfg.p0_ref, "evaluations": cal.evaluations})
            rows_slope.append({"geometry": geom, **slope.as_dict(), "n_points": slope.n_points})
            for j, p0 in enumerate(p0s):
                ns = res.nstar[:, j]
                q25, med, q75 = np.quantile(ns, [0.25, 0.5, 0.75])
                rows_sum.append({"geometry": geom, "p0": p0, "median": med, "q25": q25, "q75": q75,
                                 "n_crossed": int(np.isfinite(ns).sum()), "resamples": ns.size})
                rows_n += [{"geometry": geom, "resample": r, "p0": p0, "nstar": v} for r, v in enumerate(ns)]
            r_i, g_i, p_i = np.nonzero(np.isfinite(res.p_inf))
            rows_p.append(pd.DataFrame({"geometry": geom, "resample": r_i, "n": n_grid[g_i], "p0": p0s[p_i],
                                        "p_inf": res.p_inf[r_i, g_i, p_i]}))
            u = cal.scale * pop.coords[0, : min(1000, pop.n_max)]
            rows_coords.append(pd.DataFrame({"geometry": geom, "u1": u[:, 0], "u2": u[:, 1]}))
    return {
        "nstar": pd.DataFrame(rows_n), "summary": pd.DataFrame(rows_sum), "calibration": pd.DataFrame(rows_cal),
        "slopes": pd.DataFrame(rows_slope), "p_inf": pd.concat(rows_p, ignore_index=True),
        "coords": pd.concat(rows_coords, ignore_index=True),
    }


def _draw(tables: dict[str, pd.DataFrame], cfg: Figure5Config, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motivlab.report import save_figure

    geoms = list(cfg.geometries)
    fig = plt.figure(figsize=(3.0 * len(geoms), 7.5))
    gs = fig.add_gridspec(2, len(geoms), height_ratios=[1, 1.6])
    colors = plt.get_cmap("tab10")
    ell = cfg.model.ell_z
    for k, g in enumerate(geoms):
        ax = fig.add_subplot(gs[0, k])
        c = tables["coords"][tables["coords"].geometry == g]
        ax.scatter(c.u1, c.u2, s=2, color=colors(k), alpha=0.5)
        if ell is not None:
            ax.add_patch(plt.Circle((c.u1.mean(), c.u2.mean()), ell, fill=False, color="k", lw=1))
        ax.set_aspect("equal")
        scale = float(tables["calibration"].set_index("geometry").loc[g, "scale"])
        ax.set_title(f"{g} (scale {scale:.2f})", fontsize=9)
        ax.tick_params(labelsize=7)
    ax = fig.add_subplot(gs[1, :])
    slopes = tables["slopes"].set_index("geometry")
    for k, g in enumerate(geoms):
        s = tables["summary"][tables["summary"].geometry == g]
        ok = np.isfinite(s["median"])
        yerr = np.vstack([s["median"] - s["q25"], np.where(np.isfinite(s["q75"]), s["q75"] - s["median"], 0)])
        lab = f"{g}: slope {slopes.loc[g, 'slope']:.2f} [{slopes.loc[g, 'lo']:.2f}, {slopes.loc[g, 'hi']:.2f}]"
        ax.errorbar(s["p0"][ok] * (1 + 0.04 * (k - 1.5)), s["median"][ok], yerr=yerr[:, ok.to_numpy()],
                    fmt="o-", color=colors(k), capsize=3, label=lab)
    ax.axhline(cfg.target, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="initial propensity $p_0$", ylabel="critical diversity $N^*$")
    ax.set_title(f"median and IQR over {cfg.resamples} resamples; calibrated to N* = {cfg.target:g} at p0 = {cfg.p0_ref:g}",
                 fontsize=9)
    ax.legend(fontsize=8, title="log-log slope [95% bootstrap]", title_fontsize=8)
    return save_figure(fig, path)


def make_figure5(out_dir: Path, quick: bool = False, *, seed: int = 0, progress: bool = True) -> dict:
    """Compute, draw and save figure 5; returns ``png``, ``tables``, ``slopes``, ``caption``."""
    cfg = Figure5Config.quick() if quick else Figure5Config()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = compute_figure5(cfg, seed=seed, progress=progress)
    png = _draw(tables, cfg, out / PNG_NAME)
    paths = [write_table(df, out / f"figure5_{name}.parquet") for name, df in tables.items()]
    write_json(out / "figure5_config.json", {"seed": seed, "quick": quick, **cfg.model_dump(mode="json")})
    slopes = {r.geometry: {"slope": r.slope, "lo": r.lo, "hi": r.hi} for r in tables["slopes"].itertuples()}
    spread = ", ".join(f"{g} {v['slope']:.2f} [{v['lo']:.2f}, {v['hi']:.2f}]" for g, v in slopes.items())
    caption = (
        f"Heterogeneous coupling: critical diversity N* (median, IQR over {cfg.resamples} resamples of geometry and "
        f"heterogeneity) against p0, per geometry, after calibrating each geometry's coordinate scale to median "
        f"N* = {cfg.target:g} at p0 = {cfg.p0_ref:g}. Log-log slopes with 95% bootstrap intervals: {spread}. "
        f"Transfer lengths ℓz = ℓx = {cfg.model.ell_z}, local skill does not transfer; log-normal learnabilities "
        f"(σ = {cfg.model.sigma_alpha[0]}); top: 1000 calibrated coordinates per geometry, circle = ℓz."
    )
    return {"png": png, "tables": paths, "slopes": slopes, "caption": caption}
