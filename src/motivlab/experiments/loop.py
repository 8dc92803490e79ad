"""``motivlab experiment loop``: calibrate the theory, predict N*(p0), *then* verify it on the organism.

The protocol, in four phases, each resumable (a rerun skips what is done):

1. **calibrate** — short GRPO runs of the calibration organism (the default prior) at a few N,
   each only the first ``calibration_fraction`` of the verification's steps, measured exactly at
   every step; the mean-field model of :mod:`motivlab.experiments.calibration` is fitted to them.
   Nothing else enters the fit.
2. **predict** — for every prior of the verification, the organism's measured starting point
   (exact, whole training split) and the fitted parameters give the predicted ``p_T(N)`` at the
   verification horizon (fixed batch, ``normalize="mean"``) and ``N*``; intervals from parameter
   draws. Written to ``prediction.json`` (fitted parameters, covariance, the exact calibration
   data, the verification plan, a timestamp and a sha256 content hash), created exclusively and
   made read-only: it is never rewritten.
3. **verify** — the critical-diversity sweep (:mod:`motivlab.experiments.critical_diversity`). It
   refuses to start without a ``prediction.json`` whose hash checks and whose plan is this
   verification's.
4. **compare** — :mod:`motivlab.experiments.loop_compare`: predicted vs measured N*, slope, curves,
   and the model's assumptions checked against the verification data.

Optionally (``scale_none``) a second verification arm at the calibration prior with GRPO's
per-group std scaling off (``algorithm.scale_rewards = "none"``) — measured, not predicted.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, field_validator

from motivlab.errors import MotivlabInputError
from motivlab.experiments.critical_diversity import CriticalDiversityConfig, config_hash
from motivlab.validation import config_rules, validated

__all__ = ["DEMO_LOOP", "LoopConfig", "calibrate", "parse_loop_config", "predict", "read_prediction", "run_demo_loop", "run_loop", "verify"]

PREDICTION = "prediction.json"


class LoopConfig(BaseModel):
    """Options of the loop; ``verification`` is the critical-diversity experiment it predicts."""

    model_config = config_rules()

    verification: CriticalDiversityConfig = Field(default_factory=CriticalDiversityConfig)
    calibration_prior: float = Field(0.05, gt=0, lt=1, description="Organism prior of the calibration runs.")
    calibration_n: list[int] = Field([2, 16, 200], description="N of the calibration runs.")
    calibration_seeds: list[int] = Field([100], description="Seeds of the calibration runs (not the verification's).")
    calibration_fraction: float = Field(0.25, gt=0, le=1, description="Calibration runs take this share of the steps.")
    n_draws: int = Field(300, ge=20, le=5000, description="Parameter draws for the prediction intervals.")
    scale_none: bool = Field(True, description="Also verify at the calibration prior with scale_rewards='none'.")

    @field_validator("calibration_n")
    @classmethod
    def _cal_n(cls, v: list[int]) -> list[int]:
        if len(v) < 2 or any(n < 1 for n in v) or sorted(set(v)) != v:
            raise ValueError(f"calibration_n needs at least two strictly increasing positive N, got {v}")
        return v

    @field_validator("calibration_seeds")
    @classmethod
    def _cal_seeds(cls, v: list[int]) -> list[int]:
        if not v or any(s < 0 for s in v) or len(set(v)) < len(v):
            raise ValueError(f"calibration_seeds must be distinct non-negative integers, got {v}")
        return v

    def calibration_steps(self) -> int:
        return max(2, round(self.verification.steps * self.calibration_fraction))

    def calibration_cd(self) -> CriticalDiversityConfig:
        """The calibration runs as a (short, dense) critical-diversity sweep at one prior."""
        v = self.verification
        extra = {**v.set, "measure.exact_every": 1}
        return v.model_copy(update={"priors": [self.calibration_prior], "n_values": list(self.calibration_n),
                                    "seeds": list(self.calibration_seeds), "steps": self.calibration_steps(),
                                    "compute": "mean", "set": extra})

    def scale_none_cd(self) -> CriticalDiversityConfig:
        v = self.verification
        return v.model_copy(update={"priors": [self.calibration_prior],
                                    "set": {**v.set, "algorithm.scale_rewards": "none"}})


def parse_loop_config(data: dict[str, Any]) -> LoopConfig:
    return validated(LoopConfig, data, "loop options")


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=float).encode()


# ---------------------------------------------------------------------------------------------
# 1. calibrate


def calibrate(cfg: LoopConfig, out: Path, *, workers: int = 1, progress: bool = True) -> Any:
    """Run (or reuse) the calibration sweep and fit the model; writes ``calibration/``."""
    from motivlab.experiments.calibration import calibration_data, fit_calibration
    from motivlab.experiments.critical_diversity import prepare_out, sweep_spec
    from motivlab.experiments.figures import plot_calibration
    from motivlab.io import write_table
    from motivlab.report.html import save_figure
    from motivlab.sweep import run_sweep

    cal_cfg = cfg.calibration_cd()
    cal_dir = out / "calibration"
    prepare_out(cal_cfg, cal_dir)
    table = run_sweep(sweep_spec(cal_cfg), cal_dir / "sweep", workers=workers, progress=progress)
    done = table[table["status"] == "done"]
    if len(done) < 2:
        raise MotivlabInputError(f"calibration: {len(done)} of {len(table)} runs finished; see {cal_dir}/sweep")
    n_of = {f"n{n:04d}": n for n in cal_cfg.grid()}
    run_dirs = [cal_dir / "sweep" / r for r in done["run_dir"]]
    data = calibration_data(run_dirs, [n_of[a] for a in done["arm"]], max_step=cal_cfg.steps)
    cal = fit_calibration(data)
    write_table(data, cal_dir / "calibration_data.parquet")
    write_table(cal.fitted_table(), cal_dir / "calibration_fit.parquet")
    save_figure(plot_calibration(cal.fitted_table()), out / "figures" / "calibration.png")
    return cal


# ---------------------------------------------------------------------------------------------
# 2. predict


def organism_start(cfg: CriticalDiversityConfig, prior: float) -> dict[str, float]:
    """The organism of ``prior`` measured exactly on its whole training split, before any RL:
    mean p, sR, sL and the mean logits the mean-field model starts from."""
    from scipy.special import expit, logit

    from motivlab.experiments.critical_diversity import sweep_spec
    from motivlab.measure.exact import measure_exact
    from motivlab.models.loading import load_causal_lm
    from motivlab.models.organism import load_organism_world
    from motivlab.models.pretrain import ensure_organism
    from motivlab.rl.config import build_config
    from motivlab.sweep import prepare

    one = cfg.model_copy(update={"priors": [prior], "seeds": cfg.seeds[:1], "n_values": cfg.grid()[:2]})
    point = prepare(sweep_spec(one))[2][0]
    model_cfg = build_config(point.config).model
    model_dir = ensure_organism(model_cfg.organism, quick=model_cfg.quick, progress=False)
    model, tok = load_causal_lm(model_dir)
    world = load_organism_world(model_dir)
    m = measure_exact(model, tok, world, list(world.env_ids("train")))
    out = {"prior": prior, "organism_dir": str(model_dir), "n_envs": len(m)}
    for q, col in (("p", "p"), ("s_r", "s_r"), ("s_l", "s_l")):
        v = np.clip(m[col].to_numpy(float), 1e-3, 1 - 1e-3)
        out[f"{q}0_mean"] = float(v.mean())
        out[f"{q}0_logit_mean"] = float(np.mean(logit(v)))
        out[f"{q}0_effective"] = float(expit(np.mean(logit(v))))
    return out


def predict(cfg: LoopConfig, out: Path, cal: Any) -> dict[str, Any]:
    """Write ``prediction.json`` (exclusively, read-only) unless it exists; return its content."""
    from motivlab.experiments.calibration import predict_p_final
    from motivlab.experiments.crossing import crossing, loglog_slope
    from motivlab.io import run_metadata, write_table

    path = out / PREDICTION
    if path.exists():
        return read_prediction(out, cfg)
    v = cfg.verification
    horizon = float(v.steps)
    if v.compute != "mean":
        raise MotivlabInputError("loop: the prediction is made for compute='mean' (fixed rollout budget per run)")
    n_fine = np.geomspace(1, max(v.grid()) * 4, 81)
    draws = cal.draws(cfg.n_draws, seed=0)
    starts, curves, per_prior, star_draws = [], [], [], []
    for prior in v.priors:
        s = organism_start(v, prior)
        starts.append(s)
        # the mean-field model lives in mean-logit space (as its calibration data): start there
        args = (s["p0_effective"], s["s_r0_effective"], s["s_l0_effective"], horizon)
        point = predict_p_final(cal.theta[:6], n_fine, *args)
        band = predict_p_final(draws, n_fine, *args)  # (D, K)
        lo, hi = np.quantile(band, [0.025, 0.975], axis=0)
        curves += [{"prior": prior, "p0": s["p0_mean"], "n": float(n), "p_pred": float(a), "p_lo": float(b),
                    "p_hi": float(c)} for n, a, b, c in zip(n_fine, point, lo, hi, strict=True)]
        c0 = crossing(n_fine, point, v.threshold)
        cd = [crossing(n_fine, row, v.threshold) for row in band]
        vals = np.array([c.value for c in cd])
        star_draws.append(vals)
        per_prior.append({"prior": prior, "p0": s["p0_mean"], "n_star": c0.value, "kind": c0.kind,
                          "n_star_text": c0.text(), "ci_low": float(np.quantile(vals, 0.025)),
                          "ci_high": float(np.quantile(vals, 0.975)),
                          "frac_draws_crossing": float(np.mean([c.is_number for c in cd]))})
    slope: dict[str, Any] = {"defined": False}
    if len(per_prior) >= 2 and all(r["kind"] == "crossing" for r in per_prior):
        slope = {"defined": True, **loglog_slope(np.array([r["p0"] for r in per_prior]), np.array(star_draws),
                                                 np.array([r["n_star"] for r in per_prior]))}
    content = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "protocol": {"calibration": cfg.calibration_cd().model_dump(mode="json"),
                     "calibration_window_steps": cfg.calibration_steps(),
                     "model": "homogeneous mean-field, fixed batch (normalize='mean'), fitted on the calibration "
                              "window only; held-out envs receive transfer only",
                     "horizon_steps": horizon, "threshold": v.threshold,
                     "n_star_definition": "first crossing of the threshold by p_T(N), interpolated in log N"},
        "verification_plan": {"config": v.model_dump(mode="json"), "hash": config_hash(v)},
        "fit": {"parameters": cal.parameters(), "theta": cal.theta.tolist(), "covariance": cal.cov.tolist(),
                "residual_rms_logit": cal.residual_rms, "converged": cal.converged, "message": cal.message,
                "discretisation_error_logit": cal.discretisation_error},
        "data_used": cal.data.to_dict(orient="records"),
        "organisms": starts,
        "predictions": {"n_star": per_prior, "slope": slope,
                        "curve_file": "predicted_curves.parquet (also in 'curves' below)", "curves": curves},
        "metadata": run_metadata(None),
    }
    content["content_sha256"] = hashlib.sha256(_canonical(content)).hexdigest()
    import pandas as pd

    write_table(pd.DataFrame(curves), out / "predicted_curves.parquet")
    tmp = out / f".{PREDICTION}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(content, indent=1, default=float))
    try:
        os.link(tmp, path)  # exclusive: fails if a prediction already exists
    finally:
        tmp.unlink()
    os.chmod(path, 0o444)
    return content


def read_prediction(out: Path, cfg: LoopConfig | None = None) -> dict[str, Any]:
    """``prediction.json``, checked: present, hash intact, and (given ``cfg``) made for this plan."""
    path = Path(out) / PREDICTION
    if not path.is_file():
        raise MotivlabInputError(f"{path}: no prediction — verification refuses to start before the loop's "
                                 "predict phase has written it (run --phase predict first)")
    content = json.loads(path.read_text())
    stored = content.pop("content_sha256", None)
    if stored != hashlib.sha256(_canonical(content)).hexdigest():
        raise MotivlabInputError(f"{path}: content hash does not match — the prediction was altered; refusing")
    content["content_sha256"] = stored
    if cfg is not None and content["verification_plan"]["hash"] != config_hash(cfg.verification):
        raise MotivlabInputError(f"{path}: made for another verification plan "
                                 f"({content['verification_plan']['config']}); use a new --out")
    return content


# ---------------------------------------------------------------------------------------------
# 3. verify, and the whole loop


def verify(cfg: LoopConfig, out: Path, *, workers: int = 1, progress: bool = True) -> dict[str, Any]:
    """The verification sweep(s); refuses without a valid prediction for this plan."""
    from motivlab.experiments.critical_diversity import run_critical_diversity

    prediction = read_prediction(out, cfg)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    result = {"started_utc": started, "prediction_created_utc": prediction["created_utc"]}
    t0 = time.perf_counter()
    result["main"] = run_critical_diversity(cfg.verification, out / "verification", workers=workers, progress=progress)
    if cfg.scale_none:
        result["scale_none"] = run_critical_diversity(cfg.scale_none_cd(), out / "verification_scale_none",
                                                      workers=workers, progress=progress)
    result["wall_seconds"] = time.perf_counter() - t0
    return result


def run_loop(cfg: LoopConfig, out: str | Path, *, phase: str = "all", workers: int = 1,
             progress: bool = True) -> dict[str, Any]:
    """Run the loop's phases up to ``phase`` (calibrate, predict, verify, compare, or all)."""
    from motivlab.experiments.critical_diversity import check_grid, prepare_out

    phases = ("calibrate", "predict", "verify", "compare", "all")
    if phase not in phases:
        raise MotivlabInputError(f"--phase must be one of {', '.join(phases)}, got {phase!r}")
    out = Path(out)
    check_grid(cfg.verification)
    check_grid(cfg.calibration_cd())
    if phase == "verify":  # refuse before anything is written
        read_prediction(out, cfg)
    prepare_out(cfg, out, name="loop.json")
    timings: dict[str, float] = {}
    cal = None
    if phase in ("calibrate", "predict", "all") and not (out / PREDICTION).exists():
        t0 = time.perf_counter()
        cal = calibrate(cfg, out, workers=workers, progress=progress)
        timings["calibrate_s"] = time.perf_counter() - t0
    if phase == "calibrate":
        return {"phase": phase, "timings": timings}
    if phase in ("predict", "all"):
        t0 = time.perf_counter()
        prediction = predict(cfg, out, cal) if cal is not None else read_prediction(out, cfg)
        timings["predict_s"] = time.perf_counter() - t0
        if phase == "predict":
            return {"phase": phase, "prediction": prediction["predictions"]["n_star"], "timings": timings}
    verification = None
    if phase in ("verify", "all"):
        verification = verify(cfg, out, workers=workers, progress=progress)
        timings["verify_s"] = verification["wall_seconds"]
        if phase == "verify":
            return {"phase": phase, "timings": timings}
    from motivlab.experiments.loop_compare import compare

    return compare(cfg, out, timings=timings, verification=verification)


# ---------------------------------------------------------------------------------------------
# motivlab demo --loop

DEMO_LOOP = {
    "verification": {"priors": [0.05, 0.2], "n_values": [1, 3, 10, 30], "seeds": [0, 1], "steps": 30, "n_boot": 500},
    "calibration_n": [2, 16, 200], "calibration_fraction": 0.25, "scale_none": False, "n_draws": 200,
}
"""The reduced loop of ``motivlab demo --loop``: 2 priors × 4 N × 2 seeds of 30 steps, 3 calibration
runs of 8 steps — about 20 short runs, under 15 minutes on 2 cores including one extra organism."""


def run_demo_loop(out: Path, overrides: list[str]) -> dict[str, Any]:
    """Run :data:`DEMO_LOOP` (``--set`` overrides join every run's config) and print the verdict."""
    from motivlab.rl.config import parse_override

    data = json.loads(json.dumps(DEMO_LOOP))
    for item in overrides:
        keys, value = parse_override(item)
        data["verification"].setdefault("set", {})[".".join(keys)] = value
    cfg = parse_loop_config(data)
    summary = run_loop(cfg, out, workers=2 if (os.cpu_count() or 1) >= 2 else 1)
    for row in summary["comparison"]:
        print(f"prior {row['prior']:<5} p0 {row['p0_organism']:.3f}  predicted N* {row['n_star_pred']:.3g} "
              f"[{row['pred_ci_low']:.3g}, {row['pred_ci_high']:.3g}]  measured {row['n_star_meas']:.3g} "
              f"[{row['meas_ci_low']:.3g}, {row['meas_ci_high']:.3g}]  {row['verdict']}")
    print(f"target met (N* within 2x for every prior, slope inside the predicted interval): {summary['target_met']}")
    print(f"report: {out / 'report.html'}")
    return summary
