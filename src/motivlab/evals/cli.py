"""Command line of motivlab.evals (filled in by its pillar)."""

import typer

app = typer.Typer(no_args_is_help=True, help="motivlab.evals commands")


def serve_command() -> None:
    """Serve a local model over an OpenAI-compatible chat-completions API."""
    raise typer.Exit(1)
