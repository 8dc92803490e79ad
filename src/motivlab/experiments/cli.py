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
