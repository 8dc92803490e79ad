"""Command line of motivlab.models (filled in by its pillar)."""

import typer

app = typer.Typer(no_args_is_help=True, help="motivlab.models commands")
