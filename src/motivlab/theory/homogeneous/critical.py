"""Critical diversity N* *at saturation*: the smallest number of environments at which reward-seeking wins.

The two other N* functions: :func:`motivlab.theory.fit.forward.critical_diversity_at_horizon`
(a fixed training budget, for comparisons with finite RL runs) and
:func:`motivlab.theory.heterogeneous.diversity.critical_diversity_from_grid` (interpolated on a
precomputed grid of ``p_∞(N)``).

``N*`` is the smallest ``N ≥ 1`` with ``p_∞(N) > θ`` (``θ = 0.5`` by default) in the homogeneous
model, ``N`` real. It is found for a whole batch of problems (many ``p0``, couplings, skill gaps)
at once, in two vectorised phases:

1. **Scan.** ``p_∞`` on a log grid ``1 … n_max`` (``grid_per_decade`` points per decade) for every
   member; the first grid point above ``θ`` brackets the *first* crossing (so a non-monotone
   ``p_∞(N)`` still gives the smallest crossing the grid resolves).
2. **Refine.** Multi-section in ``log N``: each round evaluates ``points_per_round`` interior
   points of every member's bracket in one batched integration and keeps the sub-interval where
   ``p_∞`` first exceeds ``θ``. Bisection is the special case ``points_per_round = 1``; more points
   per round cost almost nothing extra (the integrator is vectorised) and need far fewer rounds.

The returned ``N*`` is the geometric midpoint of the final bracket, so its relative error is below
``rtol``. Members whose ``p_∞`` never exceeds ``θ`` up to ``n_max`` are reported as not crossed
(``None`` in :meth:`CriticalResult.tolist`, ``+inf`` in the array) — never NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from motivlab.errors import check_range
from motivlab.theory.homogeneous.dynamics import IntegratorConfig, final_propensity
from motivlab.theory.homogeneous.params import Problem

__all__ = ["CriticalResult", "critical_diversity_at_saturation"]


@dataclass(frozen=True)
class CriticalResult:
    """``N*`` per member of the problem batch (batch-shaped arrays)."""

    n_star: np.ndarray  # critical diversity; +inf where never crossed up to n_max
    crossed: np.ndarray  # bool: p_∞ exceeded the threshold at some N ≤ n_max
    n_lo: np.ndarray  # final bracket: p_∞(n_lo) ≤ θ (n_lo = 1 when N* = 1; n_max when never crossed) …
    n_hi: np.ndarray  # … and p_∞(n_hi) > θ (+inf when never crossed)
    threshold: float
    n_max: float

    def tolist(self) -> list[float | None] | float | None:
        """Plain Python values with ``None`` for never-crossed members (JSON-ready)."""
        vals = np.where(self.crossed, self.n_star, np.nan)
        out = [None if np.isnan(v) else float(v) for v in vals.reshape(-1)]
        if vals.ndim == 0:
            return out[0]
        return np.array(out, dtype=object).reshape(vals.shape).tolist()


def critical_diversity_at_saturation(
    problem: Problem,
    *,
    threshold: float = 0.5,
    n_max: float = 1e7,
    rtol: float = 1e-3,
    grid_per_decade: int = 4,
    points_per_round: int = 24,
    config: IntegratorConfig | None = None,
    on_round: Callable[[int, int], None] | None = None,
) -> CriticalResult:
    """Batched ``N*`` for every member of ``problem`` (its ``n`` field is ignored).

    ``on_round(done, total)`` is called after each batched integration (for progress bars).
    """
    threshold = check_range("threshold", threshold, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    n_max = check_range("n_max", n_max, low=1.0, low_inclusive=False)
    rtol = check_range("rtol", rtol, low=1e-9, high=0.5)
    check_range("grid_per_decade", grid_per_decade, low=1, high=1000)
    check_range("points_per_round", points_per_round, low=1, high=1000)
    flat = problem.flat()
    m = flat.size
    k = int(points_per_round)
    n_grid = max(2, int(np.ceil(np.log10(n_max) * grid_per_decade)) + 1)
    log_grid = np.linspace(0.0, np.log(n_max), n_grid)  # (G,) ln N
    width, target = log_grid[1] - log_grid[0], 2 * np.log1p(rtol)  # bracket widths in ln N
    rounds = max(0, int(np.ceil(np.log(width / target) / np.log(k + 1))))
    total = 1 + rounds

    # ---- phase 1: scan the log grid, bracket the first crossing
    grid = np.broadcast_to(log_grid, (m, n_grid))
    above = _p_inf_subset(flat, np.arange(m), grid, config) > threshold  # (M, G)
    if on_round:
        on_round(1, total)
    crossed = above.any(axis=1)  # (M,)
    first = np.argmax(above, axis=1)  # (M,) index of first grid point above θ (0 if none)
    at_one = crossed & (first == 0)
    lo = log_grid[np.maximum(first - 1, 0)]  # (M,)
    hi = log_grid[first]

    # ---- phase 2: multi-section of [lo, hi] for the members that need it
    todo = np.flatnonzero(crossed & ~at_one)
    for r in range(rounds):
        k_r = min(k, int(np.ceil(width / target)) - 1)  # the last round needs only enough points to reach rtol
        width /= k_r + 1
        if todo.size:
            frac = np.arange(1, k_r + 1) / (k_r + 1)  # (K,)
            pts = lo[todo, None] + (hi[todo] - lo[todo])[:, None] * frac  # (T, K)
            above_k = _p_inf_subset(flat, todo, pts, config) > threshold  # (T, K)
            any_k = above_k.any(axis=1)
            j = np.where(any_k, np.argmax(above_k, axis=1), k_r)  # first interior point above θ (K = none)
            edges = np.concatenate([lo[todo, None], pts, hi[todo, None]], axis=1)  # (T, K + 2)
            rows = np.arange(todo.size)
            lo[todo], hi[todo] = edges[rows, j], edges[rows, j + 1]
        if on_round:
            on_round(2 + r, total)

    n_star = np.where(at_one, 1.0, np.exp(0.5 * (lo + hi)))
    n_star = np.where(crossed, n_star, np.inf)
    shape = problem.batch_shape
    return CriticalResult(
        n_star=n_star.reshape(shape), crossed=crossed.reshape(shape),
        n_lo=np.where(crossed, np.where(at_one, 1.0, np.exp(lo)), n_max).reshape(shape),
        n_hi=np.where(crossed, np.exp(hi), np.inf).reshape(shape),
        threshold=threshold, n_max=n_max,
    )


def _p_inf_subset(flat: Problem, idx: np.ndarray, log_n: np.ndarray, config: IntegratorConfig | None) -> np.ndarray:
    """``p_∞`` of members ``idx`` of ``flat``, each at its row of ``log_n`` (``(len(idx), Q)``)."""
    fields = {name: np.asarray(getattr(flat, name))[idx, None] for name in _FIELDS}
    sub = Problem(**fields, n=np.exp(log_n), normalize=flat.normalize)
    return final_propensity(sub, config)


_FIELDS = ("p0", "sr0", "sl0", "alpha_z", "alpha_x", "alpha_y", "c_z", "c_x", "c_y", "kappa", "lam")
