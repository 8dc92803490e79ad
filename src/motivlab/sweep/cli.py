"""``motivlab sweep SPEC.toml --out DIR [--workers K] [--ray local|ADDRESS] [--set k=v]``.

Heavy imports (torch, pandas, ray) happen inside the command so ``motivlab --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from motivlab._cli import user_errors


@user_errors
def sweep_command(
    spec: Annotated[Path, typer.Argument(help="Sweep spec TOML (see examples/sweep_small.toml and docs/sweep.md).")],
    out: Annotated[Path | None, typer.Option("--out", help="Sweep directory (default: runs/<spec name>).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Points run at the same time (processes; torch "
                                         "threads per worker: $MOTIVLAB_TORCH_THREADS, default 1, capped at "
                                         "cores // workers).")] = 1,
    ray: Annotated[str | None, typer.Option("--ray", help="Run points as Ray tasks: 'local' (a local Ray with "
                                            "the workers' CPUs) or a cluster address (shared filesystem).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Run-config override for every point: "
                                                   "--set steps=10 (repeatable; part of the spec).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the sweep's progress bar.")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate the spec and list the points (with their "
                                          "status in an existing DIR); run and write nothing.")] = False,
) -> None:
    """Run every point of a sweep spec as an ordinary run directory; write DIR/sweep.parquet.

    Rerun the same command to continue: done points are skipped, interrupted ones resume from their last checkpoint, failed ones are retried while they have attempts left.
    """
    from motivlab.sweep.engine import plan_sweep, run_sweep

    out = out or Path("runs") / spec.stem
    if dry_run:
        table = plan_sweep(spec, out, overrides=list(set_ or []), ray=ray)
        _print_table(table)
        typer.echo(f"{len(table)} points; nothing was run or written (--dry-run)")
        return
    table = run_sweep(spec, out, workers=workers, ray=ray, progress=progress, overrides=list(set_ or []))
    _print_table(table)
    counts = table.status.value_counts().to_dict()
    typer.echo(f"sweep {out}: {len(table)} points — " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    failed = table[table.status == "failed"]
    for row in failed.itertuples():
        typer.echo(f"  failed: {row.point} after {row.attempts} attempt(s): {row.error}")
    typer.echo(f"table: {out / 'sweep.parquet'} (+ .csv); runs: {out / 'runs'}")
    if len(failed):
        raise typer.Exit(1)


def _print_table(table: Any) -> None:
    """The table's main columns on the terminal (exact values at the end of each run)."""
    from rich.console import Console
    from rich.table import Table

    shown = [c for c in ("p0_train", "p_train", "p_heldout", "p_trap", "s_r_train", "s_l_train") if c in table]
    out = Table(show_edge=False, pad_edge=False)
    for col in ("point", "status", *shown):
        out.add_column(col, justify="left" if col in ("point", "status") else "right")
    for row in table.itertuples(index=False):
        values = row._asdict()
        out.add_row(str(values["point"]), str(values["status"]),
                    *("" if values[c] != values[c] else f"{values[c]:.3f}" for c in shown))
    Console(width=160).print(out)
