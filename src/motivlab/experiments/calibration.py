"""Calibrate the behavioural-selection model on short runs at several N, and predict ``p_T(N, p0)``.

Why a joint mean-field fit rather than one ``theory fit`` per run: the loop needs *one*
parameter set that explains runs at different ``N`` (that is what makes ``N`` a prediction), and
each run has its own training set. The homogeneous reduction (theory.md) is exactly that model:
with identical envs, a trained env's latents move by ``α_k ((1 − c_k)/N + c_k) g_k`` per RL step
(the fixed-batch ``normalize="mean"`` convention: a GRPO step averages over its batch, and each
of the N envs is a 1/N share of it), and a held-out env — trained on by nobody — by ``α_k c_k g_k``
(transfer only). Held-out envs are what separate ``α`` from ``c``; runs at several ``N`` do so again.

Fitted: ``log α`` (3), ``c`` (3, boxed in [0, 1]) and, per run, the initial logits of the mean
trained and mean held-out env (6). Data: per run, step and split the mean over the exactly
measured envs of ``logit(clip(q))`` for ``q ∈ {p, sR, sL}`` — teacher-forced, no sampling noise.
Residuals are unweighted logits (the across-env spread, not measurement noise, dominates).
Uncertainty: ``cov = s² (JᵀJ)⁻¹`` in the optimised parameters; predictions carry it by drawing
parameter sets from that Gaussian (clipped to the box) and recomputing every curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import logit

from motivlab.errors import MotivlabInputError
from motivlab.theory.fit.forward import final_propensity
from motivlab.theory.homogeneous.model import reward_gradients

__all__ = ["Calibration", "calibration_data", "fit_calibration", "predict_p_final"]

CLIP = 1e-3
QUANTS = ("p_exact", "s_r_exact", "s_l_exact")
GLOBAL_NAMES = ("alpha_z", "alpha_x", "alpha_y", "c_z", "c_x", "c_y")


def calibration_data(run_dirs: list[Path], n_train: list[int], max_step: int | None = None) -> pd.DataFrame:
    """Tidy table ``run, n, step, split, quantity, logit, n_envs`` from the runs' exact measurements.

    Only steps ``≤ max_step`` (the calibration window) and the train / held-out splits are read.
    """
    rows = []
    for r, (run_dir, n) in enumerate(zip(run_dirs, n_train, strict=True)):
        path = Path(run_dir) / "metrics.parquet"
        if not path.exists():
            raise MotivlabInputError(f"calibration run {run_dir}: no metrics.parquet")
        m = pd.read_parquet(path)
        m = m[(m["env_id"] >= 0) & m["split"].isin(["train", "heldout"]) & m["p_exact"].notna()]
        if max_step is not None:
            m = m[m["step"] <= max_step]
        for (step, split), g in m.groupby(["step", "split"]):
            for q in QUANTS:
                v = logit(np.clip(g[q].to_numpy(float), CLIP, 1 - CLIP))
                rows.append({"run": r, "run_dir": str(run_dir), "n": int(n), "step": int(step), "split": split,
                             "quantity": q, "logit": float(np.mean(v)), "n_envs": len(v)})
    if not rows:
        raise MotivlabInputError("calibration runs hold no exact measurements (measure.exact_every)")
    return pd.DataFrame(rows)


def simulate_mean_field(theta: np.ndarray, n: np.ndarray, steps: np.ndarray, substeps: int) -> np.ndarray:
    """Latents (R, T, 2, 3) at integer ``steps`` for R runs: [trained, held-out] × [z, x, y]."""
    alpha = np.exp(theta[:3])
    c = np.clip(theta[3:6], 0.0, 1.0)
    init = theta[6:].reshape(-1, 2, 3)  # (R, 2, 3)
    own = alpha * ((1.0 - c)[None, :] / n[:, None] + c[None, :])  # (R, 3)
    transfer = np.broadcast_to(alpha * c, own.shape)
    state = init.copy()
    out = np.empty((len(n), len(steps), 2, 3))
    dt = 1.0 / substeps
    t = 0
    for k, s in enumerate(steps):
        for _ in range((int(s) - t) * substeps):
            g = np.stack(reward_gradients(state[:, 0, 0], state[:, 0, 1], state[:, 0, 2]), axis=1)  # (R, 3)
            state = state + dt * np.stack([own * g, transfer * g], axis=1)
        t = int(s)
        out[:, k] = state
    return out


@dataclass
class Calibration:
    """The fitted model: parameters, covariance, data, residuals, and what predicted it."""

    theta: np.ndarray
    cov: np.ndarray
    names: list[str]
    data: pd.DataFrame
    residual_rms: float
    converged: bool
    message: str
    substeps: int
    discretisation_error: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def alpha(self) -> np.ndarray:
        return np.exp(self.theta[:3])

    @property
    def c(self) -> np.ndarray:
        return np.clip(self.theta[3:6], 0.0, 1.0)

    def stderr(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    def parameters(self) -> dict[str, dict[str, float]]:
        """Natural-scale estimates of the global parameters with 95 % intervals (delta on log α)."""
        se = self.stderr()
        out = {}
        for i, name in enumerate(GLOBAL_NAMES):
            est, s = self.theta[i], se[i]
            if i < 3:
                out[name] = {"estimate": float(np.exp(est)), "ci_low": float(np.exp(est - 1.96 * s)),
                             "ci_high": float(np.exp(est + 1.96 * s)), "stderr_log": float(s)}
            else:
                out[name] = {"estimate": float(np.clip(est, 0, 1)), "ci_low": float(np.clip(est - 1.96 * s, 0, 1)),
                             "ci_high": float(np.clip(est + 1.96 * s, 0, 1)), "stderr": float(s)}
        return out

    def draws(self, n_draws: int, seed: int = 0) -> np.ndarray:
        """Parameter sets (n_draws, 6) of the globals from the Gaussian at the estimate."""
        rng = np.random.default_rng(seed)
        k = len(GLOBAL_NAMES)
        cov = self.cov[:k, :k]
        if not np.all(np.isfinite(cov)):
            cov = np.diag(np.where(np.isfinite(np.diag(cov)), np.diag(cov), 1.0))
        w, v = np.linalg.eigh(0.5 * (cov + cov.T))  # symmetric square root; round-off negatives → 0
        d = self.theta[:k] + rng.standard_normal((n_draws, k)) @ (v * np.sqrt(np.clip(w, 0.0, None))).T
        d[:, 3:6] = np.clip(d[:, 3:6], 0.0, 1.0)
        return d

    def fitted_table(self) -> pd.DataFrame:
        """Observed vs fitted mean logits (the calibration figure's data)."""
        return _fitted(self.theta, self.data, self.substeps)


def _fitted(theta: np.ndarray, data: pd.DataFrame, substeps: int) -> pd.DataFrame:
    runs = np.sort(data["run"].unique())
    n = np.array([data.loc[data["run"] == r, "n"].iloc[0] for r in runs], float)
    steps = np.sort(data["step"].unique())
    lat = simulate_mean_field(theta, n, steps, substeps)
    ri = np.searchsorted(runs, data["run"].to_numpy())
    ti = np.searchsorted(steps, data["step"].to_numpy())
    si = (data["split"] == "heldout").to_numpy().astype(int)
    qi = data["quantity"].map({q: i for i, q in enumerate(QUANTS)}).to_numpy()
    pred = np.clip(lat[ri, ti, si, qi], logit(CLIP), logit(1 - CLIP))
    out = data.copy()
    out["fitted"] = pred
    out["residual"] = out["logit"] - pred
    return out


def fit_calibration(data: pd.DataFrame, *, substeps: int = 4) -> Calibration:
    """Least-squares fit of the mean-field model to :func:`calibration_data`'s table."""
    runs = np.sort(data["run"].unique())
    init = []
    for r in runs:
        d = data[data["run"] == r]
        first = d[d["step"] == d["step"].min()]
        for split in ("train", "heldout"):
            for q in QUANTS:
                v = first.loc[(first["split"] == split) & (first["quantity"] == q), "logit"]
                if v.empty:  # a split that was not measured: start at the train value (it has no residuals)
                    v = first.loc[(first["split"] == "train") & (first["quantity"] == q), "logit"]
                init.append(float(v.iloc[0]))
    init = np.array(init)
    best = None
    for log_a in (-3.0, -1.5, 0.0):
        for c0 in (0.2, 0.8):
            theta0 = np.concatenate([[log_a] * 3, [c0] * 3, init])
            lo = np.concatenate([[-12.0] * 3, [0.0] * 3, [-15.0] * len(init)])
            hi = np.concatenate([[4.0] * 3, [1.0] * 3, [15.0] * len(init)])
            res = least_squares(lambda th: _fitted(th, data, substeps)["residual"].to_numpy(), theta0,
                                bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=400)
            if best is None or res.cost < best.cost:
                best = res
    resid = best.fun
    dof = max(1, resid.size - best.x.size)
    s2 = float(resid @ resid) / dof
    jtj = best.jac.T @ best.jac
    try:
        cov = s2 * np.linalg.pinv(jtj)
    except np.linalg.LinAlgError:
        cov = np.full((best.x.size, best.x.size), np.inf)
    fine = _fitted(best.x, data, substeps * 4)["fitted"].to_numpy()
    coarse = _fitted(best.x, data, substeps)["fitted"].to_numpy()
    return Calibration(theta=best.x, cov=cov, names=list(GLOBAL_NAMES), data=data,
                       residual_rms=float(np.sqrt(np.mean(resid**2))), converged=bool(best.success),
                       message=str(best.message), substeps=substeps,
                       discretisation_error=float(np.max(np.abs(fine - coarse))))


def predict_p_final(globals_: np.ndarray, n: np.ndarray, p0: float, s_r0: float, s_l0: float,
                    horizon: float) -> np.ndarray:
    """``p`` after ``horizon`` RL steps at each ``N`` (fixed batch, ``normalize="mean"``).

    ``globals_`` (6,) or (D, 6): ``log α`` (3) and ``c`` (3); returns (len(n),) or (D, len(n)).
    """
    g = np.atleast_2d(np.asarray(globals_, float))
    n = np.asarray(n, float)
    alpha = np.exp(g[:, None, :3])  # (D, 1, 3)
    c = np.clip(g[:, None, 3:6], 0.0, 1.0)
    mult = alpha * ((1.0 - c) / n[None, :, None] + c)  # (D, K, 3)
    lat0 = np.broadcast_to(np.array([logit(p0), logit(s_r0), logit(s_l0)]), mult.shape)
    p = final_propensity(lat0.reshape(-1, 3), mult.reshape(-1, 3), float(horizon)).reshape(mult.shape[:2])
    return p[0] if np.ndim(globals_) == 1 else p

