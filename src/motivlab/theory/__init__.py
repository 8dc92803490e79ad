"""The behavioural-selection model: simulate, sweep, find the critical diversity, calibrate, fit."""

from motivlab.theory.critical import CriticalResult, critical_diversity
from motivlab.theory.dynamics import IntegratorConfig, Solution, final_propensity, simulate, vector_field
from motivlab.theory.model import expected_reward, reward_gradients, sigmoid, skills
from motivlab.theory.params import Problem

__all__ = [
    "CriticalResult",
    "IntegratorConfig",
    "Problem",
    "Solution",
    "critical_diversity",
    "expected_reward",
    "final_propensity",
    "reward_gradients",
    "sigmoid",
    "simulate",
    "skills",
    "vector_field",
]
