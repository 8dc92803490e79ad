"""Command line of motivlab.rl (filled in by its pillar)."""

import typer

app = typer.Typer(no_args_is_help=True, help="motivlab.rl commands")


def train_command() -> None:
    """Train a policy with RL from a TOML config."""
    raise typer.Exit(1)


def demo_command() -> None:
    """Pretrain (or reuse) the default organism and run GRPO on it."""
    raise typer.Exit(1)
