"""Options of the behavioural-selection fit, in a module of their own.

Why separate: :mod:`motivlab.theory.fit.estimator` (the optimiser driver) and
:mod:`motivlab.theory.fit.problem` (residuals and Jacobian) both need the options; with the
options here neither imports the other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from motivlab.validation import config_rules

__all__ = ["FitConfig"]


class FitConfig(BaseModel):
    """Options of :class:`BehaviouralSelectionFit` (and ``motivlab theory fit``)."""

    model_config = config_rules()

    coupling: Literal["homogeneous", "lengths", "none"] = "homogeneous"
    """Transfer model: one coupling ``c_k ∈ [0,1]`` per latent for every env pair; Gaussian
    kernel with lengths ``ℓ_k`` over env coordinates (needs ``coords``); or no transfer (C = I)."""
    shared_learnabilities: bool = True
    """One ``α^k`` for all envs (3 parameters) or one per env (3N)."""
    shared_initial: bool = False
    """One set of initial logits for all envs (3 parameters) instead of one per env (3N)."""
    kappa: float = Field(0.0, ge=0.0)
    """Cost of reward-seeking reasoning ``κ`` (fixed input, not fitted)."""
    lam: float = Field(0.0, ge=0.0)
    """Coupled-skills extension ``sR = σ(x + λ y)`` (fixed input, not fitted)."""
    normalize: Literal["sum", "mean"] = "sum"
    """Transfer sums gradients over trained envs, or averages them (fixed total batch)."""
    advantage_scale: Literal["none", "group"] = "none"
    """``"none"``: the theory's gradient flow. ``"group"``: GRPO's per-group std scaling in mean
    field (each env's gradient × ``(1 − R^G − (1−R)^G)/√(R(1−R))``, ``G = group_size``); fit both
    to a ``scale_rewards="group"`` run and compare residuals to measure the departure."""
    group_size: int = Field(8, ge=2)
    """GRPO group size ``G`` (only with ``advantage_scale="group"``)."""
    clip: float = Field(1e-3, gt=0.0, lt=0.5)
    """Observations and predictions are clipped to ``[clip, 1 - clip]`` before the logit."""
    n_steps: int = Field(200, ge=10, le=100_000)
    """Euler substeps over the observed time span (at least one per observation interval)."""
    fixed: dict[str, float] = Field(default_factory=dict)
    """Parameters held at a given natural value, e.g. ``{"c_y": 0.0, "alpha_x": 0.01}``."""
    uncertainty: Literal["jacobian", "bootstrap"] = "jacobian"
    """Standard errors from the Jacobian at the optimum, or a parametric bootstrap."""
    n_bootstrap: int = Field(50, ge=2, le=10_000)
    """Bootstrap refits (only with ``uncertainty="bootstrap"``)."""
    seed: int = 0
    """Seed of the bootstrap noise."""
    loss: Literal["linear", "soft_l1", "huber", "cauchy"] = "linear"
    """Loss on residuals (scipy's definitions, ``f_scale = 1`` logit); non-linear ones down-weight outliers."""
    jacobian: Literal["auto", "exact", "block"] = "auto"
    """Optimiser's Jacobian: exact forward differences (P + 1 integrations), or ``block``, which
    ignores an env's initial logits' effect on other envs (4 + globals integrations); ``auto`` =
    block with per-env initial conditions and at least 100 envs. A block descent is always
    finished by exact iterations, so the optimum and the covariance are those of the exact one."""
    n_starts: int = Field(3, ge=1, le=50)
    """Optimiser starts: the grid start plus jittered copies (scouted for 6 iterations, continued
    only if competitive); the lowest cost wins."""
    max_iter: int = Field(300, ge=1)
    """Maximum number of Levenberg–Marquardt iterations (one Jacobian each). 300 since the demo
    run's fit stopped at 100 (``converged: false``); a fit that hits the limit is reported
    loudly (``success_`` False, CLI warning on stderr and in the report)."""
    weighting: Literal["variance", "none"] = "variance"
    """Residual weights: ``"variance"`` divides each logit residual by ``sqrt(floor² + v)``, ``v``
    the entry's sampling variance (0 for exact measurements, the binomial variance of the
    empirical logit for sampled ones; ``Trajectories.variance``); ``"none"`` = equal weights."""
    noise_floor: float | None = Field(None, ge=0.0)
    """The ``floor`` (logit units) of the weights: noise every entry has (model error, what an
    exact measurement does not capture). ``None`` = estimated: after a first fit at floor 0.3,
    the floor that makes the weighted mean squared residual 1, then refitted from that optimum."""
