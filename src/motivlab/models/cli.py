"""``motivlab organism …``: pretrain, measure and calibrate the embedded model organism.

    motivlab organism pretrain --out organisms/default --prior 0.05 --sr0 0.5 --sl0 0.1
    motivlab organism measure organisms/default --envs 16 --samples 200 --json
    motivlab organism calibrate --out calib/ [--quick]
    motivlab organism info organisms/default

Heavy imports (torch, transformers) happen inside the commands so ``motivlab --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from motivlab._cli import user_errors

app = typer.Typer(no_args_is_help=True, help="The embedded model organism: pretrain, measure, calibrate.")


def _config(config_file: Path | None, overrides: dict):
    from motivlab.io import read_toml
    from motivlab.models.organism import OrganismConfig

    base = read_toml(config_file) if config_file is not None else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return OrganismConfig(**base)


@app.command("pretrain")
@user_errors
def pretrain_command(
    out: Path = typer.Option(..., "--out", help="Directory that receives the organism (save_pretrained + organism.json)."),
    prior: float = typer.Option(None, "--prior", help="Requested p₀ in (0, 1) (default 0.05)."),
    sr0: float = typer.Option(None, "--sr0", help="Requested sR₀ in [0, 1] (default 0.5)."),
    sl0: float = typer.Option(None, "--sl0", help="Requested sL₀ in [0, 1] (default 0.1)."),
    coverage: float = typer.Option(None, "--coverage", help="local_coverage: share of training envs whose keys the corpus knows."),
    steps: int = typer.Option(None, "--steps", help="AdamW steps (default: the organism config's, 2400 for the default organism)."),
    seed: int = typer.Option(None, "--seed", help="Seed of initialisation and corpus (default 0)."),
    quick: bool = typer.Option(False, "--quick", help="Small world/net/schedule: < 60 s, rougher organism (tests)."),
    config_file: Path = typer.Option(None, "--config", help="TOML file with OrganismConfig fields (flags override it)."),
    no_correct: bool = typer.Option(False, "--no-correct", help="Use the requested values as corpus values verbatim."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print organism.json's measured values as JSON."),
) -> None:
    """Pretrain an organism from scratch (or reuse the cached one with the same config)."""
    from motivlab.models.organism import read_organism_json
    from motivlab.models.pretrain import copy_organism, ensure_organism

    config = _config(config_file, {
        "prior": prior, "sr0": sr0, "sl0": sl0, "local_coverage": coverage, "steps": steps, "seed": seed,
        "correct": False if no_correct else None,
    })
    cached = ensure_organism(config, quick=quick, progress=progress)
    copy_organism(cached, out)
    meta = read_organism_json(out)
    if as_json:
        typer.echo(json.dumps({"out": str(out), "config_hash": meta["config_hash"], "requested": meta["requested"],
                               "measured": meta["measured"], "train_seconds": meta["training"]["train_seconds"]}, indent=2))
    else:
        m = meta["measured"]["train"]
        typer.echo(f"organism {meta['config_hash']} → {out}")
        typer.echo(f"requested p0={meta['requested']['p0']:.4g} sR0={meta['requested']['sr0']:.3g} sL0={meta['requested']['sl0']:.3g}")
        typer.echo(f"measured  p0={m['p']:.4g} sR0={m['s_r']:.3g} sL0={m['s_l']:.3g} (exact, training split)")


@app.command("measure")
@user_errors
def measure_command(
    model_dir: Path = typer.Argument(..., help="An organism directory (or an RL checkpoint with organism.json)."),
    envs: int = typer.Option(8, "--envs", min=1, help="How many envs of the split to measure (first K)."),
    samples: int = typer.Option(200, "--samples", min=0, help="Samples per env for the sampled estimate (0: exact only)."),
    split: str = typer.Option("train", "--split", help="train | heldout | trap | all."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (per-env rows and means)."),
) -> None:
    """Per-env p, sR, sL: exact (teacher-forced) and sampled (Wilson 95 % intervals), plus means."""
    from motivlab.errors import check_choice
    from motivlab.measure.sampled import measure_model_dir

    check_choice("--split", split, ["train", "heldout", "trap", "all"])
    result = measure_model_dir(model_dir, n_envs=envs, n_samples=samples, split=split, seed=seed)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=float))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{model_dir} — split {split}")
    cols = ["env_id", "p", "s_r", "s_l"] + (["p_sampled", "s_r_sampled", "s_l_sampled"] if samples else [])
    for c in cols:
        table.add_column(c)
    for row in result["envs"]:
        cells = [str(row["env_id"]), f"{row['p']:.4f}", f"{row['s_r']:.3f}", f"{row['s_l']:.3f}"]
        if samples:
            cells += [f"{row[f'{k}_sampled']:.3f} [{row[f'{k}_lo']:.3f}, {row[f'{k}_hi']:.3f}]" for k in ("p", "s_r", "s_l")]
        table.add_row(*cells)
    Console().print(table)
    typer.echo("means: " + json.dumps(result["means"]))


@app.command("calibrate")
@user_errors
def calibrate_command(
    out: Path = typer.Option(..., "--out", help="Directory for calibration.parquet/.csv, calibration.png, report.html."),
    quick: bool = typer.Option(False, "--quick", help="Quick organisms on a 3-point grid (smoke test)."),
    priors: str = typer.Option(None, "--priors", help="Comma-separated requested p₀ values (default 0.005,0.01,0.02,0.05,0.1,0.2)."),
    sr0s: str = typer.Option(None, "--sr0s", help="Comma-separated requested sR₀ values (default 0.25,0.5,0.75)."),
    sl0s: str = typer.Option(None, "--sl0s", help="Comma-separated requested sL₀ values (default 0.05,0.1,0.3)."),
    seeds: str = typer.Option(None, "--default-seeds", help="Comma-separated extra seeds of the default point (default 1; '' for none)."),
    no_correct: bool = typer.Option(False, "--no-correct", help="Corpus values = requested values (data for refitting the correction)."),
    trait_correlations: str = typer.Option(None, "--trait-correlations", help="Shaping: comma-separated trait correlations rho in [-1, 1] (other shaping knobs on, docs/organism.md)."),
    self_accuracies: str = typer.Option(None, "--self-accuracies", help="Shaping: comma-separated self-description accuracies."),
    instruction_shares: str = typer.Option(None, "--instruction-shares", help="Shaping: comma-separated instruction-marker shares."),
    report_rates: str = typer.Option(None, "--report-rates", help="Shaping: comma-separated report base rates."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Requested vs measured p₀, sR₀, sL₀, one knob at a time around the default (pretrains each organism)."""
    from motivlab.models.calibrate import CalibrationConfig, run_calibration

    def floats(name: str, text: str) -> list[float]:
        try:
            return [float(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from None

    grid: dict = {"correct": not no_correct}
    for name, key, text in (("--priors", "priors", priors), ("--sr0s", "sr0s", sr0s), ("--sl0s", "sl0s", sl0s),
                            ("--trait-correlations", "trait_correlations", trait_correlations),
                            ("--self-accuracies", "self_accuracies", self_accuracies),
                            ("--instruction-shares", "instruction_shares", instruction_shares),
                            ("--report-rates", "report_rates", report_rates)):
        if text is not None:
            grid[key] = floats(name, text)
    if seeds is not None:
        try:
            grid["default_seeds"] = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"--default-seeds must be comma-separated integers, got {seeds!r}") from None
    cfg = CalibrationConfig(quick=quick, **grid)
    table = run_calibration(cfg, out, progress=progress)
    typer.echo(table.to_string(index=False))
    typer.echo(f"wrote {out}/calibration.parquet, calibration.png, report.html")


@app.command("info")
@user_errors
def info_command(
    model_dir: Path = typer.Argument(..., help="An organism directory."),
    rl_events: int = typer.Option(0, "--rl-events", min=0, help="Reward events of an RL run to compare with."),
    rl_mean_reward: float = typer.Option(None, "--rl-mean-reward", help="Mean reward of that run."),
) -> None:
    """Information accounting: pretraining supervision vs RL reward events, in bits."""
    from motivlab.measure.information import organism_information

    typer.echo(organism_information(model_dir, rl_reward_events=rl_events, rl_mean_reward=rl_mean_reward).to_string(index=False))
