"""Command line of motivlab.theory: ``critical``, ``simulate``, ``sweep``, ``figures`` (+ ``fit`` if present).

Examples (all run in CI)::

    motivlab theory critical --p0 0.01 --sr0 0.5 --sl0 0.1 --json
    motivlab theory simulate --p0 0.01 --n 20 --format csv --out traj.csv
    motivlab theory simulate --geometry clustered --n 200 --resamples 2 --out clustered_run
    motivlab theory sweep --p0 0.1,0.01,0.001 --n-max 1e5 --points 30 --out sweep
    motivlab theory figures --out theory_figures --quick

Numerical libraries are imported inside the commands so ``motivlab --help`` stays fast. Invalid
input exits with code 2 and a message naming the parameter (``@user_errors``).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from motivlab._cli import user_errors
from motivlab.errors import MotivlabInputError

app = typer.Typer(no_args_is_help=True, help="The behavioural-selection model: simulate, sweep, critical diversity, figures.")

# ------------------------------------------------------------------ shared options
P0 = Annotated[float, typer.Option("--p0", help="Initial propensity p(0), in (0, 1).")]
SR0 = Annotated[float, typer.Option("--sr0", help="Initial reward-seeking skill sR(0), in (0, 1).")]
SL0 = Annotated[float, typer.Option("--sl0", help="Initial local skill sL(0), in (0, 1).")]
ALPHA = Annotated[str, typer.Option("--alpha", help="Learnabilities AZ,AX,AY (each > 0).")]
COUPLING = Annotated[str, typer.Option("--coupling", help="Off-diagonal transfer CZ,CX,CY (each in [0, 1]).")]
COST = Annotated[float, typer.Option("--cost", help="Cost κ ≥ 0 of reward-seeking reasoning.")]
LAM = Annotated[float, typer.Option("--lam", help="Coupled skills λ ≥ 0: sR = σ(x + λ y).")]
NORMALIZE = Annotated[str, typer.Option("--normalize", help="'sum' over environments or 'mean' (fixed total batch).")]
METHOD = Annotated[str, typer.Option("--method", help="Integrator: adaptive (default), adaptive_euler or euler.")]


def _triple(name: str, text: str) -> tuple[float, float, float]:
    """Parse ``"a,b,c"`` into three floats or raise an error naming the option."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise MotivlabInputError(f"{name} must be three comma-separated numbers (z, x, y), got {text!r}")
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        raise MotivlabInputError(f"{name} must be three comma-separated numbers (z, x, y), got {text!r}") from None


def _floats(name: str, text: str) -> list[float]:
    try:
        vals = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise MotivlabInputError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not vals:
        raise MotivlabInputError(f"{name} needs at least one value, got {text!r}")
    return vals


def _problem(p0: Any, sr0: float, sl0: float, alpha: str, coupling: str, cost: float, lam: float,
             normalize: str, n: Any = 1.0) -> Any:
    from motivlab.theory.homogeneous.params import Problem

    az, ax, ay = _triple("--alpha", alpha)
    cz, cx, cy = _triple("--coupling", coupling)
    names = {"alpha_z": "--alpha (z)", "alpha_x": "--alpha (x)", "alpha_y": "--alpha (y)",
             "c_z": "--coupling (z)", "c_x": "--coupling (x)", "c_y": "--coupling (y)", "kappa": "--cost", "lam": "--lam"}
    try:
        return Problem(p0=p0, sr0=sr0, sl0=sl0, alpha_z=az, alpha_x=ax, alpha_y=ay, c_z=cz, c_x=cx, c_y=cy,
                       n=n, kappa=cost, lam=lam, normalize=normalize)  # type: ignore[arg-type]
    except MotivlabInputError as exc:  # name the option the user typed, not the field
        msg = str(exc)
        for field, opt in names.items():
            if msg.startswith(field + " "):
                msg = f"{opt}: {msg}"
        raise MotivlabInputError(msg) from None


def _integrator(method: str) -> Any:
    from motivlab.errors import check_choice
    from motivlab.theory.homogeneous.dynamics import IntegratorConfig

    check_choice("--method", method, ["adaptive", "adaptive_euler", "euler"])
    return IntegratorConfig(method=method)  # type: ignore[arg-type]


# ------------------------------------------------------------------ critical
@app.command("critical")
@user_errors
def critical_command(
    p0: P0, sr0: SR0 = 0.5, sl0: SL0 = 0.1, alpha: ALPHA = "1,1,1", coupling: COUPLING = "1,1,0",
    threshold: Annotated[float, typer.Option(help="Propensity threshold θ in (0, 1).")] = 0.5,
    cost: COST = 0.0,
    n_max: Annotated[float, typer.Option("--n-max", help="Largest N searched (> 1).")] = 1e7,
    lam: LAM = 0.0, normalize: NORMALIZE = "sum",
    rtol: Annotated[float, typer.Option(help="Relative accuracy of N*.")] = 1e-3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Critical diversity N*: the smallest N (real, homogeneous coupling) with p∞ > θ."""
    from motivlab.theory.homogeneous.critical import critical_diversity_at_saturation

    problem = _problem(p0, sr0, sl0, alpha, coupling, cost, lam, normalize)
    config = _integrator("adaptive")
    res = critical_diversity_at_saturation(problem, threshold=threshold, n_max=n_max, rtol=rtol, config=config)
    n_star = res.tolist()
    out = {
        "n_star": n_star,
        "crossed": bool(res.crossed),
        "bracket": [float(res.n_lo), None if not res.crossed else float(res.n_hi)],
        "threshold": res.threshold, "n_max": res.n_max, "rtol": rtol,
        "inputs": {k: v for k, v in problem.as_dict().items() if k != "n"},
        "integrator": config.model_dump(),
    }
    if as_json:
        typer.echo(json.dumps(out))
    elif n_star is None:
        typer.echo(f"N* = none: p∞ stays ≤ {threshold} for every N ≤ {n_max:g}")
    else:
        typer.echo(f"N* = {n_star:.6g}  (p∞ crosses {threshold} between N = {float(res.n_lo):.6g} and {float(res.n_hi):.6g})")


# ------------------------------------------------------------------ simulate
# Options of the heterogeneous path (--geometry). Unset (None) = the HeterogeneousConfig default.
GEO = "[--geometry] "
GEOMETRY = Annotated[str | None, typer.Option(
    "--geometry", help="Simulate a heterogeneous population whose env coordinates come from this geometry: "
    "uniform, gaussian, clustered or manifold (writes a folder, see --out). Absent: the homogeneous model.")]
D = Annotated[int | None, typer.Option("--d", help=GEO + "Coordinate dimension d ≥ 1 (≥ 2 for manifold); default 2.")]
SCALE = Annotated[float | None, typer.Option("--scale", help=GEO + "Coordinate scale factor > 0 (domain size); default 1.")]
KERNEL = Annotated[str | None, typer.Option(
    "--kernel", help=GEO + "Transfer C_ij: auto (exact dense kernel up to --dense-max envs, RFF above; default), dense, "
    "rff (random Fourier features), or constant (C_ij = --coupling for every pair: the homogeneous model).")]
TRANSFER = Annotated[str | None, typer.Option(
    "--transfer-length", help=GEO + "Gaussian-kernel transfer lengths ℓz,ℓx,ℓy (> 0, or none = no transfer); "
    "default 0.1,0.1,none.")]
SIGMA_A = Annotated[str | None, typer.Option(
    "--sigma-alpha", help=GEO + "s.d. of log-learnabilities across envs (z,x,y; ≥ 0); default 0.3,0.3,0.3.")]
INIT_SD = Annotated[str | None, typer.Option(
    "--init-sd", help=GEO + "s.d. of the initial logits across envs (z,x,y; ≥ 0); default 0.3,0.3,0.3.")]
INTEGRATOR = Annotated[str | None, typer.Option("--integrator", help=GEO + "heun (2nd order, default) or euler.")]
HORIZON = Annotated[float | None, typer.Option("--horizon", help=GEO + "Horizon T > 0 in units of 1/α_y; default 100.")]
TOL = Annotated[float | None, typer.Option(
    "--tol", help=GEO + "Stop early once every |dp/dt|, |dsR/dt|, |dsL/dt| < tol (> 0); default 1e-4.")]
MAX_DLATENT = Annotated[str | None, typer.Option(
    "--max-dlatent", help=GEO + "Step control: largest logit change per step (> 0), or none = fixed dt; default 0.3.")]
DT = Annotated[float | None, typer.Option("--dt", help=GEO + "Largest time step > 0 (the step control usually binds "
                                         "first); default 5.")]
N_FEATURES = Annotated[int | None, typer.Option("--n-features", help=GEO + "Random Fourier features D ≥ 1 (rff); default 512.")]
DENSE_MAX = Annotated[int | None, typer.Option("--dense-max", help=GEO + "auto: largest N with the dense kernel; default 1000.")]
RESAMPLES = Annotated[int | None, typer.Option(
    "--resamples", help=GEO + "Independent populations R ≥ 1 (new coordinates and heterogeneity each); default 1.")]
SEED = Annotated[int | None, typer.Option("--seed", help=GEO + "Seed ≥ 0 of the population draws; default 0.")]
SAVE_POINTS = Annotated[int | None, typer.Option(
    "--save-points", help=GEO + "Save times K in [2, 100000], t = 0 and the horizon included; default 100.")]
TIME_GRID = Annotated[str | None, typer.Option(
    "--time-grid", help=GEO + "Save times log-spaced from horizon·1e-4 (log, default) or evenly spaced (linear).")]


@app.command("simulate")
@user_errors
def simulate_command(
    p0: P0 = 0.01, sr0: SR0 = 0.5, sl0: SL0 = 0.1, alpha: ALPHA = "1,1,1",
    coupling: Annotated[str | None, typer.Option(
        "--coupling", help="Off-diagonal transfer CZ,CX,CY (each in [0, 1]); default 1,1,0. "
        "With --geometry: only for --kernel constant.")] = None,
    n: Annotated[float | None, typer.Option("--n", help="Number of environments: real ≥ 1, default 1 (= single "
                                            "environment); with --geometry an integer ≥ 1, default 100.")] = None,
    cost: COST = 0.0, lam: LAM = 0.0, normalize: NORMALIZE = "sum",
    method: Annotated[str | None, typer.Option("--method", help="Integrator: adaptive (default), adaptive_euler or "
                                               "euler. Homogeneous model only (see --integrator).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="json (default) or csv. Homogeneous model only.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout; with --geometry: "
                                             "the output folder (required).")] = None,
    geometry: GEOMETRY = None, d: D = None, scale: SCALE = None, kernel: KERNEL = None,
    transfer_length: TRANSFER = None, sigma_alpha: SIGMA_A = None, init_sd: INIT_SD = None,
    integrator: INTEGRATOR = None, horizon: HORIZON = None, tol: TOL = None, max_dlatent: MAX_DLATENT = None, dt: DT = None,
    n_features: N_FEATURES = None, dense_max: DENSE_MAX = None, resamples: RESAMPLES = None, seed: SEED = None,
    save_points: SAVE_POINTS = None, time_grid: TIME_GRID = None,
) -> None:
    """One trajectory (t, p, sR, sL) of the homogeneous model, integrated to saturation; or, with --geometry,
    a heterogeneous population over time (tables, figures, report.html in --out DIR)."""
    geo_options = {"--d": d, "--scale": scale, "--kernel": kernel, "--transfer-length": transfer_length,
                   "--sigma-alpha": sigma_alpha, "--init-sd": init_sd, "--integrator": integrator,
                   "--horizon": horizon, "--tol": tol, "--max-dlatent": max_dlatent, "--dt": dt, "--n-features": n_features,
                   "--dense-max": dense_max, "--resamples": resamples, "--seed": seed,
                   "--save-points": save_points, "--time-grid": time_grid}
    if geometry is not None:
        _simulate_geometry(locals())
        return
    given = [k for k, v in geo_options.items() if v is not None]
    if given:
        raise MotivlabInputError(f"{', '.join(given)} only apply with --geometry (a heterogeneous population)")
    import pandas as pd

    from motivlab.errors import check_choice
    from motivlab.io import atomic_write_text
    from motivlab.theory.homogeneous.dynamics import simulate

    fmt = check_choice("--format", "json" if fmt is None else fmt, ["json", "csv"])
    method = "adaptive" if method is None else method
    problem = _problem(p0, sr0, sl0, alpha, "1,1,0" if coupling is None else coupling, cost, lam, normalize, n=1.0 if n is None else n)
    sol = simulate(problem, _integrator(method), save_trajectory=True)
    traj = sol.trajectory or {}
    df = pd.DataFrame({k: traj[k][:, 0] for k in ("t", "p", "s_r", "s_l")}).drop_duplicates("t", keep="first")
    if fmt == "csv":
        text = df.to_csv(index=False)
    else:
        text = json.dumps({
            "inputs": problem.as_dict(), "method": method,
            "final": {"p": float(sol.p), "s_r": float(sol.s_r), "s_l": float(sol.s_l), "t": float(sol.t),
                      "steps": int(sol.steps), "saturated": bool(sol.saturated)},
            "trajectory": {k: df[k].tolist() for k in df.columns},
        }) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
        typer.echo(f"wrote {out} ({len(df)} time points; p∞ = {float(sol.p):.4g})", err=True)


def _simulate_geometry(o: dict[str, Any]) -> None:
    """The --geometry path of ``simulate``: validate, integrate (progress bar), write the folder."""
    from motivlab.theory.heterogeneous.cli import build_run, run_command

    if o["method"] is not None or o["fmt"] is not None:
        raise MotivlabInputError("--method and --format apply to the homogeneous model; with --geometry use "
                                 "--integrator, and the tables are written to --out DIR as Parquet + CSV")
    if o["out"] is None:
        raise MotivlabInputError("--out DIR is required with --geometry (tables, figures and report.html go there)")
    n = o["n"]
    if n is not None and (n != int(n) or n < 1):
        raise MotivlabInputError(f"--n must be an integer >= 1 with --geometry, got {n!r}")
    triples = {"alpha": _triple("--alpha", o["alpha"]),
               "sigma_alpha": None if o["sigma_alpha"] is None else _triple("--sigma-alpha", o["sigma_alpha"]),
               "init_sd": None if o["init_sd"] is None else _triple("--init-sd", o["init_sd"])}
    model_fields = {**triples, "p0": o["p0"], "sr0": o["sr0"], "sl0": o["sl0"], "kappa": o["cost"], "lam": o["lam"],
                    "normalize": o["normalize"], "d": o["d"], "scale": o["scale"], "integrator": o["integrator"],
                    "horizon": o["horizon"], "tol": o["tol"], "dt": o["dt"], "n_features": o["n_features"], "dense_max": o["dense_max"]}
    run_fields = {"n": None if n is None else int(n), "resamples": o["resamples"], "seed": o["seed"],
                  "save_points": o["save_points"], "time_grid": o["time_grid"]}
    coupling = None if o["coupling"] is None else _triple("--coupling", o["coupling"])
    run = build_run(geometry=o["geometry"], kernel=o["kernel"], coupling=coupling, transfer_length=o["transfer_length"],
                    max_dlatent=o["max_dlatent"], model_fields=model_fields, run_fields=run_fields)
    result = run_command(run, o["out"])
    p_inf = ", ".join(f"{v:.4g}" for v in result["p_final_mean"][:8])
    more = " …" if run.resamples > 8 else ""
    typer.echo(f"mean final p per resample: {p_inf}{more}  ({result['steps']} steps, {result['seconds']:.2f} s)")
    typer.echo(f"wrote {o['out']}/report.html")


# ------------------------------------------------------------------ sweep
@app.command("sweep")
@user_errors
def sweep_command(
    p0: Annotated[str, typer.Option("--p0", help="Comma-separated initial propensities.")] = "0.1,0.01,0.001,0.0001",
    sr0: SR0 = 0.5, sl0: SL0 = 0.1, alpha: ALPHA = "1,1,1", coupling: COUPLING = "1,1,0",
    n_min: Annotated[float, typer.Option("--n-min", help="Smallest N (≥ 1).")] = 1.0,
    n_max: Annotated[float, typer.Option("--n-max", help="Largest N.")] = 1e6,
    points: Annotated[int, typer.Option("--points", help="Log-spaced N values.")] = 40,
    cost: COST = 0.0, lam: LAM = 0.0, normalize: NORMALIZE = "sum", method: METHOD = "adaptive",
    out: Annotated[Path | None, typer.Option("--out", help="Table path (writes .parquet and .csv); default: CSV on stdout.")] = None,
) -> None:
    """p∞ against N (log grid) for several p0: one batched integration, one tidy table."""
    import numpy as np

    from motivlab.errors import check_range
    from motivlab.io import write_table
    from motivlab.theory.homogeneous.sweeps import diversity_sweep, log_grid

    p0s = np.array(_floats("--p0", p0))
    check_range("--points", points, low=2, high=100_000)
    check_range("--n-min", n_min, low=1.0)
    check_range("--n-max", n_max, low=n_min, low_inclusive=False)
    problems = _problem(p0s, sr0, sl0, alpha, coupling, cost, lam, normalize)
    df = diversity_sweep(problems, log_grid(n_min, n_max, points), _integrator(method))
    if out is None:
        sys.stdout.write(df.to_csv(index=False))
        return
    path = write_table(df, out)
    typer.echo(f"wrote {path} and {path.with_suffix('.csv')} ({len(df)} rows)", err=True)


# ------------------------------------------------------------------ figures
@app.command("figures")
@user_errors
def figures_command(
    out: Annotated[Path, typer.Option("--out", help="Output folder (PNG, tables, index.html).")],
    quick: Annotated[bool, typer.Option("--quick", help="Small grids: figures 1–4 in seconds.")] = False,
    only: Annotated[str, typer.Option("--only", "--which", help="Which figures, e.g. 134.")] = "123456",
) -> None:
    """Figures 1–6 of the theory pillar with the data behind each and one index.html."""
    from motivlab.theory.figures import FIGURES, failed, make_figures

    bad = sorted(set(only) - set(FIGURES))
    if bad or not only:
        raise MotivlabInputError(f"--only must be digits from {''.join(FIGURES)}, got {only!r}")
    outputs = make_figures(out, quick=quick, which="".join(dict.fromkeys(only)))
    for o in outputs:
        if o.note:
            typer.echo(f"{o.name}: {o.note.splitlines()[0]}", err=True)
    typer.echo(f"wrote {out / 'index.html'}")
    if failed(outputs):
        raise typer.Exit(1)


def _mount_optional(module: str, name: str) -> None:
    """Mount the ``name`` command another module provides (``motivlab.theory.fit.cli`` → ``fit``).

    The module may expose ``<name>_command`` (a typer command function, preferred), ``register(app)``
    or a Typer ``app``. Absent module: no command. A module that fails to import must not take the
    other theory commands down, so the command is replaced by one that reports the error (exit 1).
    """
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return
    except Exception as exc:  # a bug in the other module: keep the rest of the CLI working
        message = f"{module} failed to import: {type(exc).__name__}: {exc}"

        def broken() -> None:
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1)

        app.command(name, help=f"(unavailable: {message})")(broken)
        return
    fn = getattr(mod, f"{name}_command", None)
    if callable(fn):
        app.command(name)(fn)
    elif callable(getattr(mod, "register", None)):
        mod.register(app)
    elif isinstance(getattr(mod, "app", None), typer.Typer):
        app.add_typer(mod.app, name=name)


_mount_optional("motivlab.theory.fit.cli", "fit")
