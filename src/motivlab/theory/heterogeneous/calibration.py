"""Calibrate a geometry's coordinate scale, then measure how ``N*`` scales with ``p0``.

Absolute ``N*`` in the heterogeneous model depends on an arbitrary unit: how large the coordinate
domain is relative to the transfer lengths. So, per geometry, one scale factor ``s`` (multiplying
every coordinate) is tuned by root-finding (``scipy.optimize.brentq`` on ``log s``) until the
median ``N*`` over resamples at a reference ``p0`` equals a target (default ``N* = 100`` at
``p0 = 0.01``). The *result* is then the log-log slope of median ``N*`` against ``p0``, compared
across geometries — does the exponent depend on how environments are arranged (universality)?

The objective is a deterministic, continuous function of ``s`` because every evaluation reuses
the same :class:`~motivlab.theory.heterogeneous.population.Population` (common random numbers) and ``N*`` is
interpolated in ``log N``. It is monotone in ``s`` when local skill does not transfer (the
default ``ell_y=None``): a larger domain means fewer neighbours, hence less transfer and a larger
``N*``. With ``ell_y`` set, very small scales also couple local skills and ``N*`` can rise again;
the bracket search then reports failure rather than a wrong root.

Slope intervals are a percentile bootstrap over resamples (the independent units), 95 % by
default: each replicate redraws the ``R`` resamples with replacement, takes the median ``N*``
per ``p0`` and refits the OLS slope of ``log N*`` on ``log p0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from motivlab.errors import MotivlabInputError, check_range
from motivlab.theory.heterogeneous.diversity import default_n_grid, diversity_sweep
from motivlab.theory.heterogeneous.population import HeterogeneousConfig, Population, draw_population

__all__ = ["Calibration", "SlopeEstimate", "calibrate_scale", "loglog_slope"]


@dataclass(frozen=True)
class Calibration:
    """The tuned scale, the median ``N*`` it gives, and the root-finder's bookkeeping."""

    scale: float
    median_nstar: float
    target: float
    p0_ref: float
    evaluations: int
    history: list[tuple[float, float]]  # (scale, median N*) at every evaluation


def _median_nstar(cfg: HeterogeneousConfig, pop: Population, p0: float, n_grid: np.ndarray, scale: float) -> float:
    res = diversity_sweep(
        cfg.model_copy(update={"scale": scale}), p0s=[p0], n_grid=n_grid, population=pop, stop_quantile=0.5
    )
    return float(np.median(res.nstar[:, 0]))


def calibrate_scale(
    cfg: HeterogeneousConfig,
    *,
    target: float = 100.0,
    p0_ref: float = 0.01,
    n_grid=None,
    resamples: int = 32,
    seed: int = 0,
    population: Population | None = None,
    bracket: tuple[float, float] = (0.5, 2.0),
    rtol: float = 0.005,
    max_expand: int = 8,
    on_eval=None,
) -> Calibration:
    """Scale factor ``s`` with median ``N*(p0_ref) = target`` (root of ``log median N* − log target``).

    The bracket ``[lo, hi]`` is moved by ×2 steps (at most ``max_expand`` times) until the sign
    changes; ``rtol`` is the relative tolerance on ``s``. Each evaluation stops its sweep as soon
    as the median is determined, and counts ``N*`` above ``e·target`` as "too sparse" without
    simulating further (the grid is cut there), so evaluations stay cheap far from the root. ``on_eval(scale, median)`` is called
    after each evaluation (progress reporting).
    """
    n_grid = default_n_grid() if n_grid is None else np.asarray(n_grid)
    target = check_range("target", target, low=float(np.min(n_grid)), high=float(np.max(n_grid)),
                         low_inclusive=False, high_inclusive=False)
    p0_ref = check_range("p0_ref", p0_ref, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    lo, hi = (check_range("bracket", b, low=0.0, low_inclusive=False) for b in bracket)
    if lo >= hi:
        raise MotivlabInputError(f"bracket must be (lo, hi) with lo < hi, got {bracket!r}")
    if population is None:
        population = draw_population(cfg, int(np.max(n_grid)), resamples, np.random.default_rng(seed))
    history: list[tuple[float, float]] = []
    n_grid = np.unique(np.asarray(n_grid, dtype=int))
    upto = np.searchsorted(n_grid, np.e * target) + 1  # first grid point above e·target, inclusive
    n_grid = n_grid[:upto]
    cap = np.log(float(n_grid[-1])) + 1.0  # N* = inf (no crossing) counts as "far above"

    memo: dict[float, float] = {}

    def f(log_s: float) -> float:
        if log_s not in memo:  # brentq re-evaluates the bracket ends
            s = float(np.exp(log_s))
            med = _median_nstar(cfg, population, p0_ref, n_grid, s)
            history.append((s, med))
            if on_eval is not None:
                on_eval(s, med)
            memo[log_s] = min(np.log(med), cap) - np.log(target)
        return memo[log_s]

    a, b = np.log(lo), np.log(hi)
    fa, fb = f(a), f(b)
    for _ in range(max_expand):
        if fa <= 0 <= fb:
            break
        if fa > 0:  # even the small domain is too sparse: shrink it
            b, fb = a, fa
            a -= np.log(2.0)
            fa = f(a)
        else:  # even the large domain crosses too early: grow it
            a, fa = b, fb
            b += np.log(2.0)
            fb = f(b)
    if not fa <= 0 <= fb:
        raise MotivlabInputError(
            f"calibration could not bracket median N* = {target} at p0 = {p0_ref}: scales "
            f"{[round(s, 4) for s, _ in history]} gave median N* {[round(m, 2) for _, m in history]}"
        )
    root = brentq(f, a, b, xtol=rtol * 0.5, rtol=1e-10) if fa < 0 < fb else (a if fa == 0 else b)
    scale = float(np.exp(root))
    med = next((m for s, m in reversed(history) if s == scale), None)
    if med is None:
        med = _median_nstar(cfg, population, p0_ref, n_grid, scale)
    return Calibration(scale, med, target, p0_ref, len(history), history)


@dataclass(frozen=True)
class SlopeEstimate:
    """OLS slope of ``log N*`` on ``log p0`` (medians over resamples) with a bootstrap interval."""

    slope: float
    lo: float
    hi: float
    n_points: int

    def as_dict(self) -> dict[str, float]:
        return {"slope": self.slope, "lo": self.lo, "hi": self.hi}


def _ols_slope(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Slope along the last axis; non-finite ``ly`` entries are dropped per row. ``(..., P) → (...)``."""
    ok = np.isfinite(ly)
    w = ok.astype(float)
    cnt = w.sum(-1)
    mx = (w * lx).sum(-1) / np.maximum(cnt, 1)
    my = np.where(ok, ly, 0.0).sum(-1) / np.maximum(cnt, 1)
    dx = (lx - mx[..., None]) * w
    cov = (dx * np.where(ok, ly - my[..., None], 0.0)).sum(-1)
    var = (dx**2).sum(-1)
    return np.where((cnt >= 2) & (var > 0), cov / np.where(var > 0, var, 1.0), np.nan)


def loglog_slope(
    p0s, nstar: np.ndarray, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> SlopeEstimate:
    """Slope of ``log median N*`` vs ``log p0`` from ``nstar`` ``(R, P)``, bootstrap over resamples.

    ``p0`` values whose median ``N*`` is infinite (no crossing on the grid) are left out; at least
    two must remain, otherwise an error says so (never a NaN).
    """
    lx = np.log(np.asarray(p0s, dtype=float))
    nstar = np.asarray(nstar, dtype=float)
    if nstar.ndim != 2 or nstar.shape[1] != lx.size:
        raise MotivlabInputError(f"nstar must be (R, P={lx.size}), got shape {nstar.shape}")
    med = np.log(np.median(nstar, axis=0))
    slope = float(_ols_slope(lx, med))
    if not np.isfinite(slope):
        raise MotivlabInputError(f"slope needs >= 2 p0 values with finite median N*, got medians {np.exp(med)}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, nstar.shape[0], size=(n_boot, nstar.shape[0]))
    boot = _ols_slope(lx, np.log(np.median(nstar[idx], axis=1)))  # (n_boot,)
    boot = boot[np.isfinite(boot)]
    q = (1 - confidence) / 2
    lo, hi = (np.quantile(boot, [q, 1 - q]) if boot.size else (slope, slope))
    return SlopeEstimate(slope, float(lo), float(hi), int(np.isfinite(med).sum()))
