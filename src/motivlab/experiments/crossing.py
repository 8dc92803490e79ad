"""Where ``p_inf(N)`` crosses a threshold, in log N — one definition for measured and predicted curves.

The critical diversity ``N*`` of a curve ``p_inf(N)`` sampled on a grid of ``N`` is the *first*
crossing of ``threshold`` from below, linearly interpolated in ``log N`` (theory.md). A curve
that is above the threshold at the smallest ``N`` gives a bound ``N* ≤ N_min``; one that never
reaches it gives ``N* > N_max``: :class:`Crossing` says which, so a report never prints a bound
as a number. Measured curves get a bootstrap over seeds (:func:`bootstrap_crossing`), and the
slope of ``log N*`` against ``log p0`` its interval from the same resamples (:func:`loglog_slope`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

__all__ = ["Crossing", "bootstrap_crossing", "crossing", "loglog_slope"]

Kind = Literal["crossing", "below_range", "above_range"]


@dataclass(frozen=True)
class Crossing:
    """``N*`` of one curve. ``kind``: ``crossing`` (a number), ``below_range`` (``N* ≤ value``:
    already above the threshold at the smallest N), ``above_range`` (``N* > value``: never reached)."""

    value: float
    kind: Kind

    @property
    def is_number(self) -> bool:
        return self.kind == "crossing"

    def text(self, fmt: str = "{:.3g}") -> str:
        prefix = {"crossing": "", "below_range": "≤ ", "above_range": "> "}[self.kind]
        return prefix + fmt.format(self.value)

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


def crossing(n: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> Crossing:
    """First crossing of ``threshold`` by ``p`` over increasing ``n``, interpolated in ``log n``."""
    n = np.asarray(n, dtype=float)
    p = np.asarray(p, dtype=float)
    if n.ndim != 1 or n.shape != p.shape or n.size == 0:
        raise ValueError(f"crossing: n and p must be 1-d of one length, got {n.shape} and {p.shape}")
    if np.any(np.diff(n) <= 0) or n[0] <= 0:
        raise ValueError("crossing: n must be positive and strictly increasing")
    above = p > threshold
    if above[0]:
        return Crossing(float(n[0]), "below_range")
    if not above.any():
        return Crossing(float(n[-1]), "above_range")
    k = int(np.argmax(above))
    lo, hi = np.log(n[k - 1]), np.log(n[k])
    frac = (threshold - p[k - 1]) / (p[k] - p[k - 1])
    return Crossing(float(np.exp(lo + frac * (hi - lo))), "crossing")


def bootstrap_crossing(n: np.ndarray, p_seeds: list[np.ndarray], *, threshold: float = 0.5,
                       n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict[str, object]:
    """``N*`` of the seed-mean curve and a bootstrap interval over seeds.

    ``p_seeds[k]`` holds the final propensities of the seeds run at ``n[k]`` (NaN-free; a point
    with no finished seed must be left out of ``n`` by the caller). Each resample draws, at every
    ``N`` independently, as many seeds as were run, with replacement; the interval is the central
    ``confidence`` range of the resampled crossings, with bounds counted as their edge values
    (``frac_number`` says how many resamples gave a number at all).
    """
    n = np.asarray(n, dtype=float)
    point = crossing(n, np.array([np.mean(s) for s in p_seeds]), threshold)
    rng = np.random.default_rng(seed)
    draws = np.empty(n_boot)
    numbers = 0
    for b in range(n_boot):
        curve = np.array([np.mean(rng.choice(s, size=len(s), replace=True)) for s in p_seeds])
        c = crossing(n, curve, threshold)
        draws[b] = c.value
        numbers += c.is_number
    half = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [half, 1 - half])
    return {"n_star": point, "ci_low": float(lo), "ci_high": float(hi), "frac_number": numbers / n_boot,
            "draws": draws}


def loglog_slope(p0: np.ndarray, n_star_draws: np.ndarray, n_star: np.ndarray,
                 confidence: float = 0.95) -> dict[str, float]:
    """Slope of ``log N*`` vs ``log p0``: least squares on the point values, interval from draws.

    ``n_star_draws`` (P, B): resampled ``N*`` per ``p0`` (bootstrap over seeds, or draws of
    the fitted parameters for a prediction); each column gives one slope.
    """
    x = np.log(np.asarray(p0, dtype=float))
    if x.size < 2:
        raise ValueError("a slope needs N* at two or more p0")
    slope = float(np.polyfit(x, np.log(n_star), 1)[0])
    draws = np.array([np.polyfit(x, np.log(col), 1)[0] for col in np.asarray(n_star_draws, float).T])
    half = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [half, 1 - half])
    return {"slope": slope, "ci_low": float(lo), "ci_high": float(hi)}
