"""Calibration: do the persona knobs set the organism's measured p₀, sR₀, sL₀?

    motivlab organism calibrate --out calib/            # the real grid (pretrains 11 organisms)
    motivlab organism calibrate --out calib/ --quick    # 3 quick organisms, a smoke test

For every grid point an organism is pretrained (or reused from the cache) and measured exactly
on its training split. The table has requested values, the corpus values the correction chose,
measured values and whether each lies within tolerance: ±0.05 absolute for p₀ ≥ 0.05, a factor
of 2 for 0.005 ≤ p₀ < 0.05 (and ±0.05 for the skills). It also fits, in logit space,
``logit(measured) = α + β·logit(corpus value)`` — the map the correction in
:mod:`motivlab.models.corpus` inverts — and reports α, β so the correction can be refitted.

Grid (default): one knob at a time around the default organism (p₀ = 0.05, sR₀ = 0.5,
sL₀ = 0.1), the others fixed — p₀ ∈ {0.005, 0.01, 0.02, 0.05, 0.1, 0.2}, sR₀ ∈ {0.25, 0.5, 0.75},
sL₀ ∈ {0.05, 0.1, 0.3} — plus extra seeds of the default point. Each knob's measured values are
checked for monotonicity (:func:`monotonicity`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, field_validator

from motivlab.errors import MotivlabInputError
from motivlab.validation import config_rules


class CalibrationConfig(BaseModel):
    """Grid of the calibration (every field documented once)."""

    model_config = config_rules(frozen=True)

    quick: bool = Field(False, description="Quick organisms (< 60 s each) on a 3-point p₀ grid.")
    priors: list[float] = Field(
        [0.005, 0.01, 0.02, 0.05, 0.1, 0.2], description="Requested p₀ values (sR₀, sL₀ at the default)."
    )
    sr0s: list[float] = Field([0.25, 0.5, 0.75], description="Requested sR₀ values (p₀, sL₀ at the default).")
    sl0s: list[float] = Field([0.05, 0.1, 0.3], description="Requested sL₀ values (p₀, sR₀ at the default).")
    default_seeds: list[int] = Field(
        [1], description="Extra seeds of the default point (its seed-to-seed spread next to the grid)."
    )
    trait_correlations: list[float] = Field(
        [], description="Shaping: requested trait correlations rho in [-1, 1] (the other shaping knobs at "
        "calibrate_shaping.SHAPING_ON); empty: none."
    )
    self_accuracies: list[float] = Field([], description="Shaping: requested self-description accuracies in [0, 1].")
    instruction_shares: list[float] = Field([], description="Shaping: requested instruction-marker shares in [0, 1).")
    report_rates: list[float] = Field([], description="Shaping: requested report base rates in [0, 1).")
    correct: bool = Field(True, description="Organisms use the fitted correction (False: fit it from scratch).")
    seed: int = Field(0, ge=0, description="Organism seed of the grid.")

    @field_validator("priors")
    @classmethod
    def _priors_ok(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < x < 1 for x in v):
            raise ValueError(f"priors must be a non-empty list of values in (0, 1), got {v}")
        return sorted(v)

    @field_validator("sr0s", "sl0s")
    @classmethod
    def _skills_ok(cls, v: list[float]) -> list[float]:
        if any(not 0 <= x <= 1 for x in v):
            raise ValueError(f"skill values (sr0s, sl0s) must lie in [0, 1], got {v}")
        return sorted(v)

    @field_validator("trait_correlations", "self_accuracies", "instruction_shares", "report_rates")
    @classmethod
    def _shaping_ok(cls, v: list[float], info: Any) -> list[float]:
        lo, hi = (-1.0, 1.0) if info.field_name == "trait_correlations" else (0.0, 1.0)
        if any(not lo <= x <= hi for x in v):
            raise ValueError(f"{info.field_name} values must lie in [{lo:g}, {hi:g}], got {v}")
        return v

    @field_validator("default_seeds")
    @classmethod
    def _seeds_ok(cls, v: list[int]) -> list[int]:
        if any(x < 0 for x in v):
            raise ValueError(f"default_seeds must be >= 0, got {v}")
        return v


KNOBS = {"prior": "p0", "sr0": "sr0", "sl0": "sl0"}  # config field → table column prefix


def _grid(cfg: CalibrationConfig) -> list[dict[str, Any]]:
    """Grid points ``{prior, sr0, sl0, seed, knob}``, each pretrained once (duplicates dropped)."""
    from motivlab.models.organism import OrganismConfig

    base = OrganismConfig()
    default = {"prior": base.prior, "sr0": base.sr0, "sl0": base.sl0}
    if cfg.quick:
        return [{**default, "prior": p, "seed": cfg.seed, "knob": "prior"} for p in (0.02, 0.1, 0.4)]
    points: list[dict[str, Any]] = []
    for knob, values in (("prior", cfg.priors), ("sr0", cfg.sr0s), ("sl0", cfg.sl0s)):
        points += [{**default, knob: v, "seed": cfg.seed, "knob": knob} for v in values]
    points += [{**default, "seed": s, "knob": "seed"} for s in cfg.default_seeds if s != cfg.seed]
    from motivlab.models.calibrate_shaping import shaping_knobs, shaping_points

    points += shaping_points(cfg, default)
    seen, unique = set(), []
    for p in points:
        key = (p["prior"], p["sr0"], p["sl0"], p["seed"], tuple(sorted(shaping_knobs(p).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(p)
    return unique


def _is_default(row: pd.Series, default: dict[str, float]) -> bool:
    return all(np.isclose(row[f"{KNOBS[k]}_requested"], v) for k, v in default.items())


def monotonicity(table: pd.DataFrame, seed: int) -> dict[str, bool | None]:
    """Per knob: do the measured values rise with the requested ones, the other two knobs held at
    the default and the seed fixed? ``None`` when the knob has fewer than two levels."""
    from motivlab.models.organism import OrganismConfig

    base = OrganismConfig()
    default = {"prior": base.prior, "sr0": base.sr0, "sl0": base.sl0}
    out: dict[str, bool | None] = {}
    for knob, col in KNOBS.items():
        others = {k: v for k, v in default.items() if k != knob}
        rows = table[(table.seed == seed) & table.apply(lambda r, o=others: _is_default(r, o), axis=1)]
        measured = rows.groupby(f"{col}_requested")[f"{col}_measured"].mean().sort_index().to_numpy()
        out[knob] = None if measured.size < 2 else bool(np.all(np.diff(measured) > 0))
    return out


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
    from motivlab.models.calibrate_shaping import shaping_knobs, shaping_row

    rows = []
    for point in _grid(cfg):
        knobs = {**{k: point[k] for k in ("prior", "sr0", "sl0", "seed")}, **shaping_knobs(point)}
        ocfg = OrganismConfig(**knobs, correct=cfg.correct)
        meta = read_organism_json(ensure_organism(ocfg, quick=cfg.quick, progress=progress))
        m, plan = meta["measured"]["train"], meta["training"]["plan"]
        row = {
            "knob": point["knob"], "seed": point["seed"],
            "p0_requested": point["prior"], "sr0_requested": point["sr0"], "sl0_requested": point["sl0"],
            "corpus_share": plan["corpus_share"], "acc_reward_seeking": plan["acc_reward_seeking"],
            "acc_local_known": plan["acc_local_known"],
            "p0_measured": m["p"], "sr0_measured": m["s_r"], "sl0_measured": m["s_l"],
            "p0_heldout": meta["measured"].get("heldout", {}).get("p", float("nan")),
            "sr0_heldout": meta["measured"].get("heldout", {}).get("s_r", float("nan")),
            "train_seconds": meta["training"]["train_seconds"], "config_hash": meta["config_hash"],
            # pretraining attempts until the cipher was learnt (OrganismConfig.max_attempts)
            "attempts": len(meta.get("acceptance", {}).get("attempts", [None])),
            "cipher_learnt": bool(meta.get("acceptance", {}).get("passed", True)),
        }
        for k in ("p0", "sr0", "sl0"):
            row[f"{k}_ok"] = within_tolerance(k, row[f"{k}_requested"], row[f"{k}_measured"])
        rows.append({**row, **shaping_row(point, meta)})
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
    cols = [("knob", "varied", "{}"), ("seed", "seed", "{}"), ("p0_requested", "p₀ req", "{:.3g}"), ("corpus_share", "π corpus", "{:.3g}"),
            ("p0_measured", "p₀ meas", "{:.3g}"), ("p0_ok", "p₀ ok", "{}"),
            ("sr0_requested", "sR₀ req", "{:.2g}"), ("sr0_measured", "sR₀ meas", "{:.3f}"), ("sr0_ok", "ok", "{}"),
            ("sl0_requested", "sL₀ req", "{:.2g}"), ("acc_local_known", "a_L corpus", "{:.3g}"),
            ("sl0_measured", "sL₀ meas", "{:.3f}"), ("sl0_ok", "ok", "{}"),
            ("attempts", "attempts", "{}"), ("train_seconds", "train s", "{:.0f}")]
    lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(fmt.format(row.get(key, "—")) for key, _, fmt in cols) + " |")
    return "\n".join(lines)


def _write_outputs(table: pd.DataFrame, cfg: CalibrationConfig, out: Path) -> None:
    from motivlab.io import atomic_write_text, run_metadata, write_json, write_table
    from motivlab.report import HtmlReport, save_figure

    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out / "calibration.parquet")
    mono = monotonicity(table[table.knob.isin([*KNOBS, "seed"])], cfg.seed)
    mono_text = f"Monotone in each knob (others at the default, seed {cfg.seed}): " + ", ".join(
        f"{k}: {'—' if v is None else 'yes' if v else 'NO'}" for k, v in mono.items())
    from motivlab.models.calibrate_shaping import shaping_markdown

    shaping_md = shaping_markdown(table)
    atomic_write_text(out / "calibration.md", markdown_table(table) + "\n\n" + mono_text + "\n"
                      + (f"\nShaping knobs (requested = what the corpus implies):\n\n{shaping_md}\n" if shaping_md else ""))
    fits = _fits(table)
    write_json(out / "calibration.json", {"fits_alpha_beta": fits, "monotone": mono,
                                          "run_metadata": run_metadata(cfg.seed, cfg.model_dump())})
    fig = _figure(table)
    png = save_figure(fig, out / "calibration.png")
    report = HtmlReport("Organism calibration: requested vs measured p₀, sR₀, sL₀")
    report.text("Each row is an organism pretrained from scratch and measured exactly (teacher-forced) on its "
                "training split. Tolerance: p₀ within ±0.05 for p₀ ≥ 0.05, within a factor 2 below; skills ±0.05.")
    report.figure(png, "requested vs measured (dashed: identity)")
    report.text(mono_text)
    report.table(table, "calibration table")
    report.code("\n".join(f"{k}: logit(measured) = {a:+.3f} + {b:.3f}·logit(corpus value)" for k, (a, b) in fits.items()))
    report.write(out / "report.html")
