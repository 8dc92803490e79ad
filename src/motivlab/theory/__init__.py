"""The behavioural-selection model: simulate, sweep, find the critical diversity, calibrate, fit.

Public API (imported lazily, so ``import motivlab.theory`` and the CLI start fast):

* problem and integrators — :class:`Problem`, :func:`sample_problems`, :class:`IntegratorConfig`, :func:`simulate`,
  :func:`final_propensity`, :func:`vector_field`, :class:`Solution`;
* critical diversity — :func:`critical_diversity_at_saturation` (homogeneous model trained until
  saturation; ``critical_diversity`` is the same function under its historical name),
  :func:`critical_diversity_at_horizon` (a fixed training budget, for finite RL runs),
  :func:`critical_diversity_from_grid` (interpolated on a precomputed ``p_∞(N)`` grid), :class:`CriticalResult`;
* sweeps — :func:`learnability_heatmap`, :func:`diversity_sweep`, :func:`critical_curve`,
  :func:`fit_loglog_slope`, :class:`SlopeFit`, :func:`log_grid`;
* figures — :func:`make_figures`, :func:`make_figure5`;
* heterogeneous coupling — :class:`HeterogeneousConfig`, :func:`draw_population`, :func:`sample_coordinates`,
  :func:`gaussian_coupling`, :func:`calibrate_scale`, :func:`loglog_slope`, :func:`refine_nstar`;
* fitting — :class:`BehaviouralSelectionFit`, :func:`load_trajectories`, :class:`Trajectories`,
  :func:`simulate_trajectories`;
* per-environment quantities — :func:`sigmoid`, :func:`skills`, :func:`expected_reward`,
  :func:`reward_gradients`.

The heterogeneous model lives in :mod:`motivlab.theory.heterogeneous.population`, fitting in
:mod:`motivlab.theory.fit.estimator`.
"""

from __future__ import annotations

from motivlab._lazy import lazy_exports

_LAZY = {
    "expected_reward": "homogeneous.model",
    "reward_gradients": "homogeneous.model",
    "sigmoid": "homogeneous.model",
    "skills": "homogeneous.model",
    "Problem": "homogeneous.params",
    "sample_problems": "homogeneous.params",
    "IntegratorConfig": "homogeneous.dynamics",
    "Solution": "homogeneous.dynamics",
    "simulate": "homogeneous.dynamics",
    "final_propensity": "homogeneous.dynamics",
    "vector_field": "homogeneous.dynamics",
    "CriticalResult": "homogeneous.critical",
    "critical_diversity_at_saturation": "homogeneous.critical",
    "critical_diversity_at_horizon": "fit.forward",
    "critical_diversity_from_grid": "heterogeneous.diversity",
    "SlopeFit": "homogeneous.sweeps",
    "critical_curve": "homogeneous.sweeps",
    "diversity_sweep": "homogeneous.sweeps",
    "fit_loglog_slope": "homogeneous.sweeps",
    "learnability_heatmap": "homogeneous.sweeps",
    "log_grid": "homogeneous.sweeps",
    "make_figures": "figures",
    # heterogeneous model (its simulate / diversity_sweep stay in their modules)
    "HeterogeneousConfig": "heterogeneous.population",
    "Population": "heterogeneous.population",
    "draw_population": "heterogeneous.population",
    "mean_propensity": "heterogeneous.population",
    "sample_coordinates": "heterogeneous.geometries",
    "GEOMETRIES": "heterogeneous.geometries",
    "gaussian_coupling": "heterogeneous.kernels",
    "refine_nstar": "heterogeneous.diversity",
    "calibrate_scale": "heterogeneous.calibration",
    "loglog_slope": "heterogeneous.calibration",
    "make_figure5": "heterogeneous.figure5",
    # fitting the model to measured trajectories
    "BehaviouralSelectionFit": "fit.estimator",
    "load_trajectories": "fit.data",
    "Trajectories": "fit.data",
    "simulate_trajectories": "fit.forward",
}

# Historical name, kept as an alias: the saturation N* is the model's definition (docs/theory.md).
_ALIASES = {"critical_diversity": "critical_diversity_at_saturation"}

__all__ = sorted([*_LAZY, *_ALIASES])

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), aliases=_ALIASES)
