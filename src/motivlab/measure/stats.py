"""Interval estimates shared by every measurement (sampled p / sR / sL, report rates, clip rates)."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def wilson_interval(
    successes: np.ndarray | float, trials: np.ndarray | float, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wilson score interval for binomial proportions, vectorised: returns ``(estimate, low, high)``.

    Chosen over the normal (Wald) interval because it stays inside [0, 1] and keeps its coverage
    at the tiny propensities the organism starts from (p₀ ≈ 0.01). Where ``trials == 0`` all three
    are NaN: no data is not a proportion.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("wilson_interval: need 0 <= successes <= trials")
    z = norm.ppf(0.5 + confidence / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        phat = k / n
        denom = 1.0 + z**2 / n
        centre = (phat + z**2 / (2 * n)) / denom
        half = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / denom
    empty = n == 0
    phat = np.where(empty, np.nan, phat)
    low = np.where(empty, np.nan, np.clip(centre - half, 0.0, 1.0))
    high = np.where(empty, np.nan, np.clip(centre + half, 0.0, 1.0))
    return phat, low, high
