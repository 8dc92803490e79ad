"""Levenberg–Marquardt on the normal equations, with robust losses by reweighting.

Why not ``scipy.optimize.least_squares``: its trust-region solver factorises the tall ``M × P``
Jacobian every iteration (an SVD, or hundreds of LSMR mat-vecs). Per iteration, with
single-threaded BLAS, the two cost about the same; on an oversubscribed machine the
multi-threaded SVD of the tall matrix became the bottleneck (12 s per iteration for
15,000 × 156). We also need box constraints on couplings plus a step cap, and got fewer
iterations (``benchmarks/theory_fit.py``: 2.7 s vs 10.7 s for 50 envs × 100 times). Here each
iteration forms the small ``P × P`` matrix ``JᵀWJ`` once and solves damped normal equations for
as many trial steps as needed. Robust losses (scipy's definitions, ``f_scale = 1``) enter as
iteratively reweighted least squares: weights ``ρ'(r²)`` at the current iterate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["LMResult", "levenberg_marquardt"]

# s = r² → (ρ(s), ρ'(s)); the cost is ½ Σ ρ(r²)
_LOSSES: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "linear": lambda s: (s, np.ones_like(s)),
    "soft_l1": lambda s: (2.0 * (np.sqrt(1.0 + s) - 1.0), 1.0 / np.sqrt(1.0 + s)),
    "huber": lambda s: (np.where(s <= 1.0, s, 2.0 * np.sqrt(s) - 1.0), np.where(s <= 1.0, 1.0, 1.0 / np.sqrt(s))),
    "cauchy": lambda s: (np.log1p(s), 1.0 / (1.0 + s)),
}


@dataclass
class LMResult:
    x: np.ndarray  # (P,) solution
    fun: np.ndarray  # (M,) raw residuals at x
    jac: np.ndarray  # (M, P) Jacobian at x, rows scaled by sqrt(ρ'(r²))
    cost: float
    success: bool
    message: str
    nfev: int
    njev: int


def levenberg_marquardt(
    fun: Callable[[np.ndarray], np.ndarray],
    jac: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: np.ndarray,
    *,
    loss: str = "linear",
    max_iter: int = 100,
    ftol: float = 1e-9,
    xtol: float = 1e-9,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    max_step: float = 2.0,
    stall_tol: float = 1e-4,
    stall_window: int = 20,
) -> LMResult:
    """Minimise ``½ Σ ρ(r(x)²)``; ``jac(x)`` returns ``(r(x), J(x))`` so the base residual is reused.

    ``bounds = (lower, upper)``: box constraints, enforced by projecting each trial point.
    ``max_step``: largest change of any parameter in one step (a trust region in θ units).
    ``stall_tol``/``stall_window``: also stop when the cost fell by less than ``stall_tol``
    (relative) over the last ``stall_window`` iterations. Why: in a flat valley (a parameter the
    data barely determine, e.g. a learnability running off with its coupling at 0) LM creeps on
    with per-iteration decreases just above ``ftol`` for hundreds of iterations; the demo run's fit
    went 2005.9 → 2004.2 over 250 iterations. With weights that make the mean squared weighted
    residual ≈ 1 the cost is ≈ M/2, so 1e-4 of it over 20 iterations is a Δχ² of ~0.1·(M/1000),
    far inside any confidence region: any point of such a valley fits equally well, and the
    covariance's identifiability check then says which parameters move along it.
    """
    lower, upper = bounds if bounds is not None else (-np.inf, np.inf)
    rho = _LOSSES[loss]
    x = np.clip(np.asarray(x0, dtype=float), lower, upper)
    lam, nfev, njev = 1e-3, 0, 0
    message, success = "maximum number of iterations reached", False
    history: list[float] = []
    for _ in range(max_iter):
        r, J = jac(x)
        njev += 1
        val, w = rho(r**2)
        cost = 0.5 * float(val.sum())
        Jw = _scale_rows(J, np.sqrt(w))
        H = Jw.T @ Jw  # (P, P); J may be a scipy sparse matrix
        H = H.toarray() if sparse.issparse(H) else H
        g = np.asarray(J.T @ (w * r)).ravel()
        # Residual RMS below ~1e-8 logit is beyond any measurement: call it an exact fit.
        if cost <= 1e-16 * len(r) or np.max(np.abs(g), initial=0.0) <= 1e-14 * max(1.0, float(np.abs(H).max())):
            message, success = "gradient vanishes (exact fit or no information)", True
            break
        diag = np.maximum(np.diag(H), 1e-12 * max(1.0, float(np.diag(H).max())))
        while True:
            try:
                step = -np.linalg.solve(H + lam * np.diag(diag), g)
            except np.linalg.LinAlgError:
                step = np.full_like(x, np.nan)
            # Trust-region cap: Marquardt scaling makes steps scale-free, so a parameter with a tiny
            # gradient (a learnability whose latent barely moves) could jump to log α = -10⁴.
            step *= min(1.0, max_step / max(float(np.max(np.abs(step), initial=0.0)), 1e-300))
            trial = np.clip(x + step, lower, upper)
            step = trial - x
            r_new = fun(trial) if np.all(np.isfinite(step)) else np.full_like(r, np.nan)
            nfev += 1
            new_cost = 0.5 * float(rho(r_new**2)[0].sum()) if np.all(np.isfinite(r_new)) else np.inf
            if new_cost < cost:
                lam = max(lam / 3.0, 1e-12)
                break
            lam *= 4.0
            if lam > 1e12:
                break
        if lam > 1e12:
            message, success = "no further decrease (damping limit): a local minimum", True
            break
        x = trial
        if cost - new_cost <= ftol * cost:
            message, success = "relative cost decrease below ftol", True
            break
        if np.max(np.abs(step) / (xtol + np.abs(x))) <= xtol:
            message, success = "step size below xtol", True
            break
        history.append(new_cost)
        if len(history) > stall_window and history[-stall_window - 1] - new_cost <= stall_tol * history[-stall_window - 1]:
            message, success = (f"cost stalled (relative decrease < {stall_tol:g} over {stall_window} iterations: a flat "
                                "valley; see identified / stderr)"), True
            break
    r, J = jac(x)
    val, w = rho(r**2)
    return LMResult(x, r, _scale_rows(J, np.sqrt(w)), 0.5 * float(val.sum()), success, message, nfev, njev + 1)


def _scale_rows(J: np.ndarray | sparse.spmatrix, s: np.ndarray) -> np.ndarray | sparse.spmatrix:
    return sparse.diags(s) @ J if sparse.issparse(J) else J * s[:, None]
