"""``motivlab sweep SPEC.toml --out DIR [--workers K] [--ray local|ADDRESS] [--set k=v]``.

Heavy imports (torch, pandas, ray) happen inside the command so ``motivlab --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from motivlab._cli import user_errors


@user_errors
def sweep_command(
    spec: Annotated[Path, typer.Argument(help="Sweep spec TOML (see examples/sweep_small.toml and docs/sweep.md).")],
    out: Annotated[Path | None, typer.Option("--out", help="Sweep directory (default: runs/<spec name>).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Points run at the same time (processes; "
                                         "torch threads per worker = cores // workers).")] = 1,
    ray: Annotated[str | None, typer.Option("--ray", help="Run points as Ray tasks: 'local' (a local Ray with "
                                            "the workers' CPUs) or a cluster address (shared filesystem).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Run-config override for every point: "
                                                   "--set steps=10 (repeatable; part of the spec).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the sweep's progress bar.")] = True,
) -> None:
    """Run every point of a sweep spec as an ordinary run directory; write DIR/sweep.parquet.

    Rerun the same command to continue: done points are skipped, interrupted ones resume from
    their last checkpoint, failed ones are retried while they have attempts left.
    """
    from motivlab.sweep.engine import run_sweep

    out = out or Path("runs") / spec.stem
    table = run_sweep(spec, out, workers=workers, ray=ray, progress=progress, overrides=list(set_ or []))
    counts = table.status.value_counts().to_dict()
    typer.echo(f"sweep {out}: {len(table)} points — " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    failed = table[table.status == "failed"]
    for row in failed.itertuples():
        typer.echo(f"  failed: {row.point} after {row.attempts} attempt(s): {row.error}")
    typer.echo(f"table: {out / 'sweep.parquet'} (+ .csv); runs: {out / 'runs'}")
    if len(failed):
        raise typer.Exit(1)
