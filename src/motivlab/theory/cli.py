"""Command line of motivlab.theory (filled in by its pillar)."""

import typer

app = typer.Typer(no_args_is_help=True, help="motivlab.theory commands")
