"""Diversity sweeps of the heterogeneous model: ``p_∞`` against ``N`` and the critical diversity ``N*``.

A sweep draws ``n_max`` environments once per resample and simulates the first ``N`` of them for
each ``N`` on the grid: the domain is fixed and environments are added, so more environments
means more neighbours within a transfer length (that is how diversity raises transfer here).
``N*`` is the first grid crossing of ``p_∞ = mean_i p_i(T)`` over ``θ``, interpolated linearly in
``log N`` — optionally after bisecting the bracket on integer N (:func:`refine_nstar`); ``inf``
if it never crosses on the grid (never NaN).

Usage::

    cfg = HeterogeneousConfig(geometry="clustered", scale=2.0)
    res = diversity_sweep(cfg, p0s=[0.1, 0.01], resamples=16, seed=0, refine_rounds=2)
    res.nstar            # (16, 2) critical diversity per resample and p0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motivlab.errors import MotivlabInputError
from motivlab.theory.heterogeneous.population import (
    HeterogeneousConfig,
    Population,
    _check_p0s,
    draw_population,
    mean_propensity,
    simulate,
)

__all__ = ["SweepResult", "critical_diversity_from_grid", "default_n_grid", "diversity_sweep", "refine_nstar"]


def default_n_grid(n_max: int = 10_000, points: int = 16) -> np.ndarray:
    """``points`` integers log-spaced from 1 to ``n_max`` (duplicates removed)."""
    if int(n_max) != n_max or n_max < 1:
        raise MotivlabInputError(f"n_max must be an integer >= 1, got {n_max!r}")
    if int(points) != points or points < 1:
        raise MotivlabInputError(f"points must be an integer >= 1, got {points!r}")
    return np.unique(np.round(np.logspace(0, np.log10(n_max), int(points))).astype(int))


def critical_diversity_from_grid(n_grid, p_inf: np.ndarray, theta: float = 0.5) -> np.ndarray:
    """First crossing of ``θ`` by ``p_∞`` along the N grid, linear in ``log N``.

    ``p_inf``: ``(..., G)`` over the grid (NaN = not simulated, allowed only after a crossing).
    Returns ``N*`` of shape ``(...)``: ``n_grid[0]`` if already above θ there, ``inf`` if never.
    """
    n_grid = np.asarray(n_grid, dtype=float)
    p_inf = np.asarray(p_inf, dtype=float)
    above = np.nan_to_num(p_inf, nan=-np.inf) > theta  # (..., G)
    first = np.argmax(above, axis=-1)
    crossed = above.any(axis=-1)
    lo = np.maximum(first - 1, 0)
    p_lo = np.take_along_axis(p_inf, lo[..., None], -1)[..., 0]
    p_hi = np.take_along_axis(p_inf, first[..., None], -1)[..., 0]
    ln = np.log(n_grid)
    frac = np.clip((theta - p_lo) / np.where(p_hi > p_lo, p_hi - p_lo, 1.0), 0.0, 1.0)
    log_nstar = ln[lo] + frac * (ln[first] - ln[lo])
    return np.where(crossed, np.exp(log_nstar), np.inf)


@dataclass(frozen=True)
class SweepResult:
    """``p_inf``: ``(R, G, P)`` mean final propensity (NaN where skipped after a crossing)."""

    n_grid: np.ndarray  # (G,)
    p0s: np.ndarray  # (P,)
    p_inf: np.ndarray  # (R, G, P)
    nstar: np.ndarray  # (R, P), inf = no crossing on the grid
    steps: np.ndarray  # (G,) Euler steps per grid point (0 = skipped)


def diversity_sweep(
    cfg: HeterogeneousConfig,
    *,
    p0s=None,
    n_grid=None,
    resamples: int = 32,
    seed: int = 0,
    population: Population | None = None,
    stop_after_crossing: bool = True,
    stop_quantile: float | None = None,
    refine_rounds: int = 0,
    on_point=None,
) -> SweepResult:
    """``p_∞(N)`` on the grid for each resample and ``p0``, and ``N*`` per (resample, p0).

    With ``stop_after_crossing`` (default) a (resample, p0) pair is no longer simulated once it has
    crossed θ: its ``N*`` (the *first* crossing) is already determined, and the large-N points are
    by far the most expensive. With ``stop_quantile=q`` the sweep also ends once, for every ``p0``,
    enough resamples have crossed to fix the ``q``-quantile of ``N*`` (linear interpolation needs
    the order statistics ``⌊q(R−1)⌋+1`` and ``+2``); resamples still uncrossed then get ``N* = inf``,
    meaning "above the last simulated N", which leaves quantiles ``≤ q`` exact.
    ``refine_rounds=k`` then bisects each crossing bracket ``k`` times on integer N (see
    :func:`refine_nstar`). ``on_point(i, G)`` is called after each grid point (progress bars).
    """
    n_grid = default_n_grid() if n_grid is None else np.asarray(n_grid)
    if n_grid.ndim != 1 or n_grid.size == 0 or (n_grid < 1).any() or (n_grid != np.round(n_grid)).any():
        raise MotivlabInputError(f"N grid values must be integers >= 1, got {n_grid!r}")
    n_grid = np.unique(n_grid.astype(int))
    p0s = _check_p0s(cfg.p0 if p0s is None else p0s)
    if population is None:
        population = draw_population(cfg, int(n_grid[-1]), resamples, np.random.default_rng(seed))
    if population.n_max < n_grid[-1]:
        raise MotivlabInputError(f"population has {population.n_max} environments, grid needs {n_grid[-1]}")
    r, g, p = population.resamples, n_grid.size, p0s.size
    p_inf = np.full((r, g, p), np.nan)
    crossed = np.zeros((r, p), dtype=bool)
    steps = np.zeros(g, dtype=int)
    need = r if stop_quantile is None else min(r, int(np.floor(stop_quantile * (r - 1))) + 2)
    for i, n in enumerate(n_grid):
        if stop_after_crossing and (crossed.sum(axis=0) >= need).all():
            if on_point is not None:
                on_point(g, g)
            break
        rows = ~crossed.all(axis=1) if stop_after_crossing else np.ones(r, bool)
        cols = ~crossed.all(axis=0) if stop_after_crossing else np.ones(p, bool)
        if rows.any():
            sub = _take_population(population, rows)
            traj = simulate(cfg, sub, int(n), p0s[cols])
            p_mean = mean_propensity(traj)  # (R', P')
            p_inf[np.ix_(rows, np.arange(g) == i, cols)] = p_mean[:, None, :]
            crossed[np.ix_(rows, cols)] |= p_mean > cfg.theta
            steps[i] = traj.steps
        if on_point is not None:
            on_point(i + 1, g)
    nstar = critical_diversity_from_grid(n_grid, p_inf.transpose(0, 2, 1), cfg.theta)
    if refine_rounds:
        nstar = refine_nstar(cfg, population, n_grid, p0s, p_inf, rounds=refine_rounds)
    return SweepResult(n_grid, p0s, p_inf, nstar, steps)


def refine_nstar(cfg: HeterogeneousConfig, pop: Population, n_grid, p0s, p_inf: np.ndarray, *, rounds: int = 2) -> np.ndarray:
    """Bisect each first-crossing bracket ``[N_lo, N_hi]`` of the grid ``rounds`` times (in log N).

    ``p_∞(N)`` is often a steep step (environments flip together), so linear interpolation between
    two grid points a factor 1.85 apart puts ``N*`` near their geometric mean whatever the truth:
    a grid artefact that would leak into the slopes. Runs whose brackets end at the same grid
    point are batched together; each is simulated at its own midpoint ``N`` by masking the extra
    environments (nested prefixes, so this is exactly the smaller population). The final
    ``N*`` interpolates in ``log N`` inside the narrowed bracket. ``(R, P)``; ``inf`` kept.
    """
    n_grid = np.asarray(n_grid)
    p_t = np.asarray(p_inf).transpose(0, 2, 1)  # (R, P, G)
    above = np.nan_to_num(p_t, nan=-np.inf) > cfg.theta
    first = np.argmax(above, axis=-1)
    crossed = above.any(axis=-1)
    lo_i = np.maximum(first - 1, 0)
    lo = n_grid[lo_i].astype(float)
    hi = n_grid[first].astype(float)
    p_lo = np.take_along_axis(p_t, lo_i[..., None], -1)[..., 0]
    p_hi = np.take_along_axis(p_t, first[..., None], -1)[..., 0]
    for g in np.unique(first[crossed & (first > 0)]):
        cell = crossed & (first == g)  # (R, P)
        rows, cols = cell.any(axis=1), cell.any(axis=0)
        sub = _take_population(pop, rows)
        for _ in range(rounds):
            mid = np.round(np.sqrt(lo * hi))
            todo = cell & (mid > lo) & (mid < hi)
            if not todo.any():
                break
            n_act = np.where(todo, mid, 0).astype(int)[np.ix_(rows, cols)]  # 0 = nothing to simulate
            traj = simulate(cfg, sub, int(n_grid[g]), p0s[cols], n_active=n_act)
            p_mid = np.zeros_like(lo)
            p_mid[np.ix_(rows, cols)] = mean_propensity(traj, n_act)
            up = todo & (p_mid > cfg.theta)
            down = todo & ~(p_mid > cfg.theta)
            hi, p_hi = np.where(up, mid, hi), np.where(up, p_mid, p_hi)
            lo, p_lo = np.where(down, mid, lo), np.where(down, p_mid, p_lo)
    frac = np.clip((cfg.theta - p_lo) / np.where(p_hi > p_lo, p_hi - p_lo, 1.0), 0.0, 1.0)
    log_n = np.log(lo) + frac * (np.log(hi) - np.log(lo))
    at_start = crossed & (first == 0)
    return np.where(crossed, np.where(at_start, float(n_grid[0]), np.exp(log_n)), np.inf)


def _take_population(pop: Population, rows: np.ndarray) -> Population:
    if rows.all():
        return pop
    return Population(pop.coords[rows], pop.log_alpha[rows], pop.init[rows], (pop.rff[0][rows], pop.rff[1][rows]))
