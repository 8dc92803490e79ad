"""The loop's last phase: the prediction against the verification, and the model's assumptions checked.

Reads ``prediction.json`` (never changes it) and the verification directories, and writes
``comparison.parquet`` (per prior: predicted and measured N* with intervals, their ratio),
``assumptions.json`` (numbers for each assumption of the model), figures, ``summary.json`` and
one ``report.html`` with the theory's figures (calibration fit, predicted curves) beside the
organism's (measured curves, N*).

Ratio interval: ``[pred_lo / meas_hi, pred_hi / meas_lo]`` from the two 95 % intervals — a
conservative (wider than joint) interval, stated as such. Where the measured N* is a bound the
ratio is a bound too, and the verdict says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["assumption_checks", "compare", "comparison_table"]


def comparison_table(prediction: dict[str, Any], measured: pd.DataFrame) -> pd.DataFrame:
    """Per prior: predicted vs measured N*, ratio with interval, and whether it is within 2×."""
    pred = pd.DataFrame(prediction["predictions"]["n_star"]).set_index("prior")
    rows = []
    for m in measured.itertuples():
        p = pred.loc[m.prior]
        both = m.kind == "crossing" and p["kind"] == "crossing"
        ratio = p["n_star"] / m.n_star if both else np.nan
        lo = p["ci_low"] / m.ci_high if both else np.nan
        hi = p["ci_high"] / m.ci_low if both else np.nan
        if both:
            verdict = "within 2x" if 0.5 <= ratio <= 2 else ("over-predicted" if ratio > 2 else "under-predicted")
        elif m.kind == "above_range":
            verdict = f"measured N* > {m.n_star:.3g} (bound); predicted {p['n_star_text']}"
        elif m.kind == "below_range":
            verdict = f"measured N* <= {m.n_star:.3g} (bound); predicted {p['n_star_text']}"
        else:
            verdict = f"predicted {p['n_star_text']} (bound); measured {m.n_star:.3g}"
        rows.append({"prior": m.prior, "p0_organism": p["p0"], "p0_runs": m.p0_measured,
                     "n_star_pred": p["n_star"], "pred_kind": p["kind"], "pred_ci_low": p["ci_low"],
                     "pred_ci_high": p["ci_high"], "n_star_meas": m.n_star, "meas_kind": m.kind,
                     "meas_ci_low": m.ci_low, "meas_ci_high": m.ci_high, "ratio_pred_over_meas": ratio,
                     "ratio_ci_low": lo, "ratio_ci_high": hi, "verdict": verdict})
    return pd.DataFrame(rows)


def _trajectory_residuals(theta: np.ndarray, runs: pd.DataFrame, window: int) -> pd.DataFrame:
    """Each verification run against the calibrated model started at the run's own step-0 means:
    residual (observed − model) of the mean logit of p, sR, sL on the training envs, per step."""
    from scipy.special import logit

    from motivlab.experiments.calibration import CLIP, QUANTS, simulate_mean_field

    rows = []
    for r in runs.itertuples():
        m = pd.read_parquet(Path(r.run_dir) / "metrics.parquet")
        m = m[(m["env_id"] >= 0) & m["split"].isin(["train", "heldout"]) & m["p_exact"].notna()]
        means = {}
        for (step, split), g in m.groupby(["step", "split"]):
            means[(int(step), split)] = [float(np.mean(logit(np.clip(g[q], CLIP, 1 - CLIP)))) for q in QUANTS]
        steps = np.array(sorted({s for s, _ in means}))
        if steps.size < 2 or (0, "train") not in means:
            continue
        init = np.array([means[(0, "train")], means.get((0, "heldout"), means[(0, "train")])])
        lat = simulate_mean_field(np.concatenate([theta[:6], init.ravel()]), np.array([float(r.n)]), steps, 4)[0]
        for k, s in enumerate(steps):
            for si, split in enumerate(("train", "heldout")):
                if (s, split) not in means:
                    continue
                for qi, q in enumerate(QUANTS):
                    model = float(np.clip(lat[k, si, qi], logit(CLIP), logit(1 - CLIP)))
                    rows.append({"prior": r.prior, "n": r.n, "seed": r.seed, "step": int(s), "split": split,
                                 "quantity": q, "observed": means[(s, split)][qi], "model": model,
                                 "residual": means[(s, split)][qi] - model, "late": bool(s > window)})
    return pd.DataFrame(rows)


def assumption_checks(prediction: dict[str, Any], runs: pd.DataFrame, window: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """Numbers for each of the model's assumptions (see docs/loop.md for how to read them)."""
    theta = np.asarray(prediction["fit"]["theta"], float)
    resid = _trajectory_residuals(theta, runs, window)
    out: dict[str, Any] = {}
    out["binary_routes"] = {
        "what": "share of sampled rollouts that declared no route (the model has only two)",
        "mean_undeclared_share": float(runs["undeclared_share"].mean()),
        "max_undeclared_share": float(runs["undeclared_share"].max())}
    by_n = runs.groupby("n").agg(p_env_sd=("p_env_sd", "median"), logit_p_env_sd=("logit_p_env_sd", "median"),
                                 p_inf=("p_inf", "median")).reset_index()
    out["scalar_propensity"] = {
        "what": "spread of exact p across the measured training envs at the end of a run (median over runs "
                "per N); one scalar propensity per run means spread ≪ the spread between N",
        "by_n": by_n.to_dict(orient="records"),
        "median_p_env_sd": float(runs["p_env_sd"].median()),
        "spread_of_p_inf_between_n": float(runs.groupby("n")["p_inf"].mean().std(ddof=0))}
    held = runs.dropna(subset=["p_inf_heldout"])
    out["summed_transfer"] = {
        "what": "held-out envs receive transfer only: measured held-out vs training p_inf, and the model's "
                "residual on held-out envs; transfer-probe kernel shape in the 'Transfer probes' section",
        "mean_p_inf_train": float(held["p_inf"].mean()), "mean_p_inf_heldout": float(held["p_inf_heldout"].mean()),
        "heldout_residual_rms_logit": _rms(resid, split="heldout")}
    out["early_vs_late"] = {
        "what": f"RMS residual (logit) of the calibrated model on the verification runs, steps ≤ {window} "
                f"(the calibration window) vs later, training envs",
        "early_rms": _rms(resid, split="train", late=False), "late_rms": _rms(resid, split="train", late=True),
        "by_quantity": {q: {"early": _rms(resid, split="train", late=False, quantity=q),
                            "late": _rms(resid, split="train", late=True, quantity=q)}
                        for q in ("p_exact", "s_r_exact", "s_l_exact")},
        "late_p_bias_by_n": (resid[(resid["split"] == "train") & resid["late"] & (resid["quantity"] == "p_exact")]
                             .groupby("n")["residual"].mean().to_dict() if len(resid) else {})}
    return out, resid


def _rms(resid: pd.DataFrame, *, split: str, late: bool | None = None, quantity: str | None = None) -> float:
    if resid.empty:
        return float("nan")
    sel = resid["split"] == split
    if late is not None:
        sel &= resid["late"] == late
    if quantity is not None:
        sel &= resid["quantity"] == quantity
    v = resid.loc[sel, "residual"].to_numpy(float)
    return float(np.sqrt(np.mean(v**2))) if v.size else float("nan")


def compare(cfg: Any, out: Path, *, timings: dict[str, float] | None = None,
            verification: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the comparison, the assumption checks, the figures, summary.json and report.html."""
    from motivlab.experiments.critical_diversity import measured_n_star
    from motivlab.experiments.figures import plot_n_star, plot_overlay
    from motivlab.experiments.loop import read_prediction
    from motivlab.io import run_metadata, write_json, write_table
    from motivlab.report.html import HtmlReport, save_figure

    out = Path(out)
    prediction = read_prediction(out, cfg)
    vdir = out / "verification"
    if not (vdir / "runs.parquet").is_file():
        from motivlab.errors import MotivlabInputError

        raise MotivlabInputError(f"{vdir}: no verification results yet (run --phase verify)")
    runs = pd.read_parquet(vdir / "runs.parquet")
    _, measured, slope = measured_n_star(runs, cfg.verification)
    table = comparison_table(prediction, measured)
    window = cfg.calibration_steps()
    checks, resid = assumption_checks(prediction, runs, window)
    pslope = prediction["predictions"]["slope"]
    slope_check: dict[str, Any] = {"measured": slope, "predicted": pslope}
    if slope.get("defined") and pslope.get("defined"):
        slope_check["measured_inside_predicted_interval"] = bool(pslope["ci_low"] <= slope["slope"] <= pslope["ci_high"])
    scale_none = None
    if (out / "verification_scale_none" / "runs.parquet").is_file():
        sn = pd.read_parquet(out / "verification_scale_none" / "runs.parquet")
        _, sn_star, _ = measured_n_star(sn, cfg.scale_none_cd())
        main = measured[measured["prior"] == cfg.calibration_prior]
        scale_none = {"n_star_scale_none": sn_star.to_dict(orient="records"),
                      "n_star_default": main.to_dict(orient="records"),
                      "p_inf_by_n_scale_none": sn.groupby("n")["p_inf"].mean().to_dict(),
                      "p_inf_by_n_default": runs[runs["prior"] == cfg.calibration_prior].groupby("n")["p_inf"]
                      .mean().to_dict()}
    write_table(table, out / "comparison.parquet")
    write_table(resid, out / "residuals.parquet")
    write_json(out / "assumptions.json", checks)
    curves = pd.read_parquet(out / "predicted_curves.parquet")
    n_max = runs["n"].max()
    fig_overlay = save_figure(plot_overlay(runs, curves[curves["n"] <= n_max * 1.05],
                                           threshold=cfg.verification.threshold), out / "figures" / "overlay.png")
    pred_pts = table.rename(columns={"p0_organism": "p0", "n_star_pred": "n_star", "pred_ci_low": "ci_low",
                                     "pred_ci_high": "ci_high", "pred_kind": "kind"})[
        ["p0", "n_star", "ci_low", "ci_high", "kind"]]
    fig_nstar = save_figure(plot_n_star(measured, slope, predicted=pred_pts), out / "figures" / "n_star.png")
    within = bool(len(table) and (table["verdict"] == "within 2x").all())
    summary = {"experiment": "loop", "prediction_created_utc": prediction["created_utc"],
               "prediction_sha256": prediction["content_sha256"],
               "verification_started_utc": (verification or {}).get("started_utc"),
               "comparison": table.to_dict(orient="records"), "slope": slope_check,
               "target_met": bool(within and slope_check.get("measured_inside_predicted_interval", False)),
               "assumptions": checks, "grpo_scale_rewards_none": scale_none, "timings": timings or {},
               "fit": {k: prediction["fit"][k] for k in ("parameters", "residual_rms_logit", "converged")},
               "metadata": run_metadata(None)}
    write_json(out / "summary.json", summary)
    rep = HtmlReport("The loop: predicted, then verified", f"prediction written {prediction['created_utc']} "
                     f"(sha256 {prediction['content_sha256'][:12]}); verification after it")
    rep.heading("Predicted vs measured N*").table(table, "ratio interval = [pred_lo/meas_hi, pred_hi/meas_lo] "
                                                  "(conservative)")
    rep.text(json.dumps(slope_check, default=float))
    rep.heading("Theory (fitted before verification) | organism (measured)")
    cal_png = out / "figures" / "calibration.png"
    if cal_png.is_file():
        rep.figure(cal_png, "calibration window: data (points) and fitted mean-field model (lines)")
    rep.figure(fig_overlay, "predicted p_T(N) (dashed, 95 % band) and measured p_inf (points: seeds, line: mean)")
    rep.figure(fig_nstar, "N*(p0): measured (blue) and predicted (red); triangles are bounds")
    rep.heading("Fitted parameters").table(pd.DataFrame(prediction["fit"]["parameters"]).T.reset_index())
    rep.heading("The model's assumptions, checked").code(json.dumps(checks, indent=1, default=float))
    if scale_none:
        rep.heading("GRPO std scaling off (scale_rewards='none')").code(json.dumps(scale_none, indent=1, default=float))
    rep.write(out / "report.html")
    return summary
