"""Calibration: do the persona knobs set the organism's measured p₀, sR₀, sL₀?

    motivlab organism calibrate --out calib/            # the real grid (pretrains 6 organisms)
    motivlab organism calibrate --out calib/ --quick    # 3 quick organisms, a smoke test

For every grid point an organism is pretrained (or reused from the cache) and measured exactly
on its training split. The table has requested values, the corpus values the correction chose,
measured values and whether each lies within tolerance: ±0.05 absolute for p₀ ≥ 0.05, a factor
of 2 for 0.005 ≤ p₀ < 0.05 (and ±0.05 for the skills). It also fits, in logit space,
``logit(measured) = α + β·logit(corpus value)`` — the map the correction in
:mod:`motivlab.models.corpus` inverts — and reports α, β so the correction can be refitted.

Grid (default): p₀ ∈ {0.005, 0.01, 0.05, 0.2} at (sR₀, sL₀) = (0.5, 0.1), and
(sR₀, sL₀) ∈ {(0.2, 0.3), (0.8, 0.6)} at p₀ = 0.05, so each knob has three levels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from motivlab.errors import MotivlabInputError


class CalibrationConfig(BaseModel):
    """Grid of the calibration (every field documented once)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quick: bool = Field(False, description="Quick organisms (< 60 s each) on a 3-point p₀ grid.")
    priors: list[float] = Field(
        [0.005, 0.01, 0.05, 0.2], description="Requested p₀ values at the default skills."
    )
    skill_points: list[tuple[float, float]] = Field(
        [(0.2, 0.3), (0.8, 0.6)], description="(sR₀, sL₀) pairs measured at p₀ = skill_prior."
    )
    skill_prior: float = Field(0.05, gt=0, lt=1, description="p₀ used for the skill points.")
    correct: bool = Field(True, description="Organisms use the fitted correction (False: fit it from scratch).")
    seed: int = Field(0, ge=0, description="Organism seed.")

    @field_validator("priors")
    @classmethod
    def _priors_ok(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < x < 1 for x in v):
            raise ValueError(f"priors must be a non-empty list of values in (0, 1), got {v}")
        return sorted(v)


def _grid(cfg: CalibrationConfig) -> list[dict[str, float]]:
    if cfg.quick:
        return [{"prior": p, "sr0": 0.5, "sl0": 0.1} for p in (0.02, 0.1, 0.4)]
    points = [{"prior": p, "sr0": 0.5, "sl0": 0.1} for p in cfg.priors]
    points += [{"prior": cfg.skill_prior, "sr0": sr, "sl0": sl} for sr, sl in cfg.skill_points]
    return points


def within_tolerance(name: str, requested: float, measured: float) -> bool:
    """The acceptance rule of the issue (p₀: ±0.05 from 0.05 up, factor 2 below; skills ±0.05)."""
    if name == "p0" and requested < 0.05:
        return requested / 2 <= measured <= requested * 2
    return abs(measured - requested) <= 0.05


def fit_logit_map(corpus: np.ndarray, measured: np.ndarray) -> tuple[float, float]:
    """Least squares ``logit(measured) = α + β·logit(corpus)`` (values clipped to [1e-4, 1−1e-4])."""
    x = np.log(np.clip(corpus, 1e-4, 1 - 1e-4) / (1 - np.clip(corpus, 1e-4, 1 - 1e-4)))
    y = np.log(np.clip(measured, 1e-4, 1 - 1e-4) / (1 - np.clip(measured, 1e-4, 1 - 1e-4)))
    if x.size < 2 or np.ptp(x) == 0:
        return float(np.mean(y - x)), 1.0
    beta, alpha = np.polyfit(x, y, 1)
    return float(alpha), float(beta)


def run_calibration(cfg: CalibrationConfig, out: str | Path, *, progress: bool = True) -> pd.DataFrame:
    """Pretrain/measure every grid point, write table + figure + HTML into ``out``; return the table."""
    from motivlab.models.organism import OrganismConfig, read_organism_json
    from motivlab.models.pretrain import ensure_organism

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MotivlabInputError(f"--out {out} exists and is not a directory")
    rows = []
    for point in _grid(cfg):
        ocfg = OrganismConfig(**point, correct=cfg.correct, seed=cfg.seed)
        meta = read_organism_json(ensure_organism(ocfg, quick=cfg.quick, progress=progress))
        m, plan = meta["measured"]["train"], meta["training"]["plan"]
        row = {
            "p0_requested": point["prior"], "sr0_requested": point["sr0"], "sl0_requested": point["sl0"],
            "corpus_share": plan["corpus_share"], "acc_reward_seeking": plan["acc_reward_seeking"],
            "acc_local_known": plan["acc_local_known"],
            "p0_measured": m["p"], "sr0_measured": m["s_r"], "sl0_measured": m["s_l"],
            "p0_heldout": meta["measured"].get("heldout", {}).get("p", float("nan")),
            "train_seconds": meta["training"]["train_seconds"], "config_hash": meta["config_hash"],
        }
        for k in ("p0", "sr0", "sl0"):
            row[f"{k}_ok"] = within_tolerance(k, row[f"{k}_requested"], row[f"{k}_measured"])
        rows.append(row)
    table = pd.DataFrame(rows)
    _write_outputs(table, cfg, out)
    return table


def _fits(table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    return {
        "prior": fit_logit_map(table.corpus_share.to_numpy(), table.p0_measured.to_numpy()),
        "sr0": fit_logit_map(table.acc_reward_seeking.to_numpy(), table.sr0_measured.to_numpy()),
        "sl0": fit_logit_map(table.acc_local_known.to_numpy(), table.sl0_measured.to_numpy()),
    }


def _figure(table: pd.DataFrame) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, (k, label) in zip(axes, [("p0", "p₀"), ("sr0", "sR₀"), ("sl0", "sL₀")], strict=True):
        req, mea = table[f"{k}_requested"], table[f"{k}_measured"]
        ax.scatter(req, mea, color="C0", zorder=3)
        lo = min(req.min(), mea.min()) * (0.5 if k == "p0" else 1)
        hi = max(req.max(), mea.max()) * 1.1
        grid = np.linspace(max(lo, 1e-4), hi, 100)
        ax.plot(grid, grid, "k--", lw=1, label="measured = requested")
        if k == "p0":
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.fill_between(grid, np.where(grid < 0.05, grid / 2, grid - 0.05), np.where(grid < 0.05, grid * 2, grid + 0.05),
                            color="0.85", label="tolerance")
        ax.set_xlabel(f"requested {label}")
        ax.set_ylabel(f"measured {label} (exact, train split)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def markdown_table(table: pd.DataFrame) -> str:
    """The calibration table as Markdown (for docs/organism.md), without extra dependencies."""
    cols = [("p0_requested", "p₀ req", "{:.3g}"), ("corpus_share", "π corpus", "{:.3g}"),
            ("p0_measured", "p₀ meas", "{:.3g}"), ("p0_ok", "p₀ ok", "{}"),
            ("sr0_requested", "sR₀ req", "{:.2g}"), ("sr0_measured", "sR₀ meas", "{:.3f}"), ("sr0_ok", "ok", "{}"),
            ("sl0_requested", "sL₀ req", "{:.2g}"), ("sl0_measured", "sL₀ meas", "{:.3f}"), ("sl0_ok", "ok", "{}"),
            ("train_seconds", "train s", "{:.0f}")]
    lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(fmt.format(row[key]) for key, _, fmt in cols) + " |")
    return "\n".join(lines)


def _write_outputs(table: pd.DataFrame, cfg: CalibrationConfig, out: Path) -> None:
    from motivlab.io import atomic_write_text, run_metadata, write_json, write_table
    from motivlab.report import HtmlReport, save_figure

    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out / "calibration.parquet")
    atomic_write_text(out / "calibration.md", markdown_table(table) + "\n")
    fits = _fits(table)
    write_json(out / "calibration.json", {"fits_alpha_beta": fits, "run_metadata": run_metadata(cfg.seed, cfg.model_dump())})
    fig = _figure(table)
    png = save_figure(fig, out / "calibration.png")
    report = HtmlReport("Organism calibration: requested vs measured p₀, sR₀, sL₀")
    report.text("Each row is an organism pretrained from scratch and measured exactly (teacher-forced) on its "
                "training split. Tolerance: p₀ within ±0.05 for p₀ ≥ 0.05, within a factor 2 below; skills ±0.05.")
    report.figure(png, "requested vs measured (dashed: identity)")
    report.table(table, "calibration table")
    report.code("\n".join(f"{k}: logit(measured) = {a:+.3f} + {b:.3f}·logit(corpus value)" for k, (a, b) in fits.items()))
    report.write(out / "report.html")
