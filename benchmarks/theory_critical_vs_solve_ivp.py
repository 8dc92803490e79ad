"""Benchmark: the critical-diversity curve N*(p0), batched vs one solve_ivp per point.

Problem: homogeneous model, sR0 = 0.5, sL0 = 0.1, α = 1, c = (1, 1, 0), 40 values of p0 log-spaced
in [1e-6, 1e-1], threshold 0.5, n_max = 1e7, N* to a relative accuracy of 1e-3.

* Baseline — what one would write with SciPy: for each p0, bisection in log N on [1, n_max]; each
  evaluation of p_∞(N) is ``scipy.integrate.solve_ivp`` (LSODA, rtol 1e-6, atol 1e-9) run until
  the same saturation rule as ours (a terminal event on max |d(p, sR, sL)/dt| = tol × min α).
* Ours — :func:`motivlab.theory.critical_diversity_at_saturation`: all 40 p0 at once (log-grid scan, then
  multi-section), one vectorised integrator call per round.

The two curves must agree to 0.5 % (checked; the script fails otherwise). The last line printed is
the speed ratio baseline_time / our_time.

Usage::

    .venv/bin/python benchmarks/theory_critical_vs_solve_ivp.py
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import expit, logit

from motivlab.theory import IntegratorConfig, Problem, critical_diversity_at_saturation

P0 = np.geomspace(1e-6, 1e-1, 40)
SR0, SL0, THETA, N_MAX, RTOL = 0.5, 0.1, 0.5, 1e7, 1e-3
TOL = IntegratorConfig().tol
REPEATS = 3  # ours is timed as the mean of 3 runs after one warm-up; the baseline once (it takes seconds)


def _rhs(t: float, s: np.ndarray, a: float) -> list[float]:
    z, x, y = s
    p, sr, sl = expit(z), expit(x), expit(y)
    return [a * p * (1 - p) * (sr - sl), a * p * sr * (1 - sr), (1 - p) * sl * (1 - sl)]


def _saturated(t: float, s: np.ndarray, a: float) -> float:
    z, x, y = s
    p, sr, sl = expit(z), expit(x), expit(y)
    dz, dx, dy = _rhs(t, s, a)
    rate = max(abs(p * (1 - p) * dz), abs(sr * (1 - sr) * dx), abs(sl * (1 - sl) * dy))
    return rate - TOL * 1.0  # min α_eff = α_y = 1 here


_saturated.terminal = True  # type: ignore[attr-defined]
_saturated.direction = -1  # type: ignore[attr-defined]


def _p_inf_scipy(p0: float, n: float) -> float:
    sol = solve_ivp(_rhs, (0.0, 1e9), [logit(p0), logit(SR0), logit(SL0)], args=(n,), method="LSODA",
                    rtol=1e-6, atol=1e-9, events=_saturated)
    return float(expit(sol.y[0, -1]))


def _n_star_scipy(p0: float) -> float | None:
    if _p_inf_scipy(p0, 1.0) > THETA:
        return 1.0
    if _p_inf_scipy(p0, N_MAX) <= THETA:
        return None
    lo, hi = 0.0, math.log(N_MAX)
    while hi - lo > 2 * math.log1p(RTOL):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if _p_inf_scipy(p0, math.exp(mid)) > THETA else (mid, hi)
    return math.exp(0.5 * (lo + hi))


def main() -> None:
    problem = Problem(p0=P0, sr0=SR0, sl0=SL0)
    critical_diversity_at_saturation(problem, threshold=THETA, n_max=N_MAX, rtol=RTOL)  # warm-up (imports, caches)
    t0 = time.perf_counter()
    for _ in range(REPEATS):
        ours = critical_diversity_at_saturation(problem, threshold=THETA, n_max=N_MAX, rtol=RTOL)
    t_ours = (time.perf_counter() - t0) / REPEATS
    t0 = time.perf_counter()
    base = [_n_star_scipy(float(p)) for p in P0]
    t_base = time.perf_counter() - t0

    ours_list = ours.tolist()
    assert all((a is None) == (b is None) for a, b in zip(ours_list, base, strict=True)), "crossing sets differ"
    rel = np.array([a / b - 1 for a, b in zip(ours_list, base, strict=True) if a is not None])
    print(f"p0 range [{P0[0]:.0e}, {P0[-1]:.0e}], {len(P0)} points; N* from {min(base):.3g} to {max(base):.4g}")
    print(f"max relative difference ours vs solve_ivp: {np.abs(rel).max():.2e} (must be < 5e-3)")
    assert np.abs(rel).max() < 5e-3, "batched N* disagrees with solve_ivp"
    print(f"solve_ivp + bisection, one point at a time: {t_base:.2f} s")
    print(f"motivlab batched critical_diversity_at_saturation:        {t_ours:.3f} s (mean of {REPEATS})")
    print(f"speed ratio (baseline / ours): {t_base / t_ours:.1f}x")


if __name__ == "__main__":
    main()
