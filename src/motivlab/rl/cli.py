"""``motivlab train`` and ``motivlab demo``: RL on a model organism from the command line.

    motivlab train examples/positive_gap.toml --out runs/pos --set steps=40
    motivlab train examples/positive_gap.toml --out runs/pos --resume     # after a kill
    motivlab demo --out runs/demo     # pretrain (or reuse) the organism, GRPO, report.html
    motivlab train examples/positive_gap.toml --set device=cuda    # on the GPU (default 'auto')

Heavy imports (torch, transformers) happen inside the commands so ``motivlab --help`` is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motivlab._cli import fail, user_errors

app = typer.Typer(no_args_is_help=True, help="motivlab.rl commands")

DEMO_CONFIG = Path(__file__).with_name("demo.toml")  # = examples/positive_gap.toml


def _quiet_transformers() -> None:
    """Hide transformers' per-save progress bars (the run has its own)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def _threads() -> None:
    import torch

    from motivlab.models.loading import torch_threads

    torch.set_num_threads(torch_threads())


def _run(config_data: dict, overrides: list[str], out: Path, resume: bool) -> Path:
    from motivlab.rl.config import build_config
    from motivlab.rl.rundir import RunDirError
    from motivlab.rl.trainer import TrainingDivergedError, train

    _quiet_transformers()
    _threads()
    config = build_config(config_data, overrides)
    try:
        result = train(config, out, resume=resume)
    except RunDirError as exc:
        fail(str(exc))
    except TrainingDivergedError as exc:
        fail(str(exc), code=1)
    if result.already_finished:
        typer.echo(f"{result.run_dir} already finished its {config.steps} steps; nothing to do "
                   f"(--set steps=N with N > {config.steps} extends it)")
    summary = result.run_dir / "summary.json"
    typer.echo(f"run directory: {result.run_dir}   (computed on {result.device})")
    if summary.is_file():
        import json

        s = json.loads(summary.read_text())
        for split in ("train", "heldout", "trap"):
            if split in s:
                v = s[split]
                typer.echo(
                    f"  {split:8s} p {v['p_exact_start']:.3f} -> {v['p_exact_end']:.3f}   "
                    f"sR {v['s_r_exact_start']:.3f} -> {v['s_r_exact_end']:.3f}   "
                    f"sL {v['s_l_exact_start']:.3f} -> {v['s_l_exact_end']:.3f}   (exact, steps "
                    f"{v['first_step']} -> {v['last_step']})"
                )
    typer.echo(f"report: {result.run_dir / 'report.html'}")
    return result.run_dir


@user_errors
def train_command(
    config: Annotated[Path, typer.Argument(help="TOML config (see examples/*.toml and docs/rl.md).")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config key: --set algorithm.beta=0.04 (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (default: runs/<config name>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
) -> None:
    """Train a policy with RL (GRPO or rejection sampling) from a TOML config."""
    from motivlab.io import read_toml

    data = read_toml(config)
    _run(data, list(set_ or []), out or Path("runs") / config.stem, resume)


@user_errors
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/demo"),
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a demo config key (repeatable).")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Run a reduced predict-then-verify loop instead "
                                       "(motivlab experiment loop; < 15 min on 2 cores; --out default runs/demo_loop).")] = False,
) -> None:
    """Pretrain (or reuse) the demo organism, run GRPO on it, write report.html with p(t), sR(t), sL(t).

    The run of examples/positive_gap.toml: an organism that rarely reward-seeks but decodes the grader note better than it recalls keys; GRPO selects the reward-seeking motivation.

    Rerunning the demo on the same --out continues (or just re-reports) that run.
    """
    import time

    from motivlab.io import read_toml

    start = time.perf_counter()
    if loop:
        from motivlab.experiments.loop import run_demo_loop

        run_demo_loop(Path("runs/demo_loop") if out == Path("runs/demo") else out, list(set_ or []))
        typer.echo(f"demo --loop finished in {time.perf_counter() - start:.0f} s")
        return
    _run(read_toml(DEMO_CONFIG), list(set_ or []), out, resume=(out / "config.toml").is_file())
    typer.echo(f"demo finished in {time.perf_counter() - start:.0f} s")
