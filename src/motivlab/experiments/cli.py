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


@app.command("transfer")
@user_errors
def transfer_command(
    out: Path = typer.Option(..., "--out", help="Output folder (new or empty)."),
    single: int = typer.Option(16, "--single", help="Probes that train on one env."),
    clusters: int = typer.Option(4, "--clusters", help="Probes that train on a cluster of nearby envs."),
    cluster_size: int = typer.Option(4, "--cluster-size", help="Envs per cluster."),
    steps: int = typer.Option(4, "--steps", help="GRPO steps per probe."),
    prompts_per_step: int = typer.Option(16, "--prompts-per-step", help="Prompts per GRPO step (all on the source envs)."),
    lr: float = typer.Option(3e-4, "--lr", help="Learning rate of the probe runs."),
    scale_rewards: str = typer.Option("group", "--scale-rewards", help="group | batch | none (GRPO advantage scaling)."),
    bins: int = typer.Option(8, "--bins", help="Distance bins."),
    seed: int = typer.Option(0, "--seed", help="Seed of source choice, sampling and bootstrap."),
    quick: bool = typer.Option(False, "--quick", help="The quick organism (tests)."),
) -> None:
    """Transfer probes: short GRPO on one env (or a cluster), exact Δp, ΔsR, ΔsL on every other env vs distance."""
    from motivlab.experiments.transfer import TransferConfig, run_transfer

    cfg = TransferConfig(single=single, clusters=clusters, cluster_size=cluster_size, steps=steps,
                         prompts_per_step=prompts_per_step, lr=lr, scale_rewards=scale_rewards, bins=bins, seed=seed,
                         quick=quick)
    summary = run_transfer(cfg, out)
    for lat, k in summary["kernel"].items():
        typer.echo(f"{lat}: Gaussian amplitude {k['amplitude']:.3g} [{k['amplitude_ci'][0]:.3g}, {k['amplitude_ci'][1]:.3g}]"
                   f"  length {k['length']:.3g} [{k['length_ci'][0]:.3g}, {k['length_ci'][1]:.3g}]"
                   f"  mean-field c {summary['mean_field_coupling'][lat]:.3g}")
    typer.echo(f"{summary['n_probes']} probes in {summary['seconds']:.0f} s; report: {out / 'report.html'}")


# ---------------------------------------------------------------------------------------------
# shaping (owner: shaping helper; modules interventions.py, interventions_report.py)


@app.command("interventions")
@user_errors
def interventions_command(
    spec: Path = typer.Argument(None, help="SPEC TOML (InterventionsSpec fields; left out: every default = the real run)."),
    out: Path = typer.Option(..., "--out", help="Output folder (new, or the same SPEC's folder to resume)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Parallel runs (torch threads = cores // workers)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the sweep's progress."),
) -> None:
    """Baseline vs each intervention (and combinations) × seeds: reward kept, p, traps, trait drift, stated vs revealed."""
    from motivlab.experiments.interventions import load_interventions_spec, run_interventions

    result = run_interventions(load_interventions_spec(spec), out, workers=workers, progress=progress)
    typer.echo(f"{result['runs']} runs ({result['failed_points']} failed) in {result['sweep_seconds']:.0f} s; "
               f"report: {out / 'report.html'}")


# ---------------------------------------------------------------------------------------------
# stated vs revealed on one chat model (owner: chat helper; modules stated_vs_revealed*.py)


@app.command("stated-vs-revealed")
@user_errors
def stated_vs_revealed_command(
    model: list[str] = typer.Option(..., "--model", help="NAME=SPEC, repeatable: 'smollm2', a model/checkpoint "
                                    "directory (LoRA checkpoints use their merged model), a .gguf, or an RL run "
                                    "directory (its last checkpoint)."),
    out: Path = typer.Option(..., "--out", help="Output folder (reused: finished checkpoints are kept)."),
    limit: int = typer.Option(4, min=1, help="Evaluation sub-tasks for the pre-task and breakdown reports."),
    samples: int = typer.Option(2, min=1, help="Samples per report and per self-description question."),
    envs: int = typer.Option(8, min=1, help="NL-world envs per split (train, held-out, trap)."),
    group: int = typer.Option(4, min=1, help="Completions per env."),
    exact_envs: int = typer.Option(4, min=0, help="Envs per split for the exact (teacher-forced) p."),
    max_new_tokens: int = typer.Option(12, min=1, help="Completion cap in the world."),
    device: str = typer.Option("cpu", help="'cpu', 'cuda', 'cuda:N' or 'auto'."),
    world_set: list[str] = typer.Option([], "--world-set", help="NLWorldConfig field=value (repeatable)."),
    seed: int = typer.Option(0, min=0, help="Seeds every sample."),
) -> None:
    """Stated (self-reports, self-descriptions) vs revealed (p in the natural-language world) motivation
    per checkpoint, with intervals: table, figure, report.html."""
    from motivlab.experiments.stated_vs_revealed import SvRConfig, run_stated_vs_revealed
    from motivlab.worlds.nl_config import NLWorldConfig

    world = NLWorldConfig(**_sets(world_set))
    cfg = SvRConfig(models=model, out=out, limit=limit, samples=samples, envs=envs, group=group,
                    exact_envs=exact_envs, max_new_tokens=max_new_tokens, device=device, seed=seed, world=world)
    table = run_stated_vs_revealed(cfg)
    shown = table[table.measure.isin(["p", "p_exact", "stated_p", "self/uses_grader_notes", "pre/score"])]
    for row in shown.itertuples():
        typer.echo(f"{row.checkpoint:>12} {row.kind:>8} {row.measure:<24} {row.split:<8} {row.value:.3f} "
                   f"[{row.lo:.3f}, {row.hi:.3f}] n={row.n}")
    typer.echo(f"report: {out / 'report.html'}")
