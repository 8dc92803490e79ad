"""``motivlab theory simulate --geometry …``: one heterogeneous population, integrated and saved over time.

The heterogeneous model (:mod:`motivlab.theory.heterogeneous.population`) only returns the *final* state of a
run. To show trajectories this module integrates the same system in segments between save times
``0 = t_0 < t_1 < … < t_K-1 = T`` by calling :func:`heterogeneous.integrate` once per segment from
the state the previous segment ended in. There is no new integrator: the step control is
stateless (each step is sized from the current rates), so chaining segments gives the one-shot
trajectory except that the last step of each segment is shortened to land on its save time
(``K`` extra steps; ``tests/test_theory_simulate_geometry.py`` checks the final state against
:func:`heterogeneous.simulate`). A run that saturated (``tol``) stays saturated in later segments,
exactly as the one-shot integrator would have stopped it; once every resample has saturated the
remaining save times are dropped.

Outputs (:func:`write_outputs`) in one folder: ``trajectories`` (per env and save time),
``mean`` (population mean and 10/90 % quantiles), ``envs`` (coordinates, learnabilities, initial
and final state per env) as Parquet + CSV, ``trajectories.png``, ``final_vs_coordinate.png``,
``summary.json``, ``metadata.json`` (config, seed, versions) and ``report.html``.

Usage::

    motivlab theory simulate --geometry clustered --n 300 --resamples 4 --seed 1 --out runs/clustered
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from motivlab.errors import MotivlabInputError
from motivlab.theory.heterogeneous.population import (
    HeterogeneousConfig,
    Population,
    _couplings,
    draw_population,
    integrate,
)
from motivlab.theory.homogeneous.model import logit, skills
from motivlab.validation import config_rules

__all__ = ["GeometryRun", "SavedRun", "make_tables", "run_saved", "save_times", "write_outputs"]

MAX_LINES = 40  # per-env lines drawn in the trajectory figure (the band covers the rest)
QUANTILES = (0.1, 0.9)


class GeometryRun(BaseModel):
    """Everything one ``simulate --geometry`` run needs: the model, the population size and the output grid."""

    model_config = config_rules(frozen=True)

    model: HeterogeneousConfig = Field(description="The heterogeneous model (geometry, kernel, learnabilities, …).")
    n: int = Field(100, ge=1, description="Number of environments N in each population.")
    resamples: int = Field(1, ge=1, description="Independent populations (draws of coordinates and heterogeneity).")
    seed: int = Field(0, ge=0, description="Seed of the NumPy generator that draws every population.")
    save_points: int = Field(100, ge=2, le=100_000, description="Save times, t = 0 and the horizon included.")
    time_grid: Literal["log", "linear"] = Field(
        "log", description="Save times log-spaced from horizon·1e-4 (plus t = 0), or evenly spaced."
    )

    def model_post_init(self, _context: object) -> None:
        if self.model.geometry == "manifold" and self.model.d < 2:
            raise MotivlabInputError(f"d must be >= 2 for the 'manifold' geometry (a curve in R^d), got {self.model.d}")


@dataclass(frozen=True)
class SavedRun:
    """Latents at the save times, ``(K, R, N)`` each, plus what each population was made of."""

    times: np.ndarray  # (K,)
    z: np.ndarray  # (K, R, N)
    x: np.ndarray
    y: np.ndarray
    coords: np.ndarray  # (R, N, d), scaled coordinates used by the kernel
    alphas: np.ndarray  # (R, N, 3) learnabilities α^z, α^x, α^y
    t_stop: np.ndarray  # (R,) time each resample stopped (saturation or horizon)
    converged: np.ndarray  # (R,) stopped by tol rather than the horizon / max_steps
    steps: int  # integrator steps, all segments together
    seconds: float


def save_times(horizon: float, points: int, grid: str = "log") -> np.ndarray:
    """``(points,)`` increasing save times from 0 to ``horizon`` (log grid: ``0, T·1e-4 … T``)."""
    if grid == "linear":
        return np.linspace(0.0, horizon, points)
    if points == 2:
        return np.array([0.0, horizon])
    return np.concatenate([[0.0], np.geomspace(horizon * 1e-4, horizon, points - 1)])


def _initial_state(cfg: HeterogeneousConfig, pop: Population, n: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Initial latents ``3 × (R, n, 1)`` and learnabilities ``(R, n, 3)``, as :func:`heterogeneous.simulate` builds them."""
    sd = np.asarray(cfg.init_sd)
    noise = pop.init[:, :n]  # (R, n, 3) standard normals
    z0 = logit(cfg.p0) + sd[0] * noise[..., 0:1]
    x0 = logit(cfg.sr0) + sd[1] * noise[..., 1:2]
    y0 = logit(cfg.sl0) + sd[2] * noise[..., 2:3]
    alphas = np.asarray(cfg.alpha) * np.exp(np.asarray(cfg.sigma_alpha) * pop.log_alpha[:, :n])
    return (z0, x0, y0), alphas


def run_saved(run: GeometryRun, on_segment: Any = None) -> SavedRun:
    """Draw the populations and integrate them segment by segment (see module doc).

    ``on_segment(k, K)`` is called after each segment (progress bars).
    """
    cfg, n = run.model, run.n
    start = time.perf_counter()
    pop = draw_population(cfg, n, run.resamples, np.random.default_rng(run.seed))
    state, alphas = _initial_state(cfg, pop, n)
    couplings = _couplings(cfg, pop, n)  # built once: the dense kernel or RFF features
    times = save_times(cfg.horizon, run.save_points, run.time_grid)
    saved = [tuple(s[..., 0].copy() for s in state)]
    t_stop = np.zeros(run.resamples)
    converged = np.zeros(run.resamples, dtype=bool)
    steps = 0
    for k in range(1, times.size):
        segment = cfg.model_copy(update={"horizon": float(times[k] - times[k - 1]),
                                         "max_steps": max(1, cfg.max_steps - steps)})
        traj = integrate(state, alphas, couplings, segment)
        state = (traj.z, traj.x, traj.y)
        steps += traj.steps
        t_stop += traj.t[:, 0]
        converged = traj.converged[:, 0]
        saved.append(tuple(s[..., 0].copy() for s in state))
        if on_segment is not None:
            on_segment(k, times.size - 1)
        if converged.all() or steps >= cfg.max_steps:
            times = times[: k + 1]
            break
    z, x, y = (np.stack([s[i] for s in saved]) for i in range(3))
    if not (np.isfinite(z).all() and np.isfinite(x).all() and np.isfinite(y).all()):
        raise MotivlabInputError(f"the integration diverged (non-finite latents) with dt = {cfg.dt:g}, "
                                 f"max_dlatent = {cfg.max_dlatent}: lower --dt or set --max-dlatent")
    coords = cfg.scale * pop.coords[:, :n]
    return SavedRun(times, z, x, y, coords, alphas, t_stop, converged, steps, time.perf_counter() - start)


def make_tables(saved: SavedRun, lam: float = 0.0) -> dict[str, pd.DataFrame]:
    """Tidy tables: ``trajectories`` (one row per save time, population, env), ``mean``, ``envs``."""
    k, r, n = saved.z.shape
    p, s_r, s_l = skills(saved.z, saved.x, saved.y, lam)  # (K, R, N) each
    d = saved.coords.shape[-1]
    traj = pd.DataFrame({
        "t": np.repeat(saved.times, r * n),
        "population": np.tile(np.repeat(np.arange(r), n), k),
        "env_id": np.tile(np.arange(n), k * r),
        "p": p.ravel(), "s_r": s_r.ravel(), "s_l": s_l.ravel(),
    })
    for j in range(d):
        traj[f"u{j}"] = np.tile(saved.coords[..., j].ravel(), k)
    q_lo, q_hi = np.quantile(p, QUANTILES, axis=2)  # (K, R)
    mean = pd.DataFrame({
        "t": np.repeat(saved.times, r), "population": np.tile(np.arange(r), k),
        "p": p.mean(axis=2).ravel(), "s_r": s_r.mean(axis=2).ravel(), "s_l": s_l.mean(axis=2).ravel(),
        "p_q10": q_lo.ravel(), "p_q90": q_hi.ravel(), "n_envs": n,
    })
    envs = pd.DataFrame({"population": np.repeat(np.arange(r), n), "env_id": np.tile(np.arange(n), r)})
    for j in range(d):
        envs[f"u{j}"] = saved.coords[..., j].ravel()
    for i, name in enumerate(("alpha_z", "alpha_x", "alpha_y")):
        envs[name] = saved.alphas[..., i].ravel()
    for label, idx in (("init", 0), ("final", -1)):
        envs[f"p_{label}"], envs[f"s_r_{label}"], envs[f"s_l_{label}"] = p[idx].ravel(), s_r[idx].ravel(), s_l[idx].ravel()
    return {"trajectories": traj, "mean": mean, "envs": envs}


def summary_table(saved: SavedRun, tables: dict[str, pd.DataFrame], theta: float) -> pd.DataFrame:
    """One row per population: final mean p, s_r, s_l, the 10–90 % range of final p, stop time."""
    envs = tables["envs"]
    rows = []
    for r in range(saved.z.shape[1]):
        e = envs[envs["population"] == r]
        rows.append({
            "population": r, "n_envs": len(e), "p_final_mean": e.p_final.mean(),
            "p_final_q10": e.p_final.quantile(QUANTILES[0]), "p_final_q90": e.p_final.quantile(QUANTILES[1]),
            f"frac_envs_p_above_{theta:g}": (e.p_final > theta).mean(),
            "s_r_final_mean": e.s_r_final.mean(), "s_l_final_mean": e.s_l_final.mean(),
            "t_stop": saved.t_stop[r], "saturated": bool(saved.converged[r]),
        })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ figures
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_trajectories(saved: SavedRun, tables: dict[str, pd.DataFrame], log_time: bool) -> Any:
    """p, sR, sL against t for population 0: mean (bold), 10–90 % band, up to ``MAX_LINES`` envs; other populations' means dashed."""
    plt = _plt()
    traj, mean = tables["trajectories"], tables["mean"]
    n = saved.z.shape[2]
    shown = np.unique(np.linspace(0, n - 1, min(n, MAX_LINES)).round().astype(int))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharex=True)
    t0 = traj[traj["population"] == 0]
    for ax, q, label in zip(axes, ("p", "s_r", "s_l"), ("propensity p", "reward-seeking skill sR", "local skill sL"),
                            strict=True):
        wide = t0.pivot(index="t", columns="env_id", values=q)  # (K, N)
        ax.plot(wide.index, wide[shown].to_numpy(), color="grey", lw=0.5, alpha=0.5)
        lo, hi = wide.quantile(QUANTILES[0], axis=1), wide.quantile(QUANTILES[1], axis=1)
        ax.fill_between(wide.index, lo, hi, color="tab:blue", alpha=0.25, label="10–90 % of envs")
        for r in range(1, min(saved.z.shape[1], 11)):
            m = mean[mean["population"] == r]
            ax.plot(m.t, m[q], color="tab:orange", lw=0.8, ls="--", label="other populations' mean" if r == 1 else None)
        m0 = mean[mean["population"] == 0]
        ax.plot(m0.t, m0[q], color="tab:blue", lw=2.2, label="population mean")
        ax.set_title(label)
        ax.set_xlabel("t (units of 1/α_y)")
        ax.set_ylim(-0.02, 1.02)
        if log_time and saved.times.size > 2:
            ax.set_xscale("symlog", linthresh=float(saved.times[1]))
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(f"population 0: {len(shown)} of {n} environments drawn (grey), band over all {n}")
    fig.tight_layout()
    return fig


def plot_final_vs_coordinate(tables: dict[str, pd.DataFrame], theta: float) -> Any:
    """Final p against the first coordinate (d = 1), or the first two coordinates coloured by final p."""
    plt = _plt()
    envs = tables["envs"]
    e = envs[envs["population"] == 0]
    d = sum(1 for c in envs.columns if c.startswith("u") and c[1:].isdigit())
    fig, ax = plt.subplots(figsize=(6.2, 5))
    if d == 1:
        ax.scatter(e.u0, e.p_final, s=12, c="tab:blue")
        ax.axhline(theta, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("coordinate u0")
        ax.set_ylabel("final propensity p")
        ax.set_ylim(-0.02, 1.02)
    else:
        sc = ax.scatter(e.u0, e.u1, c=e.p_final, s=14, cmap="viridis", vmin=0, vmax=1, edgecolors="none")
        fig.colorbar(sc, ax=ax, label="final propensity p")
        ax.set_xlabel("coordinate u0")
        ax.set_ylabel("coordinate u1")
        ax.set_aspect("equal", adjustable="datalim")
    extra = f" (first 2 of d = {d})" if d > 2 else ""
    ax.set_title(f"final p per environment, population 0{extra}", fontsize=10)
    return fig


# ------------------------------------------------------------------ outputs
def reproduce_command(run: GeometryRun, out: Path) -> str:
    """A command line that re-creates this run (every model option spelled out)."""
    m = run.model

    def num(v: Any) -> str:  # shortest text that round-trips the float exactly
        return "none" if v is None else repr(float(v))

    def trip(v: Any) -> str:
        return ",".join(num(a) for a in v)

    args = ["motivlab", "theory", "simulate", "--geometry", m.geometry, "--n", str(run.n), "--d", str(m.d),
            "--scale", num(m.scale), "--kernel", "constant" if m.coupling == "constant" else m.kernel]
    if m.coupling == "constant":
        args += ["--coupling", trip(m.c)]
    else:
        args += ["--transfer-length", trip((m.ell_z, m.ell_x, m.ell_y))]
    args += ["--p0", num(m.p0), "--sr0", num(m.sr0), "--sl0", num(m.sl0), "--alpha", trip(m.alpha),
             "--sigma-alpha", trip(m.sigma_alpha), "--init-sd", trip(m.init_sd), "--cost", num(m.kappa),
             "--lam", num(m.lam), "--normalize", m.normalize, "--integrator", m.integrator,
             "--horizon", num(m.horizon), "--tol", num(m.tol), "--dt", num(m.dt), "--max-dlatent",
             num(m.max_dlatent), "--n-features", str(m.n_features),
             "--dense-max", str(m.dense_max), "--resamples", str(run.resamples), "--seed", str(run.seed),
             "--save-points", str(run.save_points), "--time-grid", run.time_grid, "--out", str(out)]
    return shlex.join(args)


def write_outputs(out: Path, run: GeometryRun, saved: SavedRun) -> dict[str, Any]:
    """Write tables, figures, summary.json, metadata.json and report.html into ``out``; return the summary."""
    from motivlab.io import run_metadata, write_json, write_table
    from motivlab.report import HtmlReport, save_figure

    out.mkdir(parents=True, exist_ok=True)
    m = run.model
    tables = make_tables(saved, m.lam)
    for name, df in tables.items():
        write_table(df, out / f"{name}.parquet")
    summary = summary_table(saved, tables, m.theta)
    fig1 = save_figure(plot_trajectories(saved, tables, run.time_grid == "log"), out / "trajectories.png")
    fig2 = save_figure(plot_final_vs_coordinate(tables, m.theta), out / "final_vs_coordinate.png")
    config = run.model_dump(mode="json")
    result = {
        "command": reproduce_command(run, out),
        "config": config,
        "p_final_mean": summary.p_final_mean.tolist(),
        "t_stop": saved.t_stop.tolist(), "saturated": saved.converged.tolist(),
        "save_times": int(saved.times.size), "steps": saved.steps, "seconds": round(saved.seconds, 3),
        "files": sorted([*(f"{n}.parquet" for n in tables), *(f"{n}.csv" for n in tables),
                         fig1.name, fig2.name, "summary.json", "metadata.json", "report.html"]),
    }
    write_json(out / "summary.json", result)
    write_json(out / "metadata.json", run_metadata(run.seed, config))
    coupling = f"constant c = {m.c}" if m.coupling == "constant" else f"Gaussian kernel ({m.kernel}), ℓ = {(m.ell_z, m.ell_x, m.ell_y)}"
    report = HtmlReport("motivlab theory simulate — heterogeneous population",
                        f"{m.geometry} geometry in d = {m.d}, N = {run.n}, {run.resamples} population(s), seed {run.seed}; {coupling}")
    report.heading("Result").table(summary, "Per population: final propensity (mean and 10–90 % over envs), skills, stop time")
    report.text(f"{saved.steps} integrator steps over {saved.times.size} save times in {saved.seconds:.2f} s.")
    report.heading("Trajectories").figure(fig1, "Mean p, sR, sL over time (bold), the 10–90 % band over environments "
                                                "and a thin line per environment (up to 40), population 0.")
    report.heading("Final propensity against coordinate").figure(
        fig2, "Where in the geometry reward-seeking won: final p of each environment of population 0.")
    report.heading("Environments (first rows)").table(tables["envs"], "coordinates, learnabilities, initial and final state")
    report.heading("Configuration").code(m.model_dump_json(indent=2))
    report.heading("Files").text(", ".join(result["files"]))
    report.heading("Reproduce").code(result["command"])
    report.write(out / "report.html")
    return result
