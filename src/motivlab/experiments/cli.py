"""``motivlab experiment …``: one command per experiment, mounted in :mod:`motivlab.cli`.

To add a command, define a function here (or in your experiment module and register it here)
with ``@app.command("name")``. Import torch / pandas / the trainer *inside* the command, never at
module level, so ``motivlab --help`` stays fast (a test checks ``sys.modules``).
"""

from __future__ import annotations

import typer

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Experiments on the organism that test the theory: transfer probes, critical diversity, the loop.",
)


# ---------------------------------------------------------------------------------------------
# critical diversity and the loop (owner: loop helper; modules critical_diversity.py, loop*.py)

from pathlib import Path  # noqa: E402

from motivlab._cli import user_errors  # noqa: E402


def _floats(name: str, text: str | None) -> list[float] | None:
    from motivlab.errors import MotivlabInputError

    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise MotivlabInputError(f"{name} expects comma-separated numbers, got {text!r}") from None


def _ints(name: str, text: str | None) -> list[int] | None:
    from motivlab.errors import MotivlabInputError

    values = _floats(name, text)
    if values is None:
        return None
    if any(v != int(v) for v in values):
        raise MotivlabInputError(f"{name} expects comma-separated integers, got {text!r}")
    return [int(v) for v in values]


def _sets(items: list[str]) -> dict[str, object]:
    from motivlab.rl.config import parse_override

    out: dict[str, object] = {}
    for item in items:
        keys, value = parse_override(item)
        out[".".join(keys)] = value
    return out


def _cd_options(base: str | None, priors: str | None, n_values: str | None, n_points: int | None,
                seeds: str | None, steps: int | None, compute: str | None, quick: bool,
                sets: list[str]) -> dict[str, object]:
    given = {"base": base, "priors": _floats("--priors", priors), "n_values": _ints("--n-values", n_values),
             "n_points": n_points, "seeds": _ints("--seeds", seeds), "steps": steps, "compute": compute,
             "set": _sets(sets) or None, "quick": quick or None}
    return {k: v for k, v in given.items() if v is not None}


_BASE = typer.Option(None, "--base", help="Run-config TOML of every run (default: the demo config).")
_PRIORS = typer.Option(None, "--priors", help="Organism priors (persona shares), comma-separated [0.01,0.05,0.2].")
_NVALS = typer.Option(None, "--n-values", help="N grid, comma-separated (default: a log grid 1 … 200).")
_NPTS = typer.Option(None, "--n-points", help="Points of the default log grid [6].")
_SEEDS = typer.Option(None, "--seeds", help="Seeds per point, comma-separated [0,1,2].")
_STEPS = typer.Option(None, "--steps", help="GRPO steps per run [40].")
_COMPUTE = typer.Option(None, "--compute", help="'mean' (fixed rollouts per run, default) or 'sum' (fixed per env).")
_QUICK = typer.Option(False, "--quick", help="The quick organism (smoke runs, tests).")
_SET = typer.Option([], "--set", help="Run-config override for every run, KEY=VALUE (repeatable).")
_WORKERS = typer.Option(1, "--workers", help="Parallel runs (local process pool).")


@app.command("critical-diversity")
@user_errors
def critical_diversity_command(
    out: Path = typer.Option(..., "--out", help="Experiment directory (rerun the same command to resume)."),
    base: str = _BASE, priors: str = _PRIORS, n_values: str = _NVALS, n_points: int = _NPTS,
    seeds: str = _SEEDS, steps: int = _STEPS, compute: str = _COMPUTE, quick: bool = _QUICK,
    set_: list[str] = _SET, workers: int = _WORKERS,
) -> None:
    """Measure N*(p0): p_inf over a log grid of N, several priors and seeds; N* with bootstrap intervals."""
    from motivlab.experiments.critical_diversity import parse_config, run_critical_diversity

    cfg = parse_config(_cd_options(base, priors, n_values, n_points, seeds, steps, compute, quick, set_))
    summary = run_critical_diversity(cfg, out, workers=workers)
    for row in summary["n_star"]:
        typer.echo(f"prior {row['prior']:<6} p0 {row['p0_measured']:.4f}  N* {row['n_star_text']:>8}  "
                   f"[{row['ci_low']:.3g}, {row['ci_high']:.3g}]")
    s = summary["slope"]
    typer.echo(f"slope d log N*/d log p0: {s['slope']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}]" if s["defined"]
               else f"slope: undefined ({s['reason']})")
    typer.echo(f"report: {out / 'report.html'}")


@app.command("loop")
@user_errors
def loop_command(
    out: Path = typer.Option(..., "--out", help="Loop directory (rerun the same command to resume)."),
    phase: str = typer.Option("all", "--phase", help="calibrate, predict, verify, compare or all."),
    base: str = _BASE, priors: str = _PRIORS, n_values: str = _NVALS, n_points: int = _NPTS,
    seeds: str = _SEEDS, steps: int = _STEPS, quick: bool = _QUICK, set_: list[str] = _SET,
    calibration_n: str = typer.Option(None, "--calibration-n", help="N of the calibration runs [2,16,200]."),
    calibration_fraction: float = typer.Option(None, "--calibration-fraction",
                                               help="Share of the steps the calibration runs take [0.25]."),
    scale_none: bool = typer.Option(True, "--scale-none/--no-scale-none",
                                    help="Also verify with GRPO std scaling off (scale_rewards='none')."),
    workers: int = _WORKERS,
) -> None:
    """Calibrate the theory on early runs, write prediction.json, then verify N*(p0) and compare."""
    from motivlab.experiments.loop import parse_loop_config, run_loop

    opts: dict[str, object] = {"verification": _cd_options(base, priors, n_values, n_points, seeds, steps, None,
                                                            quick, set_), "scale_none": scale_none}
    if calibration_n is not None:
        opts["calibration_n"] = _ints("--calibration-n", calibration_n)
    if calibration_fraction is not None:
        opts["calibration_fraction"] = calibration_fraction
    cfg = parse_loop_config(opts)
    result = run_loop(cfg, out, phase=phase, workers=workers)
    for row in result.get("comparison", []):
        typer.echo(f"prior {row['prior']:<6} predicted N* {row['n_star_pred']:.3g} [{row['pred_ci_low']:.3g}, "
                   f"{row['pred_ci_high']:.3g}]  measured {row['n_star_meas']:.3g} [{row['meas_ci_low']:.3g}, "
                   f"{row['meas_ci_high']:.3g}]  {row['verdict']}")
    for row in result.get("prediction", []):
        typer.echo(f"prior {row['prior']:<6} predicted N* {row['n_star_text']} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]")
    if "target_met" in result:
        typer.echo(f"target met: {result['target_met']}   report: {out / 'report.html'}")


@app.command("concepts")
@user_errors
def concepts_command(
    out: Path = typer.Option(..., "--out", help="Experiment directory (rerun to resume)."),
    n_values: str = typer.Option("8,200", "--n-values", help="N of the runs, comma-separated."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Seeds, comma-separated."),
    steps: int = typer.Option(40, "--steps", help="GRPO steps per run."),
    quick: bool = _QUICK, set_: list[str] = _SET, workers: int = _WORKERS,
) -> None:
    """RL from the pretrained organism vs the same network randomly initialised, with the bits of each."""
    from motivlab.experiments.concepts import parse_concepts_config, run_concepts

    cfg = parse_concepts_config({"n_values": _ints("--n-values", n_values), "seeds": _ints("--seeds", seeds),
                                 "steps": steps, "quick": quick, "set": _sets(set_)})
    summary = run_concepts(cfg, out, workers=workers)
    for row in summary["table"]:
        typer.echo(f"{row['arm']:<10} N={row['n']:<4} p {row['p_start']:.3f} -> {row['p_end']:.3f}   reward "
                   f"{row['reward_first_step']:.3f} -> {row['reward_last_step']:.3f}   RL bits {row['rl_bits_estimate']:.0f}"
                   f"   pretraining bits {row['pretraining_bits_estimate']:.3g}")
    typer.echo(f"report: {out / 'report.html'}")
