"""Command-line layer of ``motivlab theory simulate --geometry``: options → a validated :class:`GeometryRun`.

Errors name the option the user typed (``--transfer-length (x)``, ``--scale``), not the config
field, and list the allowed values; ``@user_errors`` in :mod:`motivlab.theory.cli` turns them
into exit code 2. Unset options (``None``) keep the defaults of :class:`HeterogeneousConfig` and
:class:`GeometryRun`, so each default is written down once. The simulation and its outputs are
:mod:`motivlab.theory.heterogeneous.simulate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from motivlab.errors import MotivlabInputError
from motivlab.theory.heterogeneous.geometries import GEOMETRIES
from motivlab.theory.heterogeneous.population import HeterogeneousConfig
from motivlab.theory.heterogeneous.simulate import GeometryRun, run_saved, write_outputs

__all__ = ["build_run", "parse_triple", "run_command"]

# ------------------------------------------------------------------ command line
# HeterogeneousConfig / GeometryRun field -> the option a user typed (error messages name options)
OPTION_NAMES = {
    "geometry": "--geometry", "d": "--d", "scale": "--scale", "coupling": "--kernel", "kernel": "--kernel",
    "ell_z": "--transfer-length (z)", "ell_x": "--transfer-length (x)", "ell_y": "--transfer-length (y)",
    "c": "--coupling", "alpha": "--alpha", "sigma_alpha": "--sigma-alpha", "init_sd": "--init-sd",
    "p0": "--p0", "sr0": "--sr0", "sl0": "--sl0", "kappa": "--cost", "lam": "--lam", "normalize": "--normalize",
    "max_dlatent": "--max-dlatent", "dt": "--dt", "horizon": "--horizon", "tol": "--tol", "integrator": "--integrator",
    "n_features": "--n-features", "dense_max": "--dense-max", "n": "--n", "resamples": "--resamples",
    "seed": "--seed", "save_points": "--save-points", "time_grid": "--time-grid",
}
KERNELS = ("auto", "dense", "rff", "constant")


def parse_triple(option: str, text: str, *, allow_none: bool = False) -> tuple[float | None, float | None, float | None]:
    """``"a,b,c"`` → three floats (``none`` allowed where ``allow_none``); errors name ``option``."""
    parts = [s.strip().lower() for s in text.split(",")]
    hint = "three comma-separated numbers (z, x, y)" + (" or 'none'" if allow_none else "")
    if len(parts) != 3:
        raise MotivlabInputError(f"{option} must be {hint}, got {text!r}")
    try:
        return tuple(None if allow_none and s == "none" else float(s) for s in parts)  # type: ignore[return-value]
    except ValueError:
        raise MotivlabInputError(f"{option} must be {hint}, got {text!r}") from None


def _number_or_none(option: str, text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise MotivlabInputError(f"{option} must be a number > 0 or 'none', got {text!r}") from None


def _validation_message(exc: Any) -> str:
    """A pydantic ValidationError as ``--option: problem, got value`` lines."""
    lines = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x != "model"]
        msg = err.get("msg", "").removeprefix("Value error, ")
        if loc:
            opt = OPTION_NAMES.get(loc[0], loc[0])
            lines.append(f"{opt}: {msg}, got {err.get('input')!r}")
        else:
            field = msg.split(" ", 1)[0]
            lines.append(f"{OPTION_NAMES[field]}: {msg}" if field in OPTION_NAMES else msg)
    return "; ".join(lines)


def build_run(*, geometry: str, kernel: str | None, coupling: tuple | None, transfer_length: str | None,
              max_dlatent: str | None, model_fields: dict[str, Any], run_fields: dict[str, Any]) -> GeometryRun:
    """Validate the command-line values into a :class:`GeometryRun` (unset options keep the class defaults)."""
    from pydantic import ValidationError

    from motivlab.errors import check_choice

    check_choice("--geometry", geometry, list(GEOMETRIES))
    kernel = check_choice("--kernel", kernel or "auto", KERNELS)
    if coupling is not None and kernel != "constant":
        raise MotivlabInputError("--coupling sets the constant couplings of --kernel constant; "
                                 "for a Gaussian kernel set --transfer-length LZ,LX,LY")
    if transfer_length is not None and kernel == "constant":
        raise MotivlabInputError("--transfer-length does not apply to --kernel constant (use --coupling CZ,CX,CY)")
    for option, name, allowed in (("--integrator", "integrator", ("heun", "euler")),
                                  ("--normalize", "normalize", ("sum", "mean")),
                                  ("--time-grid", "time_grid", ("log", "linear"))):
        value = model_fields.get(name, run_fields.get(name))
        if value is not None:
            check_choice(option, value, allowed)
    fields = {k: v for k, v in model_fields.items() if v is not None}
    fields["geometry"] = geometry
    if kernel == "constant":
        fields["coupling"] = "constant"
        if coupling is not None:
            fields["c"] = coupling
    else:
        fields["kernel"] = kernel
        if transfer_length is not None:
            lz, lx, ly = parse_triple("--transfer-length", transfer_length, allow_none=True)
            fields |= {"ell_z": lz, "ell_x": lx, "ell_y": ly}
    if max_dlatent is not None:
        fields["max_dlatent"] = _number_or_none("--max-dlatent", max_dlatent)
    try:
        model = HeterogeneousConfig(**fields)
        return GeometryRun(model=model, **{k: v for k, v in run_fields.items() if v is not None})
    except ValidationError as exc:
        raise MotivlabInputError(_validation_message(exc)) from None


def run_command(run: GeometryRun, out: Path) -> dict[str, Any]:
    """Integrate with a progress bar on stderr, write every output, return the summary."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("integrating {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(f"{run.resamples}×{run.n} envs", total=run.save_points - 1)
        saved = run_saved(run, on_segment=lambda k, total: bar.update(task, completed=k))
    with console.status("writing tables, figures and report.html"):
        return write_outputs(out, run, saved)

