"""Command functions for the analysis, mounted by ``motivlab.evals.cli``.

``motivlab eval analyze DIR [--out OUT]`` reads ``DIR/results.parquet`` (written by
``motivlab eval run``; or ``*/results.parquet`` of DIR's sub-folders, analysed together) and writes tables, figures, ``summary.json`` and ``report.html`` into
``OUT`` (default ``DIR/analysis``). ``synthetic_command`` writes a results table with planted
structure, to try the analysis without running any model::

    python -m motivlab.evals.synthetic /tmp/synth && motivlab eval analyze /tmp/synth
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from motivlab._cli import user_errors


@user_errors
def analyze_command(
    results_dir: Annotated[Path, typer.Argument(
        help="run folder with results.parquet, the file itself, or a folder of run folders (analysed together)")],
    out: Annotated[Path | None, typer.Option(help="output folder (default: RESULTS_DIR/analysis)")] = None,
) -> None:
    """Analyse a self-report study: reliability, report vs behaviour, categories, factors, choice, manipulations."""
    from rich.console import Console

    from motivlab.evals.analysis.pipeline import STEP_NAMES, analyze, find_results_files, load_results
    from motivlab.evals.analysis.report import write_outputs

    console = Console(stderr=True)
    sources = find_results_files(results_dir)
    base = Path(results_dir)
    target = out if out is not None else ((base.parent if base.is_file() else base) / "analysis")
    with _progress(console) as bar:  # load, each analysis, write: one bar, named phases
        task = bar.add_task("reading results", total=len(STEP_NAMES) + 2)
        df = load_results(results_dir)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"analysing: {name}")

        result = analyze(df, progress=step)
        bar.update(task, advance=1, description="writing tables, figures and report")
        report = write_outputs(result, target, source=", ".join(str(s) for s in sources))
        bar.update(task, advance=1, description="done")
    for key, value in result.summary.items():
        typer.echo(f"{key:32s} {value:.4g}")
    for line in result.missing:
        typer.echo(f"missing: {line}", err=True)
    if result.skipped:
        typer.echo(f"{len(result.skipped)} analyses skipped (reasons in summary.json and the report)", err=True)
    typer.echo(f"report: {report}")


@user_errors
def synthetic_command(
    out: Annotated[Path, typer.Argument(help="folder to write results.parquet into")],
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    n_models: Annotated[int, typer.Option(help="number of simulated models")] = 3,
) -> None:
    """Write a synthetic results table with planted structure (for trying and testing the analysis)."""
    from rich.console import Console

    from motivlab.evals.synthetic import SyntheticConfig, simulate
    from motivlab.io import write_table

    with _progress(Console(stderr=True)) as bar:
        task = bar.add_task(f"simulating {n_models} models", total=2)
        study = simulate(SyntheticConfig(seed=seed, n_models=n_models))
        bar.update(task, advance=1, description=f"writing results.parquet ({len(study.results):,} rows)")
        path = write_table(study.results, Path(out) / "results.parquet")
        bar.update(task, advance=1, description="done")
    typer.echo(f"wrote {path} ({len(study.results)} rows)")


def _progress(console: Any) -> Any:
    """A rich progress bar with the phase's name and the elapsed time (silent when not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)
