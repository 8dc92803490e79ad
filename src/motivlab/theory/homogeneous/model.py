"""The behavioural-selection model's per-environment quantities, as pure array functions.

Latents per environment: ``z`` (propensity logit), ``x`` (reward-seeking skill logit), ``y``
(local skill logit). With ``p = σ(z)``, ``sL = σ(y)`` and ``sR = σ(x + λ y)`` the expected
reward is ``R = p (sR - κ) + (1 - p) sL``. Every function broadcasts over leading batch
dimensions, shape ``(..., N)``; nothing here loops over environments or ensemble members.

See ``docs/theory.md`` ("The model in full", "Honest limits") for the model and its stated limits.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

__all__ = ["expected_reward", "logit", "reward_gradients", "sigmoid", "skills"]

sigmoid = expit  # numerically stable logistic, re-exported under the name the docs use


def skills(z: np.ndarray, x: np.ndarray, y: np.ndarray, lam: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, sR, sL)`` from the latents; ``λ`` couples local heuristics into reward-seeking skill."""
    return expit(z), expit(x + lam * y), expit(y)


def expected_reward(
    z: np.ndarray, x: np.ndarray, y: np.ndarray, *, kappa: float = 0.0, lam: float = 0.0
) -> np.ndarray:
    """``R = p (sR - κ) + (1 - p) sL`` per environment, shape ``(..., N)``."""
    p, s_r, s_l = skills(z, x, y, lam)
    return p * (s_r - kappa) + (1.0 - p) * s_l


def reward_gradients(
    z: np.ndarray, x: np.ndarray, y: np.ndarray, *, kappa: float = 0.0, lam: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-environment gradients ``(∂R_j/∂z_j, ∂R_j/∂x_j, ∂R_j/∂y_j)``, each shape ``(..., N)``.

    Each skill's gradient carries the probability of the route that exercises it (``p`` for
    reward-seeking, ``1 - p`` for local): RL is on-policy, so a skill only improves as often as
    its route is sampled. With ``λ > 0`` local skill also feeds reward-seeking skill (chain rule
    through ``sR = σ(x + λ y)``).
    """
    p, s_r, s_l = skills(z, x, y, lam)
    g_z = p * (1.0 - p) * (s_r - kappa - s_l)
    d_sr = p * s_r * (1.0 - s_r)
    g_x = d_sr
    g_y = (1.0 - p) * s_l * (1.0 - s_l) + lam * d_sr
    return g_z, g_x, g_y
