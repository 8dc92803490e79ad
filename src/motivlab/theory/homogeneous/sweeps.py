"""Parameter sweeps of the homogeneous model as tidy tables, and the log-log slope of N*(p0).

* :func:`learnability_heatmap` — ``p_∞`` on a log grid of ``(α^z/α^y, α^x/α^y)`` (figures 1–2).
* :func:`diversity_sweep` — ``p_∞`` against ``N`` for several problems (figure 3, ``theory sweep``).
* :func:`critical_curve` — ``N*`` against ``p0`` (figure 4) with :func:`fit_loglog_slope`.

Every sweep is one batched integration (one call of :func:`motivlab.theory.homogeneous.dynamics.simulate` over
the whole grid), returned as a pandas DataFrame with one row per grid point.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from motivlab.errors import MotivlabInputError, check_range
from motivlab.theory.homogeneous.critical import critical_diversity_at_saturation
from motivlab.theory.homogeneous.dynamics import IntegratorConfig, simulate
from motivlab.theory.homogeneous.params import Problem

__all__ = ["SlopeFit", "critical_curve", "diversity_sweep", "fit_loglog_slope", "learnability_heatmap", "log_grid"]

_PARAM_COLS = ("p0", "sr0", "sl0", "alpha_z", "alpha_x", "alpha_y", "c_z", "c_x", "c_y", "kappa", "lam")


def log_grid(low: float, high: float, num: int) -> np.ndarray:
    """``num`` log-spaced values from ``low`` to ``high`` inclusive (both > 0)."""
    low = check_range("low", low, low=0.0, low_inclusive=False)
    high = check_range("high", high, low=low)
    check_range("num", num, low=1)
    return np.geomspace(low, high, int(num))


def _table(problem: Problem, extra: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per batch member: its parameters, then ``extra`` columns (all batch-shaped)."""
    cols: dict[str, Any] = {name: np.reshape(getattr(problem, name), -1) for name in (*_PARAM_COLS, "n")}
    cols.update({k: np.reshape(np.broadcast_to(v, problem.batch_shape), -1) for k, v in extra.items()})
    df = pd.DataFrame(cols)
    df.insert(len(_PARAM_COLS) + 1, "normalize", problem.normalize)
    return df


def learnability_heatmap(
    base: Problem, ratio_z: np.ndarray, ratio_x: np.ndarray, config: IntegratorConfig | None = None
) -> pd.DataFrame:
    """``p_∞`` for ``α^z = r_z α^y`` and ``α^x = r_x α^y`` on the grid ``ratio_z × ratio_x``.

    ``base`` must be a scalar problem (its ``alpha_z``/``alpha_x`` are replaced). Rows are ordered
    with ``ratio_x`` fastest. Columns: the parameters, ``ratio_z``, ``ratio_x``, ``p_inf``, ``s_r``,
    ``s_l``, ``saturated``.
    """
    if base.batch_shape:
        raise MotivlabInputError(f"learnability_heatmap needs a scalar base problem, got batch shape {base.batch_shape}")
    rz = check_ratio("ratio_z", ratio_z)[:, None]  # (Z, 1)
    rx = check_ratio("ratio_x", ratio_x)[None, :]  # (1, X)
    alpha_y = float(base.alpha_y)
    grid = base.replace(alpha_z=rz * alpha_y, alpha_x=rx * alpha_y)  # batch (Z, X)
    sol = simulate(grid, config)
    shape = grid.batch_shape
    return _table(grid, {
        "ratio_z": np.broadcast_to(rz, shape), "ratio_x": np.broadcast_to(rx, shape),
        "p_inf": sol.p, "s_r": sol.s_r, "s_l": sol.s_l, "saturated": sol.saturated,
    })


def check_ratio(name: str, values: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise MotivlabInputError(f"{name} must be a non-empty 1-D list of finite values > 0, got {values!r}")
    return arr


def diversity_sweep(problems: Problem, n_values: np.ndarray, config: IntegratorConfig | None = None) -> pd.DataFrame:
    """``p_∞`` for every member of ``problems`` (any batch shape) at every ``N`` in ``n_values``.

    One batched integration over ``(members, len(n_values))``. Columns: parameters, ``n``,
    ``member`` (index into the flattened ``problems``), ``p_inf``, ``s_r``, ``s_l``, ``saturated``.
    """
    n = check_ratio("n_values", n_values)
    if np.any(n < 1):
        raise MotivlabInputError(f"n_values must all be ≥ 1, got {n[n < 1][0]!r}")
    flat = problems.flat()
    fields = {name: np.asarray(getattr(flat, name))[:, None] for name in _PARAM_COLS}
    grid = Problem(**fields, n=n[None, :], normalize=flat.normalize)  # batch (M, Q)
    sol = simulate(grid, config)
    member = np.broadcast_to(np.arange(flat.size)[:, None], grid.batch_shape)
    return _table(grid, {"member": member, "p_inf": sol.p, "s_r": sol.s_r, "s_l": sol.s_l, "saturated": sol.saturated})


@dataclass(frozen=True)
class SlopeFit:
    """Ordinary least squares of ``log10 y`` on ``log10 x`` with a t-based confidence interval."""

    slope: float
    slope_lo: float
    slope_hi: float
    intercept: float  # log10 y at x = 1
    r2: float
    n_points: int
    confidence: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def fit_loglog_slope(x: np.ndarray, y: np.ndarray, *, confidence: float = 0.95) -> SlopeFit:
    """Slope of ``log10 y`` vs ``log10 x`` (OLS) and its ``confidence`` interval (Student t, n-2 dof).

    Points where ``y`` is not finite (e.g. ``N*`` not crossed) are dropped; at least 3 must remain,
    otherwise the interval is undefined and an error says so (rather than returning NaN).
    """
    confidence = check_range("confidence", confidence, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    x, y = np.asarray(x, float).reshape(-1), np.asarray(y, float).reshape(-1)
    if x.shape != y.shape:
        raise MotivlabInputError(f"x and y must have the same length, got {x.size} and {y.size}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 3:
        raise MotivlabInputError(f"a slope with an interval needs ≥ 3 finite positive points, got {int(ok.sum())}")
    lx, ly = np.log10(x[ok]), np.log10(y[ok])
    if np.ptp(lx) == 0:
        raise MotivlabInputError("x values are all equal: the slope is undefined")
    res = stats.linregress(lx, ly)
    t = stats.t.ppf(0.5 + confidence / 2, df=lx.size - 2)
    half = float(t * res.stderr)
    return SlopeFit(
        slope=float(res.slope), slope_lo=float(res.slope) - half, slope_hi=float(res.slope) + half,
        intercept=float(res.intercept), r2=float(res.rvalue**2), n_points=int(lx.size), confidence=confidence,
    )


def critical_curve(
    problems: Problem, *, threshold: float = 0.5, n_max: float = 1e7, rtol: float = 1e-3,
    config: IntegratorConfig | None = None, **kwargs: Any,
) -> pd.DataFrame:
    """``N*`` for every member of ``problems`` (typically a batch over ``p0`` and other settings).

    Columns: parameters, ``n_star`` (nullable: missing where never crossed up to ``n_max``),
    ``crossed``, ``n_lo``, ``n_hi``. Extra keyword arguments go to :func:`critical_diversity_at_saturation`.
    """
    res = critical_diversity_at_saturation(problems, threshold=threshold, n_max=n_max, rtol=rtol, config=config, **kwargs)
    df = _table(problems, {"crossed": res.crossed, "n_lo": res.n_lo})
    crossed = np.reshape(res.crossed, -1)
    df.insert(df.columns.get_loc("crossed"), "n_star", _nullable(np.reshape(res.n_star, -1), crossed))
    df["n_hi"] = _nullable(np.reshape(res.n_hi, -1), crossed)
    return df.drop(columns=["n"])


def _nullable(values: np.ndarray, valid: np.ndarray) -> pd.arrays.FloatingArray:
    """Float column with missing (not NaN, not inf) where ``valid`` is False: null in Parquet, empty in CSV."""
    return pd.arrays.FloatingArray(np.where(valid, values, 0.0).astype(float), mask=~np.asarray(valid, bool))
