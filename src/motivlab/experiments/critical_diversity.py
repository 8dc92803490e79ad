"""``motivlab experiment critical-diversity``: the critical diversity N*(p0), measured on the organism.

One sweep (:mod:`motivlab.sweep`) of GRPO runs over the number of training envs ``N`` (a log grid
from 1 to the whole training split), the organism's prior ``p0`` (organisms pretrained with
different reward-seeking persona shares; their *measured* p0 is what the tables report) and seeds.

*Compute held fixed* (``compute``):

* ``"mean"`` (default) — a fixed rollout budget per run: every run takes ``steps`` GRPO steps of
  ``prompts_per_step × group_size`` rollouts, so each env is seen ∝ 1/N. This is the theory's
  ``normalize="mean"`` (a fixed batch) at a fixed horizon. Until saturation the homogeneous
  theory's ``p_∞(N)`` is the *same* under ``"mean"`` and ``"sum"`` (the two differ by a factor N
  in every effective learnability, i.e. only in time), so the scaling law ``N*(p0)`` does not
  depend on the choice; for a finite run the fixed-batch convention is the one that describes
  what GRPO does, and it is the one the loop's prediction uses.
* ``"sum"`` — a fixed budget per env: ``steps(N) = ceil(visits_per_env · N / prompts_per_step)``,
  so every env is seen ``visits_per_env`` times whatever N (total compute ∝ N).

``p_inf`` = mean exact (teacher-forced) ``p`` over the training envs measured exactly at the end
(all of them for ``N ≤ measure.exact_train_envs``, else the first that many), also held-out and
trap. ``N*`` = first crossing of 0.5 by the seed-mean ``p_inf(N)``, interpolated in log N
(:mod:`motivlab.experiments.crossing`), with a bootstrap interval over seeds; the slope of
``log N*`` against ``log p0``. A curve that never crosses in range gives a bound, never a number.

Outputs (``--out DIR``): ``sweep/`` (the sweep directory: ``runs/<point>/`` are ordinary run
directories), ``runs.parquet`` (one row per run), ``curves.parquet`` (per prior × N),
``n_star.parquet`` (per prior), ``figures/p_inf_vs_n.png``, ``figures/n_star_vs_p0.png``,
``summary.json``, ``report.html``, ``experiment.json`` (the validated config).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from motivlab.errors import MotivlabInputError
from motivlab.validation import config_rules, validated

__all__ = ["CriticalDiversityConfig", "analyse", "default_n_values", "parse_config", "run_critical_diversity", "sweep_spec"]

TRAIN_SPLIT_DEFAULT = 200  # the default organism's world: 240 envs − 20 held-out − 20 trap


def default_n_values(n_max: int, n_points: int) -> list[int]:
    """``n_points`` distinct integers on a log grid from 1 to ``n_max`` (both included)."""
    values = sorted({round(v) for v in np.geomspace(1, n_max, n_points)})
    return values


class CriticalDiversityConfig(BaseModel):
    """Options of the critical-diversity experiment (every field is a CLI option)."""

    model_config = config_rules()

    base: str = Field("", description="Run-config TOML of every point ('' = the demo config, = examples/positive_gap.toml).")
    priors: list[float] = Field([0.01, 0.05, 0.2], description="Requested persona shares (model.organism.prior).")
    n_values: list[int] = Field(default_factory=list, description="N grid ([] = n_points on a log grid 1 … n_max).")
    n_points: int = Field(6, ge=2, le=30, description="Points of the default log grid.")
    n_max: int = Field(TRAIN_SPLIT_DEFAULT, ge=2, description="Largest N of the default grid (the whole training split).")
    seeds: list[int] = Field([0, 1, 2], description="Seeds per point (env draw, sampling, updates).")
    steps: int = Field(40, ge=1, description="GRPO steps per run (compute='mean').")
    compute: Literal["mean", "sum"] = Field("mean", description="Fixed rollout budget per run, or per env.")
    visits_per_env: float = Field(3.2, gt=0, description="compute='sum': prompt visits per env over the run.")
    threshold: float = Field(0.5, gt=0, lt=1, description="p_inf threshold that defines N*.")
    set: dict[str, Any] = Field(default_factory=dict, description="Extra dotted run-config keys for every point.")
    quick: bool = Field(False, description="Use the quick organism (tests, smoke runs).")
    n_boot: int = Field(2000, ge=100, description="Bootstrap resamples over seeds.")

    @field_validator("priors")
    @classmethod
    def _priors(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("needs at least one prior")
        if any(not 0 < p < 1 for p in v) or len(set(v)) < len(v):
            raise ValueError(f"priors must be distinct values in (0, 1), got {v}")
        return sorted(v)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v or any(s < 0 for s in v) or len(set(v)) < len(v):
            raise ValueError(f"seeds must be distinct non-negative integers (at least one), got {v}")
        return v

    @model_validator(mode="after")
    def _grid(self) -> CriticalDiversityConfig:
        if self.n_values:
            if any(n < 1 for n in self.n_values) or sorted(set(self.n_values)) != self.n_values:
                raise ValueError(f"n_values must be strictly increasing positive integers, got {self.n_values}")
            if len(self.n_values) < 2:
                raise ValueError("n_values: at least two N are needed to locate a crossing")
        return self

    def grid(self) -> list[int]:
        return self.n_values or default_n_values(self.n_max, self.n_points)

    def steps_for(self, n: int, prompts_per_step: int) -> int:
        if self.compute == "mean":
            return self.steps
        return max(1, math.ceil(self.visits_per_env * n / prompts_per_step))


def parse_config(data: dict[str, Any]) -> CriticalDiversityConfig:
    """Validate options; the error names the field and the value."""
    return validated(CriticalDiversityConfig, data, "critical-diversity options")


def _base_config(cfg: Any) -> dict[str, Any]:
    """The run config of ``cfg.base`` ('' = the packaged demo config)."""
    from motivlab.io import read_toml

    if not cfg.base:
        return read_toml(Path(__file__).resolve().parents[1] / "rl" / "demo.toml")
    path = Path(cfg.base).expanduser()
    if not path.is_file():
        raise MotivlabInputError(f"base: run config {cfg.base!r} not found")
    return read_toml(path)


def sweep_spec(cfg: CriticalDiversityConfig) -> Any:
    """The sweep: one named point per N (its steps), crossed with prior × seed."""
    from motivlab.sweep import PointSpec, SweepSpec

    base = _base_config(cfg)
    pps = int(base.get("algorithm", {}).get("prompts_per_step", 16))
    extra = dict(cfg.set)
    if cfg.quick:
        extra["model.quick"] = True
    points = [PointSpec(name=f"n{n:04d}", set={"world.n_train_envs": n, "steps": cfg.steps_for(n, pps)})
              for n in cfg.grid()]
    return SweepSpec(base=base, set=extra, points=points,
                     grid={"model.organism.prior": list(cfg.priors), "seed": list(cfg.seeds)})


def check_grid(cfg: CriticalDiversityConfig) -> None:
    """Every point's config validates (N within the world's train split, known keys) — before writing."""
    from motivlab.models.organism import OrganismConfig, quick_config
    from motivlab.rl.config import build_config
    from motivlab.sweep import prepare

    try:
        points = prepare(sweep_spec(cfg))[2]
    except MotivlabInputError:
        raise
    except ValueError as exc:
        raise MotivlabInputError(str(exc)) from None
    for point in points:
        config = build_config(point.config)
        if config.model.spec != "organism":
            continue
        org = config.model.organism or OrganismConfig()
        world = (quick_config(org) if config.model.quick else org).world
        n_train = world.n_envs - world.n_heldout - world.n_trap
        if (config.world.n_train_envs or 0) > n_train:
            raise MotivlabInputError(f"n_values: world.n_train_envs = {config.world.n_train_envs} exceeds the "
                                     f"organism's training split ({n_train} envs) (point {point.name})")


def config_hash(cfg: BaseModel) -> str:
    return hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def prepare_out(cfg: BaseModel, out: Path, name: str = "experiment.json") -> None:
    """Create ``out`` with the config, or accept it when it holds the same config (resume)."""
    from motivlab.io import write_json

    record = {"config": cfg.model_dump(mode="json"), "hash": config_hash(cfg)}
    path = out / name
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("hash") != record["hash"]:
            raise MotivlabInputError(f"{out} holds an experiment with other options ({path}); use a new --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, record)


def run_critical_diversity(cfg: CriticalDiversityConfig, out: str | Path, *, workers: int = 1,
                           progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the sweep in ``out/sweep`` and write the analysis; returns the summary."""
    from motivlab.sweep import run_sweep

    out = Path(out)
    check_grid(cfg)  # validate everything before the first file is written
    prepare_out(cfg, out)
    t0 = time.perf_counter()
    table = run_sweep(sweep_spec(cfg), out / "sweep", workers=workers, progress=progress)
    wall = time.perf_counter() - t0
    return analyse(table, cfg, out, sweep_dir=out / "sweep", extra={"sweep_wall_seconds": wall, "workers": workers})


# ---------------------------------------------------------------------------------------------
# analysis


def _run_rows(table: Any, sweep_dir: Path, cfg: CriticalDiversityConfig) -> Any:
    """One row per finished run: knobs, p_inf per split, undeclared share, env spread of p."""
    import pandas as pd

    n_of = {f"n{n:04d}": n for n in cfg.grid()}
    rows = []
    for d in table.to_dict(orient="records"):
        if d["status"] != "done":
            continue
        run_dir = sweep_dir / d["run_dir"]
        m = pd.read_parquet(run_dir / "metrics.parquet")
        overall = m[(m["env_id"] == -1) & (m["split"] == "train")]
        n_roll = overall["n_rollouts"].sum()
        per_env = m[(m["env_id"] >= 0) & (m["split"] == "train") & m["p_exact"].notna()]
        last = per_env[per_env["step"] == per_env["step"].max()]
        rows.append({
            "point": d["point"], "prior": float(d["model.organism.prior"]), "n": n_of[d["arm"]], "seed": int(d["seed"]),
            "steps": int(d["last_step"]), "p0": float(d["p0_train"]), "p_inf": float(d["p_train"]),
            "p_inf_heldout": float(d["p_heldout"]), "p_inf_trap": float(d["p_trap"]),
            "s_r_end": float(d["s_r_train"]), "s_l_end": float(d["s_l_train"]),
            "undeclared_share": float(overall["n_unknown"].sum() / n_roll) if n_roll else float("nan"),
            "p_env_sd": float(last["p_exact"].std(ddof=0)) if len(last) > 1 else float("nan"),
            "logit_p_env_sd": float(np.std(np.log(np.clip(last["p_exact"], 1e-4, 1 - 1e-4)
                                                  / (1 - np.clip(last["p_exact"], 1e-4, 1 - 1e-4))))),
            "n_envs_measured": len(last), "wall_seconds": float(d["wall_seconds"]),
            "run_dir": str(run_dir),
        })
    return pd.DataFrame(rows)


def measured_n_star(runs: Any, cfg: CriticalDiversityConfig, *, column: str = "p_inf") -> tuple[Any, Any, dict]:
    """Per-prior curves and N* (with bootstrap), and the slope of log N* vs log p0 (if defined)."""
    import pandas as pd

    from motivlab.experiments.crossing import bootstrap_crossing, loglog_slope

    curves = (runs.groupby(["prior", "n"])[column].agg(["mean", "std", "min", "max", "count"]).reset_index()
              .rename(columns={"mean": "p_inf_mean", "std": "p_inf_sd", "min": "p_inf_min", "max": "p_inf_max",
                               "count": "n_seeds"}))
    rows, draws = [], {}
    for prior, g in runs.groupby("prior"):
        ns = np.sort(g["n"].unique())
        seeds = [g.loc[g["n"] == n, column].to_numpy(float) for n in ns]
        boot = bootstrap_crossing(ns, seeds, threshold=cfg.threshold, n_boot=cfg.n_boot, seed=0)
        c = boot["n_star"]
        draws[prior] = boot["draws"]
        rows.append({"prior": prior, "p0_measured": float(g["p0"].mean()), "n_star": c.value, "kind": c.kind,
                     "n_star_text": c.text(), "ci_low": boot["ci_low"], "ci_high": boot["ci_high"],
                     "frac_resamples_crossing": boot["frac_number"], "n_min": float(ns[0]), "n_max": float(ns[-1])})
    table = pd.DataFrame(rows)
    slope: dict[str, Any] = {"defined": False}
    ok = table[table["kind"] == "crossing"]
    if len(ok) >= 2:
        s = loglog_slope(ok["p0_measured"].to_numpy(), np.array([draws[p] for p in ok["prior"]]),
                         ok["n_star"].to_numpy())
        slope = {"defined": True, **s, "priors_used": ok["prior"].tolist()}
    else:
        slope["reason"] = f"only {len(ok)} prior(s) cross {cfg.threshold} inside the N range"
    return curves, table, slope


def analyse(table: Any, cfg: CriticalDiversityConfig, out: Path, *, sweep_dir: Path,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Tables, figures, summary.json and report.html from a finished sweep table."""
    from motivlab.experiments.figures import plot_n_star, plot_p_inf_curves
    from motivlab.io import run_metadata, write_json, write_table
    from motivlab.report.html import HtmlReport, save_figure

    runs = _run_rows(table, sweep_dir, cfg)
    if runs.empty:
        raise MotivlabInputError(f"no finished runs in {sweep_dir} (see its sweep.parquet for errors)")
    curves, n_star, slope = measured_n_star(runs, cfg)
    write_table(runs, out / "runs.parquet")
    write_table(curves, out / "curves.parquet")
    write_table(n_star, out / "n_star.parquet")
    fig_curves = save_figure(plot_p_inf_curves(runs, n_star, threshold=cfg.threshold), out / "figures" / "p_inf_vs_n.png")
    fig_nstar = save_figure(plot_n_star(n_star, slope), out / "figures" / "n_star_vs_p0.png")
    failed = int((table["status"] != "done").sum())
    summary = {
        "experiment": "critical-diversity", "config": cfg.model_dump(mode="json"), "n_grid": cfg.grid(),
        "compute": {"mode": cfg.compute, "meaning": "fixed rollout budget per run (normalize='mean')" if cfg.compute
                    == "mean" else "fixed prompt visits per env (normalize='sum')"},
        "n_star": n_star.drop(columns=[]).to_dict(orient="records"), "slope": slope,
        "runs_done": len(runs), "runs_failed": failed,
        "p_inf_definition": "mean exact p over the training envs measured exactly at the last step",
        **(extra or {}), "metadata": run_metadata(None),
    }
    write_json(out / "summary.json", summary)
    report = HtmlReport("Critical diversity, measured", f"{len(runs)} runs; compute = {cfg.compute}")
    report.heading("N*(p0)").table(n_star, "N* per prior: where the seed-mean p_inf crosses the threshold "
                                   "(interval: bootstrap over seeds; ≤ / > = a bound, not a number)")
    slope_text = (f"slope of log N* vs log p0: {slope['slope']:.2f} [{slope['ci_low']:.2f}, {slope['ci_high']:.2f}]"
                  if slope["defined"] else f"slope undefined: {slope['reason']}")
    report.text(slope_text).figure(fig_nstar, "N*(p0), log-log, with the fitted slope")
    report.heading("p_inf(N)").figure(fig_curves, "every seed (points) and the seed mean (lines) per prior")
    report.table(curves, "p_inf per prior and N")
    report.heading("Runs").table(runs.drop(columns=["run_dir"]), "one row per run", max_rows=200)
    report.write(out / "report.html")
    return summary
