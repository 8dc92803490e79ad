"""The homogeneous problem: validated, broadcast parameter batches for the behavioural-selection model.

A :class:`Problem` holds every parameter of the single-environment / homogeneous-coupling model
as arrays that broadcast against each other; their common shape is the *batch shape*. One object
therefore describes a whole parameter grid (a heat-map, a diversity sweep, many ``p0`` at once)
and the integrators in :mod:`motivlab.theory.homogeneous.dynamics` advance all members together.

Homogeneous coupling (``N`` identical environments, ``C^k_ij = c_k`` off the diagonal) collapses to
one environment with *effective learnabilities*::

    normalize="sum":   α^k_eff = α^k (1 + (N - 1) c_k)
    normalize="mean":  α^k_eff = α^k (1 + (N - 1) c_k) / N       (fixed total batch)

``N`` is a real number ≥ 1 here. Validation happens once, at construction; every error names the
parameter, the offending value and the allowed range (a :class:`~motivlab.errors.MotivlabInputError`,
which is a ``ValueError``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from motivlab.errors import MotivlabInputError, check_choice
from motivlab.theory.homogeneous.model import logit

__all__ = ["Normalize", "Problem", "check_array_range", "sample_problems"]

Normalize = Literal["sum", "mean"]

# field -> (low, high, low_inclusive, high_inclusive); None = unbounded
_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "p0": (0.0, 1.0, False, False),
    "sr0": (0.0, 1.0, False, False),
    "sl0": (0.0, 1.0, False, False),
    "alpha_z": (0.0, None, False, True),
    "alpha_x": (0.0, None, False, True),
    "alpha_y": (0.0, None, False, True),
    "c_z": (0.0, 1.0, True, True),
    "c_x": (0.0, 1.0, True, True),
    "c_y": (0.0, 1.0, True, True),
    "n": (1.0, None, True, True),
    "kappa": (0.0, None, True, True),
    "lam": (0.0, None, True, True),
}


def check_array_range(
    name: str,
    value: ArrayLike,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> np.ndarray:
    """``np.asarray(value, float)`` or an error naming ``name``, the first bad value and the range.

    The array version of :func:`motivlab.errors.check_range`: NaN and ±inf are always rejected.
    """
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise MotivlabInputError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    lo_br = "[" if low_inclusive and low is not None else "("
    hi_br = "]" if high_inclusive and high is not None else ")"
    allowed = f"{lo_br}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_br}"
    bad = ~np.isfinite(arr)
    if low is not None:
        bad |= (arr < low) if low_inclusive else (arr <= low)
    if high is not None:
        bad |= (arr > high) if high_inclusive else (arr >= high)
    if bad.any():
        first = arr[bad].flat[0] if arr.ndim else arr.item()
        what = "must be finite and in" if not np.isfinite(first) else "must be in"
        raise MotivlabInputError(f"{name} {what} {allowed}, got {first!r}")
    return arr


@dataclass(frozen=True)
class Problem:
    """A batch of homogeneous-coupling problems (``n=1`` is the single-environment model).

    Every numeric field is a scalar or an array; all fields broadcast to one batch shape.
    Learnabilities are the per-environment ``α`` (the docs fix ``α^y = 1`` so the others read as
    ratios); ``c_*`` are the off-diagonal transfer couplings; ``n`` the number of environments.
    """

    p0: ArrayLike = 0.01  # initial propensity p(0) = σ(z0), in (0, 1)
    sr0: ArrayLike = 0.5  # initial reward-seeking skill sR(0), in (0, 1)
    sl0: ArrayLike = 0.1  # initial local skill sL(0), in (0, 1)
    alpha_z: ArrayLike = 1.0  # learnability of the propensity logit, > 0
    alpha_x: ArrayLike = 1.0  # learnability of the reward-seeking skill logit, > 0
    alpha_y: ArrayLike = 1.0  # learnability of the local skill logit, > 0
    c_z: ArrayLike = 1.0  # transfer of propensity between environments, in [0, 1]
    c_x: ArrayLike = 1.0  # transfer of reward-seeking skill, in [0, 1]
    c_y: ArrayLike = 0.0  # transfer of local skill, in [0, 1]
    n: ArrayLike = 1.0  # number of environments (real, ≥ 1)
    kappa: ArrayLike = 0.0  # cost of reward-seeking reasoning κ ≥ 0
    lam: ArrayLike = 0.0  # coupled skills λ ≥ 0: sR = σ(x + λ y)
    normalize: Normalize = "sum"  # "sum" over environments (default) or "mean" (fixed total batch)

    def __post_init__(self) -> None:
        check_choice("normalize", self.normalize, ["sum", "mean"])
        arrays = {
            name: check_array_range(name, getattr(self, name), low=lo, high=hi, low_inclusive=li, high_inclusive=hi_inc)
            for name, (lo, hi, li, hi_inc) in _RANGES.items()
        }
        try:
            shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
        except ValueError:
            shapes = {k: a.shape for k, a in arrays.items() if a.shape}
            raise MotivlabInputError(f"parameter arrays do not broadcast together: shapes {shapes}") from None
        for name, arr in arrays.items():
            object.__setattr__(self, name, np.broadcast_to(arr, shape))

    # ------------------------------------------------------------------ derived quantities
    @property
    def batch_shape(self) -> tuple[int, ...]:
        return np.shape(self.p0)

    @property
    def size(self) -> int:
        return int(np.prod(self.batch_shape, dtype=int))

    def effective_alpha(self) -> np.ndarray:
        """``α^k_eff(N)`` for k = z, x, y, stacked: shape ``(3, *batch)``."""
        alpha = np.stack([self.alpha_z, self.alpha_x, self.alpha_y])  # (3, *B)
        c = np.stack([self.c_z, self.c_x, self.c_y])  # (3, *B)
        n = np.asarray(self.n)
        eff = alpha * (1.0 + (n - 1.0) * c)
        return eff / n if self.normalize == "mean" else eff

    def initial_state(self) -> np.ndarray:
        """Initial latents ``(z0, x0, y0)``, shape ``(3, *batch)``.

        With ``λ > 0`` the reward-seeking skill is ``σ(x + λ y)``, so ``x0 = logit(sR0) - λ y0``
        keeps ``sR(0) = sr0`` as the user wrote it.
        """
        y0 = logit(self.sl0)
        return np.stack([logit(self.p0), logit(self.sr0) - self.lam * y0, y0])

    def replace(self, **changes: Any) -> Problem:
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)

    def flat(self) -> Problem:
        """The same members with the batch flattened to one dimension (shape ``(size,)``)."""
        fields = {name: np.reshape(getattr(self, name), -1) for name in _RANGES}
        return Problem(**fields, normalize=self.normalize)

    def as_dict(self) -> dict[str, Any]:
        """Plain Python values (lists for arrays): for JSON output and run metadata."""
        out: dict[str, Any] = {name: np.asarray(getattr(self, name)).tolist() for name in _RANGES}
        out["normalize"] = self.normalize
        return out


def sample_problems(
    base: Problem,
    rng: np.random.Generator,
    draws: int,
    *,
    sigma_alpha: tuple[float, float, float] = (0.0, 0.0, 0.0),
    sigma_logit: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Problem:
    """``draws`` random variants of ``base`` along a new leading batch axis: ``(draws, *base.batch)``.

    The heterogeneity of the heterogeneous model applied *per draw* (every environment of one draw
    stays identical, so the homogeneous reduction still holds): ``log α^k ~ N(log α^k, σ_k²)`` and
    initial logits ``z0, x0, y0 ~ N(logit(p0), ·)``, ``N(logit(sR0), ·)``, ``N(logit(sL0), ·)``.
    Use it to propagate uncertainty about learnabilities or initial conditions into ``p_∞`` or
    ``N*``. Environment-to-environment heterogeneity is :mod:`motivlab.theory.heterogeneous.population`.
    """
    draws = int(check_array_range("draws", draws, low=1))
    sa = [float(check_array_range(f"sigma_alpha[{i}]", v, low=0.0)) for i, v in enumerate(sigma_alpha)]
    sl = [float(check_array_range(f"sigma_logit[{i}]", v, low=0.0)) for i, v in enumerate(sigma_logit)]
    shape = (draws, *base.batch_shape)
    fields: dict[str, Any] = {name: np.broadcast_to(getattr(base, name), shape) for name in _RANGES}
    for name, sigma in zip(("alpha_z", "alpha_x", "alpha_y"), sa, strict=True):
        if sigma > 0:  # σ = 0 leaves the value bit-identical (and draws nothing)
            fields[name] = fields[name] * np.exp(sigma * rng.standard_normal(shape))
    for name, sigma in zip(("p0", "sr0", "sl0"), sl, strict=True):
        if sigma > 0:
            fields[name] = 1.0 / (1.0 + np.exp(-(logit(fields[name]) + sigma * rng.standard_normal(shape))))
    return Problem(**fields, normalize=base.normalize)
