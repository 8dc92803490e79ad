"""Integrators for the single-environment / homogeneous model, batched over parameter grids.

The state of one batch member is its latents ``(z, x, y)`` (logits of propensity, reward-seeking
skill, local skill); a batch is an array of shape ``(3, M)``. The vector field is gradient flow on
expected reward, scaled by the effective learnabilities (see :mod:`motivlab.theory.homogeneous.params`)::

    d(z, x, y)/dt = α_eff ⊙ ∇R(z, x, y)                                  shapes (3, M)

Time ``t`` is in the units in which the ``α`` are written (``α^y = 1`` in the docs' convention).
Training runs *until saturation*: each member stops when the rates of ``p``, ``sR`` and ``sL`` all
fall below ``tol × min_k α^k_eff`` (the rate measured on that member's slowest clock, so a slow
local skill is never declared saturated just because its learnability is small).

*A stopping rule, not a limit.* ``p_∞`` is ``p`` when this rule fires, so the saturation ``N*``
(:func:`motivlab.theory.homogeneous.critical.critical_diversity_at_saturation`) is defined by it:
the rule can fire at an unstable separatrix, during a slow ``log t`` drift of ``p``, or inside a
``κ > 0`` transient that later reverses (measured: with ``κ = 0.1, p0 = 0.1`` the fixed-horizon
``N*`` runs from −22 % at ``T = 10²`` to +8 % at ``T = 10⁶`` around the saturation value; without a
cost it moves < 2 %; ``benchmarks/theory_nstar_horizon.py``). For comparisons with finite RL runs
use the fixed-horizon ``N*``,
:func:`motivlab.theory.fit.forward.critical_diversity_at_horizon` (docs/theory.md).

Three integrators, chosen by :class:`IntegratorConfig.method`:

* ``"euler"`` — explicit Euler with a fixed step ``dt / max_k α^k_eff`` (``dt`` in units of the
  member's fastest clock, so it is stable for any learnability ratio). The reference. Its cost
  grows with the ratio of fastest to slowest learnability, which reaches 10⁷ in diversity sweeps.
* ``"adaptive"`` (default) — Heun's method (explicit trapezoid, 2nd order) with a step chosen per
  member so that no latent moves by more than ``delta`` (in logit units) per step:
  ``dt = delta / max_k |dlatent_k/dt|``, capped at ``growth × t``. Early on this resolves the fast,
  stiff dynamics of large ``α_eff``; during saturation rates decay like ``1/t`` and the step grows
  geometrically, i.e. the scheme steps in log-time. A few hundred steps reach saturation for any
  ``α`` ratio (10⁷ included). ``"adaptive_euler"`` is the same step rule with an Euler update.
  Tests check both against small-step Euler and measure their convergence orders
  (``tests/test_theory_dynamics.py``).

Both loops are over *time steps* only; every step is one vectorised update of all still-active
members (finished members are dropped from the working set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from motivlab.theory.homogeneous.model import reward_gradients, skills
from motivlab.theory.homogeneous.params import Problem
from motivlab.validation import config_rules

__all__ = ["IntegratorConfig", "Solution", "final_propensity", "simulate", "vector_field"]

Method = Literal["adaptive", "adaptive_euler", "euler"]


class IntegratorConfig(BaseModel):
    """How to integrate to saturation. The defaults put N* within ~0.1 % of a tight LSODA solution."""

    model_config = config_rules(frozen=True)

    method: Method = Field(
        "adaptive",
        description="'adaptive' (Heun with log-time steps, default), 'adaptive_euler' (same steps, Euler update) "
        "or 'euler' (fixed step, the reference).",
    )
    dt: float = Field(
        0.05, gt=0, le=1.0,
        description="Euler step in units of the fastest clock (1/max α_eff). 0.05 keeps Euler's error below "
        "1e-3 in p on the reference problem; stability needs dt < ~2.",
    )
    delta: float = Field(
        0.2, gt=0, le=0.5,
        description="Adaptive: largest change of any logit in one step (Heun, error ∝ delta²). 0.2 puts N* "
        "within 0.05 % of a tight LSODA solution on the reference problem.",
    )
    growth: float = Field(0.3, gt=0, le=1.0, description="Adaptive: a step is at most growth × t (log-time cap).")
    tol: float = Field(
        1e-6, gt=0, lt=1e-2,
        description="Saturation: stop a member when |dp/dt|, |dsR/dt|, |dsL/dt| < tol × min α_eff.",
    )
    t_max: float = Field(1e9, gt=0, description="Horizon in units of the slowest clock (1/min α_eff).")
    max_steps: int = Field(200_000, gt=0, description="Hard cap on steps; members not saturated are flagged.")


@dataclass(frozen=True)
class Solution:
    """Final state per member (batch-shaped arrays) and, optionally, the saved trajectory."""

    p: np.ndarray  # final propensity, (*B)
    s_r: np.ndarray  # final reward-seeking skill, (*B)
    s_l: np.ndarray  # final local skill, (*B)
    t: np.ndarray  # time at which each member stopped, (*B)
    steps: np.ndarray  # steps taken per member, (*B)
    saturated: np.ndarray  # True where the saturation criterion was met (else t_max / max_steps hit), (*B)
    trajectory: dict[str, np.ndarray] | None = None  # 't','p','s_r','s_l': (n_saved, M) — padded with the final value


def vector_field(state: np.ndarray, alpha_eff: np.ndarray, kappa: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``d(z, x, y)/dt = α_eff ⊙ ∇R``; state, alpha_eff: ``(3, M)``; kappa, lam: ``(M,)``. Pure."""
    g = reward_gradients(state[0], state[1], state[2], kappa=kappa, lam=lam)  # 3 × (M,)
    return alpha_eff * np.stack(g)  # (3, M)


def _rates(
    state: np.ndarray, alpha: np.ndarray, kappa: np.ndarray | None, lam: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Latent rates ``(3, A)`` and σ' of each latent ``(3, A)``, in one fused pass.

    The same numbers as :func:`vector_field` (a test checks it) with one σ call and few
    temporaries: this is the integrators' hot path. ``kappa``/``lam`` are ``None`` when all zero.
    """
    if lam is None:
        arg = state
    else:
        arg = state.copy()
        arg[1] += lam * state[2]  # sR = σ(x + λ y)
    # σ, 1 − σ and σ' from e = exp(−arg): one exp and no cancellation in 1 − σ or σ' at large
    # logits (scipy's expit is ~4× slower than exp and leaves 1 − σ to cancel). Logits here stay
    # far inside ±700; the floor only keeps exp finite.
    e = np.exp(-np.maximum(arg, -700.0))  # (3, A)
    sig = 1.0 / (1.0 + e)  # σ(arg): p, sR, sL
    comp = e * sig  # 1 − σ(arg), exact
    d = comp * sig  # σ'(arg)
    q = comp[0]  # 1 − p
    gap = sig[1] - sig[2]
    if kappa is not None:
        gap -= kappa
    g = np.empty_like(state)
    np.multiply(d[0], gap, out=g[0])
    np.multiply(sig[0], d[1], out=g[1])
    np.multiply(q, d[2], out=g[2])
    if lam is not None:
        g[2] += lam * g[1]
    g *= alpha
    return g, d


def _prob_speed(rates: np.ndarray, d: np.ndarray, lam: np.ndarray | None) -> np.ndarray:
    """``max(|dp/dt|, |dsR/dt|, |dsL/dt|)`` per member, ``(A,)`` (chain rule through σ)."""
    prob = d * rates
    if lam is not None:
        prob[1] += d[1] * lam * rates[2]
    return _absmax3(prob)


def _absmax3(a: np.ndarray) -> np.ndarray:
    """``|a|.max(axis=0)`` for a ``(3, A)`` array; elementwise maxima beat the axis-0 reduction."""
    a = np.abs(a)
    return np.maximum(np.maximum(a[0], a[1]), a[2])


def simulate(problem: Problem, config: IntegratorConfig | None = None, *, save_trajectory: bool = False) -> Solution:
    """Integrate every member of ``problem`` to saturation; returns batch-shaped final values."""
    cfg = config or IntegratorConfig()
    flat = problem.flat()
    alpha = flat.effective_alpha()  # (3, M)
    kappa, lam = np.asarray(flat.kappa, float), np.asarray(flat.lam, float)  # (M,)
    k_opt, l_opt = (kappa if kappa.any() else None), (lam if lam.any() else None)
    state = flat.initial_state().astype(float)  # (3, M)
    m = state.shape[1]
    a_min, a_max = alpha.min(axis=0), alpha.max(axis=0)  # (M,)
    t, steps = np.zeros(m), np.zeros(m, dtype=np.int64)
    saturated = np.zeros(m, dtype=bool)
    saved: list[tuple[np.ndarray, np.ndarray]] = [(t.copy(), state.copy())] if save_trajectory else []
    dt_fn, order = _STEPPERS[cfg.method]
    # Working set: the still-active members, compacted only when some finish.
    idx = np.arange(m)
    s, a, k, lm, tt = state.copy(), alpha, k_opt, l_opt, t.copy()
    stop_rate, hi_a, t_end = cfg.tol * a_min, a_max, cfg.t_max / a_min  # (A,) each

    for it in range(cfg.max_steps + 1):
        rates, d = _rates(s, a, k, lm)
        done = _prob_speed(rates, d, lm) < stop_rate
        stop = done | (tt >= t_end) if it < cfg.max_steps else np.ones_like(done)
        if stop.any():
            saturated[idx[done]] = True
            gone = idx[stop]
            state[:, gone], t[gone], steps[gone] = s[:, stop], tt[stop], it
            keep = ~stop
            idx, s, a, k, lm, tt, stop_rate, hi_a, t_end, rates = (
                idx[keep], s[:, keep], a[:, keep], _sub(k, keep), _sub(lm, keep), tt[keep],
                stop_rate[keep], hi_a[keep], t_end[keep], rates[:, keep],
            )
            if idx.size == 0:
                break
        dt = np.minimum(dt_fn(rates, tt, hi_a, cfg), t_end - tt)  # (A,) land exactly on the horizon
        # Euler, or Heun (explicit trapezoid): an Euler predictor, then the mean of both slopes.
        s = s + dt * rates if order == 1 else s + 0.5 * dt * (rates + _rates(s + dt * rates, a, k, lm)[0])
        tt = tt + dt
        if save_trajectory:
            state[:, idx], t[idx] = s, tt
            saved.append((t.copy(), state.copy()))

    p, s_r, s_l = skills(state[0], state[1], state[2], lam)
    shape = problem.batch_shape
    traj = None
    if save_trajectory:
        ts = np.stack([x[0] for x in saved])  # (n_saved, M)
        ss = np.stack([x[1] for x in saved], axis=1)  # (3, n_saved, M)
        tp, tr, tl = skills(ss[0], ss[1], ss[2], lam)
        traj = {"t": ts, "p": tp, "s_r": tr, "s_l": tl}
    return Solution(
        p=_no_nan(p).reshape(shape), s_r=_no_nan(s_r).reshape(shape), s_l=_no_nan(s_l).reshape(shape),
        t=t.reshape(shape), steps=steps.reshape(shape), saturated=saturated.reshape(shape), trajectory=traj,
    )


def final_propensity(problem: Problem, config: IntegratorConfig | None = None) -> np.ndarray:
    """``p_∞`` for every member, batch-shaped (the number the figures and N* are built on)."""
    return simulate(problem, config).p


# ------------------------------------------------------------------ step-size rules


def _euler_dt(rates: np.ndarray, t: np.ndarray, a_max: np.ndarray, cfg: IntegratorConfig) -> np.ndarray:
    """Fixed step ``dt`` in units of the member's fastest clock: stable for any learnability ratio."""
    return cfg.dt / a_max


def _adaptive_dt(rates: np.ndarray, t: np.ndarray, a_max: np.ndarray, cfg: IntegratorConfig) -> np.ndarray:
    """No logit moves more than ``delta`` per step; the log-time cap ``growth × t`` binds late."""
    speed = _absmax3(rates)  # (A,)
    cap = np.maximum(cfg.growth * t, cfg.delta / a_max)  # the floor lets t leave 0
    return np.minimum(cfg.delta / np.maximum(speed, 1e-300), cap)


# method -> (step-size rule, order of the update: 1 = Euler, 2 = Heun)
_STEPPERS = {"euler": (_euler_dt, 1), "adaptive_euler": (_adaptive_dt, 1), "adaptive": (_adaptive_dt, 2)}


def _sub(a: np.ndarray | None, keep: np.ndarray) -> np.ndarray | None:
    return None if a is None else a[keep]


def _no_nan(a: np.ndarray) -> np.ndarray:
    """σ of a finite logit is finite; this guards the promise that no result is NaN."""
    if np.isnan(a).any():  # pragma: no cover - would be a bug in the integrator
        raise FloatingPointError("NaN in an integrated trajectory")
    return a


