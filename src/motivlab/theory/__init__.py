"""The behavioural-selection model: simulate, sweep, find the critical diversity, calibrate, fit."""

from motivlab.theory.model import expected_reward, reward_gradients, sigmoid, skills

__all__ = ["expected_reward", "reward_gradients", "sigmoid", "skills"]
