"""The behavioural-selection model: simulate, sweep, find the critical diversity, calibrate, fit.

Public API (imported lazily, so ``import motivlab.theory`` and the CLI start fast):

* problem and integrators — :class:`Problem`, :func:`sample_problems`, :class:`IntegratorConfig`, :func:`simulate`,
  :func:`final_propensity`, :func:`vector_field`, :class:`Solution`;
* critical diversity — :func:`critical_diversity`, :class:`CriticalResult`;
* sweeps — :func:`learnability_heatmap`, :func:`diversity_sweep`, :func:`critical_curve`,
  :func:`fit_loglog_slope`, :class:`SlopeFit`, :func:`log_grid`;
* figures — :func:`make_figures`, :func:`make_figure5`;
* heterogeneous coupling — :class:`HeterogeneousConfig`, :func:`draw_population`, :func:`sample_coordinates`,
  :func:`gaussian_coupling`, :func:`calibrate_scale`, :func:`loglog_slope`, :func:`refine_nstar`;
* fitting — :class:`BehaviouralSelectionFit`, :func:`load_trajectories`, :class:`Trajectories`,
  :func:`simulate_trajectories`;
* per-environment quantities — :func:`sigmoid`, :func:`skills`, :func:`expected_reward`,
  :func:`reward_gradients`.

The heterogeneous model lives in :mod:`motivlab.theory.heterogeneous`, fitting in
:mod:`motivlab.theory.fit`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "expected_reward": "model",
    "reward_gradients": "model",
    "sigmoid": "model",
    "skills": "model",
    "Problem": "params",
    "sample_problems": "params",
    "IntegratorConfig": "dynamics",
    "Solution": "dynamics",
    "simulate": "dynamics",
    "final_propensity": "dynamics",
    "vector_field": "dynamics",
    "CriticalResult": "critical",
    "critical_diversity": "critical",
    "SlopeFit": "sweeps",
    "critical_curve": "sweeps",
    "diversity_sweep": "sweeps",
    "fit_loglog_slope": "sweeps",
    "learnability_heatmap": "sweeps",
    "log_grid": "sweeps",
    "make_figures": "figures",
    # heterogeneous model (its simulate / diversity_sweep / critical_diversity stay in their modules)
    "HeterogeneousConfig": "heterogeneous",
    "Population": "heterogeneous",
    "draw_population": "heterogeneous",
    "mean_propensity": "heterogeneous",
    "sample_coordinates": "geometries",
    "GEOMETRIES": "geometries",
    "gaussian_coupling": "kernels",
    "refine_nstar": "diversity",
    "calibrate_scale": "calibration",
    "loglog_slope": "calibration",
    "make_figure5": "figure5",
    # fitting the model to measured trajectories
    "BehaviouralSelectionFit": "fit",
    "load_trajectories": "fit_data",
    "Trajectories": "fit_data",
    "simulate_trajectories": "fit_forward",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"motivlab.theory.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'motivlab.theory' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
