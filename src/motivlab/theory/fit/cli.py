"""``motivlab theory fit PATH``: fit the behavioural-selection model to a run's trajectories.

Reads a run directory (its ``metrics.parquet``) or a tidy CSV/Parquet (``t, env_id, p, s_r,
s_l`` [+ ``u0, u1, …``]), fits learnabilities, transfer and initial conditions
(:class:`motivlab.theory.fit.estimator.BehaviouralSelectionFit`), and predicts the critical diversity
``N*(p0)`` on a grid. Prints a table (or JSON with ``--json``); with ``--out DIR`` also writes
``fit.json``, ``parameters.parquet/.csv``, ``trajectories.parquet/.csv`` (observed and fitted),
``critical_diversity.parquet/.csv``, ``fit.png``, ``report.html`` and ``metadata.json``.

Usage::

    motivlab theory fit runs/r1 --out runs/r1/fit
    motivlab theory fit traj.csv --coupling lengths --fix c_y=0 --json
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from motivlab._cli import user_errors
from motivlab.errors import MotivlabInputError

__all__ = ["fit_command", "fit_result", "plot_fit"]


def _parse_fix(items: list[str]) -> dict[str, float]:
    fixed = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            fixed[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise MotivlabInputError(f"--fix expects NAME=VALUE (e.g. c_y=0), got {item!r}")
    return fixed


def _transfer_fixed(path: Path | None, coupling: str) -> dict[str, float]:
    """Couplings (or transfer lengths) measured by transfer probes, to hold fixed in the fit."""
    if path is None:
        return {}
    import json

    if not path.is_file():
        raise MotivlabInputError(f"--transfer {path}: no such file (expected the summary.json of motivlab experiment transfer)")
    summary = json.loads(path.read_text())
    key = {"homogeneous": "fit_fixed_homogeneous", "lengths": "fit_fixed_lengths"}.get(coupling)
    if key is None or key not in summary:
        raise MotivlabInputError(f"--transfer {path}: no {key or 'coupling'} values for --coupling {coupling} "
                                 "(homogeneous and lengths are supported)")
    return {name: float(v) for name, v in summary[key].items()}


def _parse_floats(name: str, text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise MotivlabInputError(f"{name} expects comma-separated numbers, got {text!r}") from None


def _with_coords(data: Any, path: Path) -> Any:
    """Attach env coordinates from a table with ``env_id, u0, u1, …``."""
    import pandas as pd  # numpy and pandas are imported where used: `motivlab --help` stays fast

    from motivlab.theory.fit.data import Trajectories

    table = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    cols = sorted((c for c in table.columns if str(c).startswith("u") and str(c)[1:].isdigit()), key=lambda c: int(c[1:]))
    if "env_id" not in table.columns or not cols:
        raise MotivlabInputError(f"--coords {path}: needs columns env_id, u0, u1, …; has {list(table.columns)}")
    table = table.drop_duplicates("env_id").set_index("env_id")
    missing = [e for e in data.env_ids if e not in table.index]
    if missing:
        raise MotivlabInputError(f"--coords {path}: no coordinates for env_id(s) {missing[:5]}")
    coords = table.loc[list(data.env_ids), cols].to_numpy(float)
    return Trajectories(data.times, data.p, data.s_r, data.s_l, env_ids=data.env_ids, coords=coords,
                        trained=data.trained)


def _finite(value: float) -> float | None:
    """JSON has no inf: an unbounded interval end (an unidentified parameter) becomes null."""
    import numpy as np

    return float(value) if np.isfinite(value) else None


def fit_warnings(fit: Any) -> list[str]:
    """What a reader of the fit must not miss: no convergence, unidentified parameters."""
    out = []
    if not fit.success_:
        out.append(f"the fit did NOT converge ({fit.message_}, {fit.n_iterations_} iterations): the estimates and "
                   "N* are not an optimum; raise max_iter, fix parameters (--fix) or simplify the model")
    return out


def fit_result(fit: Any, p0: list[float], *, threshold: float, n_max: float,
               horizon: float | str | None) -> dict[str, Any]:
    """JSON-ready summary: global estimates ± stderr, fit quality, ``N*`` on the ``p0`` grid
    (at ``horizon``; ``"observed"`` = the run's own step budget) and at saturation."""
    import numpy as np

    table = fit.summary()
    shared = table[table["env_id"].isna()]
    estimates = {row.parameter: {"estimate": _finite(row.estimate), "stderr": _finite(row.stderr),
                                 "ci_low": _finite(row.ci_low), "ci_high": _finite(row.ci_high),
                                 "fixed": bool(row.fixed), "identified": bool(row.identified)}
                 for row in shared.itertuples()}
    n_star = fit.predict_critical_diversity(p0, threshold=threshold, n_max=n_max, horizon=horizon)
    steps = float(fit.data_.times[-1] - fit.data_.times[0]) if horizon == "observed" else horizon
    saturation = None
    if horizon is not None and fit.config.advantage_scale == "none":
        saturation = fit.predict_critical_diversity(p0, threshold=threshold, n_max=n_max, horizon=None)
    if steps is None:
        how = "until saturation (the model's stopping rule; not a finite run)"
    else:
        how = (f"a fixed horizon of {steps:g} RL steps with normalize={fit.config.normalize!r}"
               + (" (a fixed batch per step, as the trainer)" if fit.config.normalize == "mean" else
                  " (gradient summed over envs: NOT a fixed-batch run)"))
    unidentified = [name for name, e in estimates.items() if not e["identified"]]
    return {
        "config": fit.config.model_dump(),
        "data": {"n_envs": fit.data_.n_envs, "n_trained": int(fit.data_.trained.sum()),
                 "n_train_run": int(fit.data_.n_train), "n_times": fit.data_.n_times,
                 "t_first": float(fit.data_.times[0]), "t_last": float(fit.data_.times[-1]), "n_observed": fit.n_obs_},
        "estimates": estimates,
        "units": "learnabilities per RL step; couplings in [0, 1]; lengths in coordinate units",
        "fit": {"residual_rms_logit": fit.residual_rms_, "residual_rms_by_quantity": fit.residual_rms_by_quantity_,
                "residual_rms_exact_logit": fit.residual_rms_exact_, "residual_rms_sampled_logit": fit.residual_rms_sampled_,
                "residual_rms_weighted": fit.residual_rms_weighted_, "noise_floor_logit": fit.noise_floor_,
                "discretisation_error_logit": fit.discretisation_error_, "n_free_parameters": fit.n_free_,
                "iterations": fit.n_iterations_, "converged": fit.success_, "message": fit.message_},
        "warnings": fit_warnings(fit),
        "critical_diversity": {"p0": p0, "n_star": [None if not np.isfinite(v) else float(v) for v in n_star],
                               "threshold": threshold, "n_max": n_max,
                               "horizon_steps": steps, "prediction_for": how,
                               "n_star_at_saturation": None if saturation is None else
                               [None if not np.isfinite(v) else float(v) for v in saturation],
                               "note": "null = no N ≤ n_max reaches the threshold",
                               "unidentified_inputs": unidentified},
    }


def plot_fit(observed: Any, fitted: Any, *, max_envs: int = 12) -> Any:
    """Three panels (p, s_r, s_l): observed points and fitted curves for up to ``max_envs`` envs."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharex=True)
    shown = np.linspace(0, observed.n_envs - 1, min(max_envs, observed.n_envs)).round().astype(int)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(shown)))
    for ax, q, label in zip(axes, ("p", "s_r", "s_l"), ("propensity p", "reward-seeking skill sR", "local skill sL"),
                            strict=True):
        for color, i in zip(colors, shown, strict=True):
            ax.plot(observed.times, getattr(observed, q)[:, i], "o", ms=2.5, color=color, alpha=0.6)
            ax.plot(fitted.times, getattr(fitted, q)[:, i], "-", lw=1.2, color=color)
        ax.set_title(label)
        ax.set_xlabel("RL step")
        ax.set_ylim(-0.02, 1.02)
    fig.suptitle(f"observed (points) vs fitted (lines), {len(shown)} of {observed.n_envs} envs")
    fig.tight_layout()
    return fig


def _write_outputs(out: Path, fit: Any, result: dict[str, Any]) -> None:
    import numpy as np
    import pandas as pd

    from motivlab.io import run_metadata, write_json, write_table
    from motivlab.report import HtmlReport, save_figure

    data = fit.data_
    fine = np.unique(np.concatenate([data.times, np.linspace(data.times[0], data.times[-1], 200)]))
    fitted = fit.predict(fine)
    write_json(out / "fit.json", result)
    write_json(out / "metadata.json", run_metadata(fit.config.seed, fit.config.model_dump()))
    params = fit.summary()
    write_table(params, out / "parameters.parquet")
    obs = data.to_frame().assign(kind="observed")
    traj = pd.concat([obs, fit.predict(data.times).to_frame().assign(kind="fitted")], ignore_index=True)
    write_table(traj, out / "trajectories.parquet")
    cd = pd.DataFrame({"p0": result["critical_diversity"]["p0"],
                       "n_star": [np.inf if v is None else v for v in result["critical_diversity"]["n_star"]]})
    write_table(cd, out / "critical_diversity.parquet")
    png = save_figure(plot_fit(data, fitted), out / "fit.png")
    report = HtmlReport("Behavioural-selection fit", f"{data.n_envs} envs × {data.n_times} times, "
                        f"coupling = {fit.config.coupling}")
    report.heading("Estimates").table(params[params["env_id"].isna()], "Global parameters (natural scale; "
                                                                        "learnabilities per RL step)")
    for warning in result["warnings"]:
        report.text(f"WARNING: {warning}.")
    f = result["fit"]
    by_kind = ", ".join(f"{k} {f[f'residual_rms_{k}_logit']:.3g}" for k in ("exact", "sampled")
                        if f[f"residual_rms_{k}_logit"] is not None)
    report.text(f"Residual RMS {fit.residual_rms_:.3g} logit ({by_kind}); weights 1/√(floor² + sampling variance), "
                f"floor {fit.noise_floor_:.3g} logit, weighted RMS {fit.residual_rms_weighted_:.3g}; Euler "
                f"discretisation error {fit.discretisation_error_:.2g}; {fit.n_iterations_} iterations: {fit.message_}.")
    report.heading("Observed vs fitted").figure(png, "Points: measurements; lines: the fitted model.")
    if result["critical_diversity"]["n_star_at_saturation"] is not None:
        cd = cd.assign(n_star_at_saturation=[np.inf if v is None else v
                                             for v in result["critical_diversity"]["n_star_at_saturation"]])
    report.heading("Predicted critical diversity").table(
        cd, f"N*(p0) from the homogeneous reduction, for {result['critical_diversity']['prediction_for']} "
            "(inf = beyond n_max)")
    report.heading("Per-environment parameters").table(params[params["env_id"].notna()], "Initial conditions (and "
                                                                                         "per-env learnabilities)")
    report.write(out / "report.html")


@user_errors
def fit_command(
    path: Path = typer.Argument(..., help="Run directory, its metrics.parquet, or a CSV/Parquet with t, env_id, p, s_r, s_l."),
    coupling: str = typer.Option("homogeneous", help="Transfer model: homogeneous | lengths | none."),
    out: Path | None = typer.Option(None, "--out", help="Folder for fit.json, tables, fit.png and report.html."),
    json_: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    coords: Path | None = typer.Option(None, "--coords", help="Table with env_id, u0, u1, … (for --coupling lengths; hint-world runs have them already)."),
    per_env_learnabilities: bool = typer.Option(False, "--per-env-learnabilities", help="Fit α per env."),
    shared_initial: bool = typer.Option(False, "--shared-initial", help="One initial condition for all envs."),
    fix: list[str] = typer.Option([], "--fix", help="Hold a parameter fixed, NAME=VALUE (e.g. c_y=0); repeatable."),
    transfer: Path | None = typer.Option(None, "--transfer", help="summary.json of `motivlab experiment transfer`: hold "
                                         "the couplings (homogeneous) or lengths at the probes' values; --fix wins."),
    source: str = typer.Option("auto", help="Run metrics: auto (exact where measured) | exact | sampled."),
    split: list[str] = typer.Option([], "--split", help="Keep only these splits (repeatable; default all)."),
    kappa: float = typer.Option(0.0, help="Cost of reward-seeking κ (fixed)."),
    lam: float = typer.Option(0.0, help="Coupled skills λ (fixed)."),
    normalize: str | None = typer.Option(None, help="Transfer sums (sum) or averages (mean, a fixed batch) gradients; "
                                         "default mean for a run directory, sum for a table."),
    advantage_scale: str = typer.Option("none", "--advantage-scale", help="none (gradient flow) | group (GRPO's "
                                        "per-group std scaling in mean field)."),
    group_size: int = typer.Option(8, help="GRPO group size (with --advantage-scale group)."),
    max_iter: int = typer.Option(300, help="Levenberg–Marquardt iteration limit."),
    clip: float = typer.Option(1e-3, help="Clip values to [clip, 1-clip] before the logit."),
    uncertainty: str = typer.Option("jacobian", help="jacobian | bootstrap."),
    n_bootstrap: int = typer.Option(50, help="Bootstrap refits."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
    loss: str = typer.Option("linear", help="linear | soft_l1 | huber | cauchy."),
    p0: str = typer.Option("0.1,0.03,0.01,0.003,0.001", "--p0", help="Comma-separated p0 grid for N*."),
    threshold: float = typer.Option(0.5, help="N*: p must exceed this."),
    n_max: float = typer.Option(1e7, help="N*: largest N considered."),
    horizon: str | None = typer.Option(None, help="N*: training budget in RL steps, 'observed' (the data's span), or "
                                       "'saturation'; default: observed for a run directory, saturation for a table."),
) -> None:
    """Fit learnabilities, transfer and initial conditions to p, sR, sL trajectories; predict N*(p0)."""
    from rich.console import Console

    from motivlab.theory.fit.data import load_trajectories
    from motivlab.theory.fit.estimator import BehaviouralSelectionFit

    console = Console(stderr=True)
    is_run = path.is_dir() or path.name == "metrics.parquet"
    normalize = normalize or ("mean" if is_run else "sum")
    horizon_value: float | str | None = _parse_horizon(horizon, is_run)
    fixed = {**_transfer_fixed(transfer, coupling), **_parse_fix(fix)}
    fitter = BehaviouralSelectionFit(coupling, shared_learnabilities=not per_env_learnabilities,
                                     shared_initial=shared_initial, kappa=kappa, lam=lam, normalize=normalize,
                                     clip=clip, fixed=fixed, uncertainty=uncertainty,
                                     n_bootstrap=n_bootstrap, seed=seed, loss=loss, advantage_scale=advantage_scale,
                                     group_size=group_size, max_iter=max_iter)
    p0_grid = _parse_floats("--p0", p0)
    data = load_trajectories(path, source=source, splits=split or None)  # type: ignore[arg-type]
    if coords is not None:
        data = _with_coords(data, coords)
    start = time.perf_counter()
    with console.status(f"fitting {data.n_envs} envs × {data.n_times} times …"):
        fitter.fit(data)
        result = fit_result(fitter, p0_grid, threshold=threshold, n_max=n_max, horizon=horizon_value)
    result["fit"]["seconds"] = round(time.perf_counter() - start, 3)
    if out is not None:
        _write_outputs(out, fitter, result)
    for warning in result["warnings"]:
        console.print(f"[bold red]WARNING: {warning}[/bold red]")
    if json_:
        import json

        typer.echo(json.dumps(result, indent=2))
        return
    _print_table(result, out)


def _parse_horizon(text: str | None, is_run: bool) -> float | str | None:
    if text is None:
        return "observed" if is_run else None
    if text in ("observed", "saturation"):
        return None if text == "saturation" else text
    try:
        return float(text)
    except ValueError:
        raise MotivlabInputError(f"--horizon expects a number of RL steps, 'observed' or 'saturation', got {text!r}") from None


def _fmt(value: float | None) -> str:
    return "inf" if value is None else f"{value:.4g}"


def _print_table(result: dict[str, Any], out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="behavioural-selection fit (learnabilities per RL step)")
    for col in ("parameter", "estimate", "stderr", "95% interval"):
        table.add_column(col, justify="right")
    for name, e in result["estimates"].items():
        se = "fixed" if e["fixed"] else _fmt(e["stderr"]) if e["identified"] else "unidentified"
        table.add_row(name, _fmt(e["estimate"]), se, f"[{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]")
    console = Console()
    console.print(table)
    f = result["fit"]
    console.print(f"residual RMS {f['residual_rms_logit']:.3g} logit (noise floor {f['noise_floor_logit']:.3g}), "
                  f"{f['iterations']} iterations, converged: {f['converged']}, {f['seconds']} s")
    cd = result["critical_diversity"]
    console.print(f"N* for {cd['prediction_for']}")
    console.print("N*(p0): " + ", ".join(f"{p:g} → {'>' + format(cd['n_max'], 'g') if n is None else format(n, '.4g')}"
                                         for p, n in zip(cd["p0"], cd["n_star"], strict=True)))
    if cd["unidentified_inputs"]:
        console.print(f"[yellow]warning: N* rests on unidentified parameters {cd['unidentified_inputs']}: "
                      "the data carry no information on them[/yellow]")
    if out is not None:
        console.print(f"wrote {out}/report.html")
