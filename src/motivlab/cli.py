"""The ``motivlab`` command: one entry point, a sub-command group per pillar.

Each pillar owns its commands in ``<pillar>/cli.py``; this file only mounts them. Pillar CLI
modules import heavy libraries (torch, transformers) inside the commands, so ``motivlab theory``
starts in well under a second.
"""

from __future__ import annotations

import typer

from motivlab.evals.cli import app as eval_app
from motivlab.evals.cli import serve_command
from motivlab.experiments.cli import app as experiment_app
from motivlab.models.cli import app as organism_app
from motivlab.rl.cli import demo_command, train_command
from motivlab.sweep.cli import sweep_command
from motivlab.theory.cli import app as theory_app
from motivlab.worlds.cli import app as world_app

app = typer.Typer(
    name="motivlab",
    no_args_is_help=True,
    add_completion=False,
    help="motivlab: how reinforcement learning shapes what language models want.",
)
app.add_typer(theory_app, name="theory", help="The behavioural-selection model: simulate, sweep, critical diversity, fit, figures.")
app.add_typer(organism_app, name="organism", help="The embedded model organism: pretrain, measure, calibrate.")
app.add_typer(world_app, name="world", help="Inspect worlds: sizes, fingerprint, the envs of a split.")
app.add_typer(experiment_app, name="experiment", help="Experiments that test the theory on the organism: transfer probes, critical diversity, the loop.")
app.add_typer(eval_app, name="eval", help="Self-reported motivation vs behaviour: run the protocol, analyze.")
app.command("train")(train_command)
app.command("demo")(demo_command)
app.command("sweep")(sweep_command)
app.command("serve")(serve_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
