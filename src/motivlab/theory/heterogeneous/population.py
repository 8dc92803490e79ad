"""The heterogeneous behavioural-selection model: environments at coordinates, transfer by distance.

Model (``docs/theory.md``, "The model in full"). Environment ``i`` has latents
``z_i, x_i, y_i`` (propensity, reward-seeking skill, local skill logits), a coordinate ``u_i``
drawn from a geometry (:mod:`motivlab.theory.heterogeneous.geometries`), learnabilities
``log α^k_i ~ N(log ᾱ^k, σ_k²)`` and initial logits ``N(logit(p0), ·)`` etc. Each latent climbs
its reward gradient, spread by ``C^k_ij = exp(-|u_i − u_j|²/(2 ℓ_k²))``:

    dk_i/dt = α^k_i Σ_j C^k_ij g^k_j          (÷ N with normalize="mean")

Integrator. Explicit Euler or Heun (default; 2nd order) in latent space with *step control*: each step is
``dt_eff = min(dt, max_dlatent / max_i |dlatent_i/dt|)`` (per resample and initial condition),
i.e. no latent moves more than ``max_dlatent`` logits per step. With ``sum`` normalisation the
rates grow ∝ N, so a fixed ``dt`` small enough for N = 10,000 would waste ~10⁴ steps at N = 1;
the control keeps the step count roughly independent of N. ``max_dlatent=None`` gives plain
fixed-``dt`` Euler. Measured against fixed ``dt = 0.002`` Euler (N = 10 and 200, uniform geometry,
p0 ∈ {0.1, 0.01, 0.001}): Heun with ``dt = 5, max_dlatent = 0.3`` (the defaults) agrees on
``p_∞`` to within 0.002 in ~110 steps, Euler with ``max_dlatent = 0.1`` to within 0.009 in ~310;
``tests/test_theory_heterogeneous.py`` re-checks the agreement.
Integration stops at the horizon ``T`` or when ``p``, ``sR`` *and* ``sL`` of every environment change
slower than ``tol`` per unit time. (Testing ``dp/dt`` alone, as first specified, stops runs with
tiny ``p0`` at t = 0 — their propensity has not started to move while the skills race; it
inflated the homogeneous ``N*(p0 = 0.001)`` from 151.5 to 250.5.)

Batching. State arrays are ``(R, N, P)``: ``R`` resamples (independent draws of geometry and
heterogeneity), ``N`` environments, ``P`` initial propensities ``p0`` integrated together (they
share the coupling, so one kernel mat-vec serves all of them). Latents whose transfer lengths are
equal share one coupling and one mat-vec. Only the time loop is a Python loop.

Sweeps over N, ``N*`` and its refinement live in :mod:`motivlab.theory.heterogeneous.diversity`; calibration and
slopes in :mod:`motivlab.theory.heterogeneous.calibration`.

Usage::

    cfg = HeterogeneousConfig(geometry="clustered", scale=2.0)
    pop = draw_population(cfg, n_max=500, resamples=8, rng=np.random.default_rng(0))
    traj = simulate(cfg, pop, 200, p0s=[0.1, 0.01])
    mean_propensity(traj)   # (8, 2): p_∞ per resample and p0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from motivlab.errors import MotivlabInputError
from motivlab.theory.heterogeneous.geometries import GEOMETRIES, Geometry
from motivlab.theory.heterogeneous.kernels import (
    ConstantCoupling,
    Coupling,
    KernelMethod,
    gaussian_coupling,
    rff_noise,
)
from motivlab.theory.homogeneous.model import logit, reward_gradients, sigmoid
from motivlab.validation import config_rules

__all__ = [
    "HeterogeneousConfig",
    "Population",
    "Trajectory",
    "draw_population",
    "integrate",
    "mean_propensity",
    "simulate",
]

LATENTS = ("z", "x", "y")


class HeterogeneousConfig(BaseModel):
    """Every parameter of one heterogeneous simulation (defaults: the figure-5 set-up)."""

    model_config = config_rules(frozen=True)

    geometry: Geometry = Field("uniform", description="Where environments live (see geometries.py).")
    d: int = Field(2, ge=1, description="Coordinate dimension.")
    scale: float = Field(1.0, gt=0, description="Coordinate scale factor (domain size; calibrated).")
    coupling: Literal["gaussian", "constant"] = Field(
        "gaussian", description="'gaussian': C_ij = exp(-|u_i-u_j|²/2ℓ²); 'constant': C_ij = c (homogeneous)."
    )
    ell_z: float | None = Field(0.1, gt=0, description="Propensity transfer length ℓ_z; None = no transfer.")
    ell_x: float | None = Field(0.1, gt=0, description="Reward-seeking-skill transfer length ℓ_x.")
    ell_y: float | None = Field(
        None, gt=0, description="Local-skill transfer length ℓ_y; None (default) = local skill does not transfer."
    )
    c: tuple[float, float, float] = Field(
        (1.0, 1.0, 0.0), description="Constant couplings (c_z, c_x, c_y) in [0, 1], used with coupling='constant'."
    )
    alpha: tuple[float, float, float] = Field(
        (1.0, 1.0, 1.0), description="Median learnabilities (ᾱ_z, ᾱ_x, ᾱ_y) > 0; α_y = 1 fixes the time unit."
    )
    sigma_alpha: tuple[float, float, float] = Field(
        (0.3, 0.3, 0.3), description="s.d. of log-learnabilities across environments (≥ 0)."
    )
    p0: float = Field(0.01, gt=0, lt=1, description="Initial propensity (centre of the initial z logits).")
    sr0: float = Field(0.5, gt=0, lt=1, description="Initial reward-seeking skill sR_0.")
    sl0: float = Field(0.1, gt=0, lt=1, description="Initial local skill sL_0.")
    init_sd: tuple[float, float, float] = Field(
        (0.3, 0.3, 0.3), description="s.d. of the initial logits (z, x, y) across environments (≥ 0)."
    )
    kappa: float = Field(0.0, ge=0, description="Cost κ of reward-seeking reasoning.")
    lam: float = Field(0.0, ge=0, description="Coupled skills: sR = σ(x + λ y).")
    normalize: Literal["sum", "mean"] = Field("sum", description="Sum transferred gradients, or average (÷ N).")
    dt: float = Field(5.0, gt=0, description="Largest time step (the step control usually binds first).")
    max_dlatent: float | None = Field(
        0.3, gt=0, description="Step control: largest change per step (see step_control); None = fixed dt."
    )
    step_control: Literal["logit", "probability"] = Field(
        "logit", description="Measure max_dlatent on the logits, or on p, sR, sL (chain rule through σ')."
    )
    horizon: float = Field(100.0, gt=0, description="Integration horizon T (time units of α_y = 1).")
    tol: float = Field(1e-4, gt=0, description="Early stop when every |dp/dt|, |dsR/dt|, |dsL/dt| < tol.")
    integrator: Literal["euler", "heun"] = Field(
        "heun", description="'euler' (1st order) or 'heun' (2nd order, 2 mat-vecs per step); both step-controlled."
    )
    max_steps: int = Field(200_000, ge=1, description="Hard cap on Euler steps (reported if reached).")
    kernel: KernelMethod = Field("auto", description="'dense', 'rff', or 'auto' (dense up to dense_max envs).")
    n_features: int = Field(512, ge=1, description="Random Fourier features D for the 'rff' kernel.")
    dense_max: int = Field(1000, ge=1, description="Largest N simulated with the exact dense kernel in 'auto'.")
    theta: float = Field(0.5, gt=0, lt=1, description="Threshold θ on p_∞ that defines N*.")

    def model_post_init(self, _context: object) -> None:
        for name, vals, lo in (("alpha", self.alpha, 0.0), ("sigma_alpha", self.sigma_alpha, None),
                               ("init_sd", self.init_sd, None), ("c", self.c, None)):
            arr = np.asarray(vals, dtype=float)
            bad = arr <= lo if lo is not None else arr < 0
            if name == "c":
                bad = (arr < 0) | (arr > 1)
            if bad.any():
                rule = {"alpha": "> 0", "c": "in [0, 1]"}.get(name, ">= 0")
                raise MotivlabInputError(f"{name} entries must be {rule}, got {vals!r}")


@dataclass(frozen=True)
class Population:
    """Standardised random draws for ``R`` resamples of up to ``n_max`` environments.

    Kept in standard units (scale 1, unit normals) so that changing ``scale``, ``p0`` or ``σ``
    reuses the same draws: common random numbers for sweeps and calibration.
    """

    coords: np.ndarray  # (R, n_max, d), geometry at scale 1
    log_alpha: np.ndarray  # (R, n_max, 3) standard normals
    init: np.ndarray  # (R, n_max, 3) standard normals
    rff: tuple[np.ndarray, np.ndarray]  # W0 (R, d, D), b (R, 1, D)

    @property
    def resamples(self) -> int:
        return self.coords.shape[0]

    @property
    def n_max(self) -> int:
        return self.coords.shape[1]


def draw_population(cfg: HeterogeneousConfig, n_max: int, resamples: int, rng: np.random.Generator) -> Population:
    """Draw coordinates, learnability and initial-condition noise, and RFF noise."""
    if int(n_max) != n_max or n_max < 1:
        raise MotivlabInputError(f"n_max (number of environments) must be an integer >= 1, got {n_max!r}")
    if int(resamples) != resamples or resamples < 1:
        raise MotivlabInputError(f"resamples must be an integer >= 1, got {resamples!r}")
    r, n = int(resamples), int(n_max)
    coords = GEOMETRIES[cfg.geometry](rng, r, n, cfg.d)
    return Population(
        coords=coords,
        log_alpha=rng.standard_normal((r, n, 3)),
        init=rng.standard_normal((r, n, 3)),
        rff=rff_noise(rng, r, cfg.d, cfg.n_features),
    )


def _couplings(cfg: HeterogeneousConfig, pop: Population, n: int) -> list[tuple[Coupling, list[int]]]:
    """One coupling per distinct transfer length, with the latents (0=z, 1=x, 2=y) it serves."""
    if cfg.coupling == "constant":
        keys = [("c", c) for c in cfg.c]
    else:
        keys = [("ell", ell) for ell in (cfg.ell_z, cfg.ell_x, cfg.ell_y)]
    groups: dict[tuple, list[int]] = {}
    for k, key in enumerate(keys):
        groups.setdefault(key, []).append(k)
    out = []
    u = cfg.scale * pop.coords[:, :n]
    for (kind, value), members in groups.items():
        if kind == "c":
            op: Coupling = ConstantCoupling(float(value))
        else:
            op = gaussian_coupling(
                u, value, method=cfg.kernel, dense_max=cfg.dense_max, noise=pop.rff
            )
        out.append((op, members))
    return out


def _rates(state, alphas, couplings, cfg: HeterogeneousConfig, mask=None) -> list[np.ndarray]:
    """``dk/dt = α^k ⊙ C^k g^k`` for k = z, x, y; each ``(R, N, P)``.

    ``mask`` ``(R, N, P)`` (1 = environment present) removes environments per (resample, p0): they
    neither send nor receive gradient. It lets runs with different N share one batch.
    """
    z, x, y = state
    grads = reward_gradients(z, x, y, kappa=cfg.kappa, lam=cfg.lam)
    n, p = z.shape[1], z.shape[2]
    if mask is not None:
        grads = tuple(g * mask for g in grads)
        n = np.maximum(mask.sum(axis=1, keepdims=True), 1.0)  # (R, 1, P) environments present
    out: list[np.ndarray] = [None, None, None]  # type: ignore[list-item]
    for op, members in couplings:
        stacked = np.concatenate([grads[k] for k in members], axis=2)  # (R, N, len·P)
        summed = op.matvec(stacked)
        if cfg.normalize == "mean":
            summed = summed / n
        for j, k in enumerate(members):
            out[k] = alphas[..., k : k + 1] * summed[..., j * p : (j + 1) * p]
            if mask is not None:
                out[k] *= mask
    return out


@dataclass(frozen=True)
class Trajectory:
    """Final state of a simulation: latents ``(R, N, P)``, time reached and steps taken per run."""

    z: np.ndarray
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray  # (R, P)
    steps: int
    converged: np.ndarray  # (R, P): stopped by tol (not by the horizon or max_steps)

    @property
    def p(self) -> np.ndarray:
        return sigmoid(self.z)


def _euler(state, k1, step, rates_at):
    """Explicit Euler: ``s + dt f(s)``."""
    return tuple(s + step * k for s, k in zip(state, k1, strict=True))


def _heun(state, k1, step, rates_at):
    """Heun (explicit trapezoid, 2nd order): predictor ``s + dt k1``, corrector with ``k2``."""
    k2 = rates_at(_euler(state, k1, step, rates_at))
    return tuple(s + 0.5 * step * (a + b) for s, a, b in zip(state, k1, k2, strict=True))


STEPPERS = {"euler": _euler, "heun": _heun}


def _speed(state, k1, lam: float, control: str) -> np.ndarray:
    """Fastest change per unit time over environments and latents, ``(R, P)``: of the logits
    (``control="logit"``) or of the probabilities ``p, sR, sL`` (``"probability"``)."""
    if control == "logit":
        return np.max([np.abs(k).max(axis=1) for k in k1], axis=0)
    z, x, y = state
    rz, rx, ry = k1
    d = [sigmoid(a) * sigmoid(-a) for a in (z, x + lam * y, y)]  # σ' of p, sR, sL
    rates = (d[0] * rz, d[1] * (rx + lam * ry), d[2] * ry)
    return np.max([np.abs(k).max(axis=1) for k in rates], axis=0)


def integrate(state0, alphas: np.ndarray, couplings, cfg: HeterogeneousConfig, mask=None) -> Trajectory:
    """Step-controlled explicit integration until ``T`` or saturation (see module doc), per (resample, p0).

    Finished resamples are dropped from the working batch (their couplings too) once a quarter
    of the batch is done, so stragglers do not pay for finished runs.
    """
    state = tuple(np.array(a, dtype=np.float64) for a in state0)  # 3 × (R, N, P)
    r_all, _, p = state[0].shape
    final = [a.copy() for a in state]
    t_final = np.zeros((r_all, p))
    conv = np.zeros((r_all, p), dtype=bool)
    live = np.arange(r_all)
    t = np.zeros((r_all, p))
    steps = 0
    stepper = STEPPERS[cfg.integrator]
    while live.size:
        k1 = _rates(state, alphas, couplings, cfg, mask)
        prob_speed = _speed(state, k1, cfg.lam, "probability")
        slow = prob_speed < cfg.tol  # (R', P): p, sR and sL all (nearly) still
        done = slow | (t >= cfg.horizon * (1 - 1e-12)) | (steps >= cfg.max_steps)
        fin = done.all(axis=1)
        if fin.sum() * 4 >= live.size or steps >= cfg.max_steps:
            rows = live[fin]
            for a, b in zip(final, state, strict=True):
                a[rows] = b[fin]
            t_final[rows], conv[rows] = t[fin], slow[fin]
            keep = ~fin
            live = live[keep]
            if not live.size:
                break
            state, k1 = tuple(a[keep] for a in state), tuple(a[keep] for a in k1)
            t, done, alphas, prob_speed = t[keep], done[keep], alphas[keep], prob_speed[keep]
            mask = None if mask is None else mask[keep]
            couplings = [(op.take(keep), m) for op, m in couplings]
        rmax = prob_speed if cfg.step_control == "probability" else _speed(state, k1, cfg.lam, "logit")
        dt = np.full_like(t, cfg.dt)
        if cfg.max_dlatent is not None:
            dt = np.minimum(dt, cfg.max_dlatent / np.maximum(rmax, 1e-300))
        dt = np.where(done, 0.0, np.minimum(dt, cfg.horizon - t))  # (R', P)
        a_now, c_now, m_now = alphas, couplings, mask
        state = stepper(state, k1, dt[:, None, :], lambda s, a=a_now, c=c_now, m=m_now: _rates(s, a, c, cfg, m))
        t = t + dt
        steps += 1
    return Trajectory(final[0], final[1], final[2], t_final, steps, conv)


def simulate(cfg: HeterogeneousConfig, pop: Population, n: int, p0s=None, n_active=None) -> Trajectory:
    """Integrate the first ``n`` environments of every resample, for each initial propensity.

    ``p0s``: initial propensities ``(P,)`` (default ``(cfg.p0,)``). Returns latents ``(R, n, P)``.
    ``n_active`` ``(R, P)``: simulate only the first ``n_active[r, p] ≤ n`` environments of each
    run (the others are masked out; see :func:`mean_propensity`).
    """
    if int(n) != n or not 1 <= n <= pop.n_max:
        raise MotivlabInputError(f"n (number of environments) must be an integer in [1, {pop.n_max}], got {n!r}")
    p0s = _check_p0s(cfg.p0 if p0s is None else p0s)
    n = int(n)
    sd = np.asarray(cfg.init_sd)
    noise = pop.init[:, :n]  # (R, n, 3)
    centres = (logit(p0s)[None, None, :], logit(cfg.sr0), logit(cfg.sl0))
    z0 = centres[0] + sd[0] * noise[..., 0:1]  # (R, n, P)
    x0 = np.broadcast_to(centres[1] + sd[1] * noise[..., 1:2], z0.shape)
    y0 = np.broadcast_to(centres[2] + sd[2] * noise[..., 2:3], z0.shape)
    alphas = np.asarray(cfg.alpha) * np.exp(np.asarray(cfg.sigma_alpha) * pop.log_alpha[:, :n])  # (R, n, 3)
    mask = None if n_active is None else _prefix_mask(n, n_active)
    return integrate((z0, x0, y0), alphas, _couplings(cfg, pop, n), cfg, mask)


def _prefix_mask(n: int, n_active) -> np.ndarray:
    """``(R, n, P)`` float mask keeping the first ``n_active[r, p]`` environments."""
    return (np.arange(n)[None, :, None] < np.asarray(n_active)[:, None, :]).astype(np.float64)


def mean_propensity(traj: Trajectory, n_active=None) -> np.ndarray:
    """``p_∞ = mean_i p_i`` over the environments present: ``(R, P)``."""
    if n_active is None:
        return traj.p.mean(axis=1)
    mask = _prefix_mask(traj.z.shape[1], n_active)
    return (traj.p * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)


def _check_p0s(p0s) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(p0s, dtype=float))
    if arr.ndim != 1 or not np.isfinite(arr).all() or ((arr <= 0) | (arr >= 1)).any():
        raise MotivlabInputError(f"p0 values must be finite and in (0, 1), got {p0s!r}")
    return arr
