"""The fitter's forward model: batched explicit Euler of the behavioural-selection ODE.

    dz_i/dt = α^z_i Σ_j C^z_ij g^z_j      (likewise x with C^x, y with C^y)

One call integrates ``B`` parameter sets at once (``B`` = 1 for a prediction, ``P + 1`` for a
finite-difference Jacobian), so every array carries a leading batch axis: latents ``(B, 3, N)``
in the order z, x, y; learnabilities ``(B, 3, N)`` in units of *per RL step*. The sum over
``j`` runs over the *trained* envs only; untrained (held-out) envs receive transfer but send
none. Transfer matrices are applied by a :data:`CouplingOp`, built once per call:

* homogeneous ``C^k_ij = c_k`` (i ≠ j): ``C g = (1 - c) g + c Σ_j g_j``, no matrix at all;
* transfer lengths ``C^k_ij = exp(-|u_i - u_j|² / 2ℓ_k²)``: dense, one matrix per *distinct*
  length triple in the batch (a Jacobian batch has at most four), batch members grouped.

*Unobserved trained envs.* A run's training set is often larger than the envs it measures.
Every op takes the number of trained envs that are *not* in the data (``n_unobserved``) and, for
lengths, their coordinates; each contributes the mean gradient of the observed trained envs
(a mean-field stand-in, exact when the observed envs are a random sample of identical ones), so
the transfer sum runs over the run's whole training set. ``normalize="mean"`` divides by the
whole training set too.

Euler substeps are a fixed grid (:func:`euler_grid`) that depends on the observation times only,
never on the parameters, so the residuals are smooth in the parameters and finite differences
are meaningful.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np

from motivlab.theory.fit.data import Trajectories
from motivlab.theory.homogeneous.model import reward_gradients

__all__ = [
    "CouplingOp",
    "critical_diversity_at_horizon",
    "euler_grid",
    "final_propensity",
    "gradients",
    "homogeneous_op",
    "integrate",
    "lengths_op",
    "pairwise_sq_dist",
    "simulate_trajectories",
]

# g (B, 3, N), already masked to trained envs → Σ_j C^k_ij g^k_j, shape (B, 3, N)
CouplingOp = Callable[[np.ndarray], np.ndarray]
Normalize = Literal["sum", "mean"]
AdvantageScale = Literal["none", "group"]


def gradients(state: np.ndarray, *, kappa: float = 0.0, lam: float = 0.0, advantage_scale: AdvantageScale = "none",
              group_size: int = 8) -> np.ndarray:
    """Per-env reward gradients ``(..., 3, N)`` of latents ``state`` (..., 3, N).

    ``advantage_scale="group"`` is GRPO's per-group standard-deviation scaling in mean field: a
    group of ``G`` binary rewards with success rate ``R`` has std ``√(R(1−R))`` and is all-equal
    (zero advantage) with probability ``R^G + (1−R)^G``, so each env's gradient is multiplied by
    ``(1 − R^G − (1−R)^G) / √(R(1−R))`` — in expectation; the factor is at most ≈ 2 for
    ``G = 8`` (1.41 at ``R = 0.96``). What the scaling changes beyond that is the noise (every
    non-degenerate group takes a full-size step whatever the gap), which this deterministic model
    does not represent. Fitting ``"none"`` and ``"group"`` and comparing residuals bounds the
    effect on the mean (issue 14, docs/theory_fit.md).
    """
    g = np.stack(reward_gradients(state[..., 0, :], state[..., 1, :], state[..., 2, :], kappa=kappa, lam=lam), axis=-2)
    if advantage_scale == "group":
        p = 1.0 / (1.0 + np.exp(-state[..., 0, :]))
        s_r = 1.0 / (1.0 + np.exp(-(state[..., 1, :] + lam * state[..., 2, :])))
        s_l = 1.0 / (1.0 + np.exp(-state[..., 2, :]))
        r = np.clip(p * s_r + (1.0 - p) * s_l, 1e-12, 1 - 1e-12)
        live = 1.0 - r**group_size - (1.0 - r) ** group_size
        g = g * (live / np.sqrt(r * (1.0 - r)))[..., None, :]
    return g


def homogeneous_op(c: np.ndarray, *, n_observed: int | None = None, n_unobserved: int = 0) -> CouplingOp:
    """``c`` (B, 3) off-diagonal couplings → operator ``g ↦ (1 - c) g + c Σ_j g_j``, the sum over
    the ``n_observed`` trained envs in ``g`` plus ``n_unobserved`` envs at their mean gradient."""
    c = np.asarray(c, dtype=float)[..., None]  # (B, 3, 1)
    total = 1.0 + (n_unobserved / n_observed if n_unobserved else 0.0)

    def apply(g: np.ndarray) -> np.ndarray:
        return (1.0 - c) * g + c * (total * g.sum(axis=-1, keepdims=True))

    return apply


def pairwise_sq_dist(coords: np.ndarray) -> np.ndarray:
    """``coords`` (N, d) → squared distances (N, N)."""
    diff = coords[:, None, :] - coords[None, :, :]
    return np.einsum("ijd,ijd->ij", diff, diff)


def lengths_op(ell: np.ndarray, sq_dist: np.ndarray, *, unobserved_sq_dist: np.ndarray | None = None,
               n_observed: int | None = None) -> CouplingOp:
    """``ell`` (B, 3) transfer lengths, ``sq_dist`` (N, N) → Gaussian-kernel operator.

    ``unobserved_sq_dist`` (N, U): squared distances to the run's trained envs that are not in
    the data; each sends the mean gradient of the ``n_observed`` observed trained envs.
    Batch members sharing a length triple share one ``(3, N, N)`` kernel stack; the batch is
    processed group by group (contiguous after a stable sort), so memory stays O(G·N²).
    """
    ell = np.asarray(ell, dtype=float)
    uniq, group = np.unique(ell, axis=0, return_inverse=True)
    group = group.ravel()
    kernels = np.exp(-sq_dist[None, None] / (2.0 * uniq[:, :, None, None] ** 2))  # (G, 3, N, N)
    ghost = None
    if unobserved_sq_dist is not None and unobserved_sq_dist.size:
        # (G, 3, N): Σ over unobserved envs of the kernel, divided by n_observed (→ × Σ_j g_j)
        ghost = np.exp(-unobserved_sq_dist[None, None] / (2.0 * uniq[:, :, None, None] ** 2)).sum(-1) / n_observed
    members = [np.flatnonzero(group == k) for k in range(len(uniq))]
    single = len(uniq) == 1

    def one(k: int, g: np.ndarray) -> np.ndarray:
        out = np.einsum("kij,bkj->bki", kernels[k], g)
        if ghost is not None:
            out = out + ghost[k][None] * g.sum(axis=-1, keepdims=True)
        return out

    def apply(g: np.ndarray) -> np.ndarray:
        if single:
            return one(0, g)
        out = np.empty_like(g)
        for k, idx in enumerate(members):
            out[idx] = one(k, g[idx])
        return out

    return apply


def euler_grid(times: np.ndarray, n_steps: int) -> list[tuple[int, float]]:
    """Substeps per observation interval: ``(count, dt)`` with about ``n_steps`` over the horizon.

    Every interval gets at least one step; steps are equal within an interval.
    """
    gaps = np.diff(np.asarray(times, dtype=float))
    span = float(times[-1] - times[0])
    counts = np.maximum(1, np.rint(n_steps * gaps / span).astype(int))
    return [(int(k), float(gap / k)) for k, gap in zip(counts, gaps, strict=True)]


def integrate(
    latents0: np.ndarray,
    alpha: np.ndarray,
    coupling: CouplingOp,
    grid: list[tuple[int, float]],
    *,
    trained: np.ndarray,
    kappa: float = 0.0,
    lam: float = 0.0,
    normalize: Normalize = "sum",
    n_train: int | None = None,
    advantage_scale: AdvantageScale = "none",
    group_size: int = 8,
) -> Iterator[np.ndarray]:
    """Yield the latents ``(B, 3, N)`` at every observation time (the first is ``latents0``).

    ``alpha`` (B, 3, N) per step, ``trained`` (N,) bool; ``grid`` from :func:`euler_grid`;
    ``n_train``: size of the run's whole training set for ``normalize="mean"`` (default: the
    trained envs present; the ``coupling`` op adds the unobserved ones' gradient).
    """
    state = np.array(latents0, dtype=float, copy=True)
    mask = trained.astype(float)
    scale = 1.0 / (n_train or mask.sum()) if normalize == "mean" else 1.0
    yield state
    for count, dt in grid:
        for _ in range(count):
            g = gradients(state, kappa=kappa, lam=lam, advantage_scale=advantage_scale, group_size=group_size)
            state = state + dt * alpha * coupling(g * (mask * scale))
        yield state


# ---------------------------------------------------------------------------------------------
# homogeneous reduction: final propensity and the critical diversity N*


def final_propensity(
    latents0: np.ndarray,
    alpha_eff: np.ndarray,
    horizon: float,
    *,
    kappa: float = 0.0,
    lam: float = 0.0,
    max_change: float = 0.02,
    max_steps: int = 200_000,
    advantage_scale: AdvantageScale = "none",
    group_size: int = 8,
) -> np.ndarray:
    """``p(horizon)`` of ``S`` independent single-env systems; ``latents0``, ``alpha_eff`` (S, 3).

    Euler with a per-system step that moves no latent by more than ``max_change``: early on that
    is a small step, late (rates decay as skills saturate) a large one, so a horizon of 10⁶ steps
    costs about a thousand iterations. Stability follows because the vector field's Jacobian is
    bounded by a few times the rates themselves.
    """
    state = np.array(latents0, dtype=float, copy=True)
    t = np.zeros(state.shape[0])
    for _ in range(max_steps):
        active = t < horizon * (1 - 1e-12)
        if not active.any():
            break
        s = state[active]
        rates = alpha_eff[active] * gradients(s[:, :, None], kappa=kappa, lam=lam, advantage_scale=advantage_scale,
                                              group_size=group_size)[:, :, 0]
        peak = np.abs(rates).max(axis=1)
        dt = np.minimum(max_change / np.maximum(peak, 1e-300), horizon - t[active])
        state[active] = s + dt[:, None] * rates
        t[active] += dt
    return 1.0 / (1.0 + np.exp(-state[:, 0]))


def critical_diversity_at_horizon(
    p0: np.ndarray,
    alpha: np.ndarray,
    c: np.ndarray,
    latent_skills0: tuple[float, float],
    horizon: float,
    *,
    threshold: float = 0.5,
    n_max: float = 1e7,
    kappa: float = 0.0,
    lam: float = 0.0,
    normalize: Normalize = "sum",
    n_grid: int = 29,
    n_section: int = 15,
    n_rounds: int = 4,
    advantage_scale: AdvantageScale = "none",
    group_size: int = 8,
) -> np.ndarray:
    """Smallest ``N`` (real) with ``p(horizon) > threshold``, one per ``p0``; ``inf`` if beyond ``n_max``.

    Homogeneous reduction: ``α_eff = α (1 + (N - 1) c)`` (divided by ``N`` if ``normalize =
    "mean"``, a fixed total batch: the convention for a finite RL run of ``horizon`` steps, whose
    batch is fixed). A log grid of ``N`` brackets the *first* crossing (so a non-monotone ``p_∞(N)``
    gives the smallest ``N``), then multi-section in ``log N`` (``n_section`` points per round, all
    ``p0`` in one batched integration) refines it to a relative error of about 1e-5.
    """
    p0 = np.atleast_1d(np.asarray(p0, dtype=float))
    alpha, c = np.asarray(alpha, float), np.asarray(c, float)
    x0, y0 = latent_skills0

    def p_final(p0s: np.ndarray, ns: np.ndarray) -> np.ndarray:
        mult = 1.0 + (ns[:, None] - 1.0) * c[None, :]
        if normalize == "mean":
            mult = mult / ns[:, None]
        lat0 = np.stack([np.log(p0s / (1 - p0s)), np.full_like(p0s, x0), np.full_like(p0s, y0)], axis=1)
        return final_propensity(lat0, alpha[None, :] * mult, horizon, kappa=kappa, lam=lam,
                                advantage_scale=advantage_scale, group_size=group_size)

    grid = np.logspace(0.0, np.log10(n_max), n_grid)
    pp, nn = np.meshgrid(p0, grid, indexing="ij")
    above = (p_final(pp.ravel(), nn.ravel()) > threshold).reshape(pp.shape)  # (P, G)
    first = np.where(above.any(axis=1), above.argmax(axis=1), -1)
    out = np.full(p0.shape, np.inf)
    out[first == 0] = 1.0
    todo = np.flatnonzero(first > 0)
    if todo.size:
        lo, hi = np.log(grid[first[todo] - 1]), np.log(grid[first[todo]])
        frac = np.arange(1, n_section + 1) / (n_section + 1)
        for _ in range(n_rounds):  # multi-section: the bracket shrinks (n_section + 1)× per round
            pts = lo[:, None] + (hi - lo)[:, None] * frac  # (P', K)
            up = (p_final(np.repeat(p0[todo], n_section), np.exp(pts.ravel())) > threshold).reshape(pts.shape)
            j = np.where(up.any(axis=1), up.argmax(axis=1), n_section)
            edges = np.concatenate([lo[:, None], pts, hi[:, None]], axis=1)
            rows = np.arange(len(todo))
            lo, hi = edges[rows, j], edges[rows, j + 1]
        out[todo] = np.exp(0.5 * (lo + hi))
    return out


# ---------------------------------------------------------------------------------------------
# synthetic trajectories (round-trip tests, identifiability checks before running an experiment)


def simulate_trajectories(
    times: np.ndarray,
    alpha: np.ndarray,
    latents0: np.ndarray,
    *,
    couplings: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    coords: np.ndarray | None = None,
    trained: np.ndarray | None = None,
    kappa: float = 0.0,
    lam: float = 0.0,
    normalize: Normalize = "sum",
    advantage_scale: AdvantageScale = "none",
    noise: float = 0.0,
    missing: float = 0.0,
    rng: np.random.Generator | None = None,
    n_steps: int = 2000,
) -> Trajectories:
    """Model trajectories at ``times``, optionally with logit-Gaussian noise and missing entries.

    ``alpha`` (3,) or (3, N) per step; ``latents0`` (3, N) initial logits; transfer from
    ``couplings`` (3,) or from ``lengths`` (3,) with ``coords`` (N, d); neither = no transfer.
    ``noise`` is the standard deviation added to each observed logit, ``missing`` the fraction
    of entries replaced by NaN (both need ``rng``).
    """
    latents0 = np.asarray(latents0, dtype=float)
    n = latents0.shape[1]
    trained = np.ones(n, bool) if trained is None else np.asarray(trained, bool)
    if couplings is not None:
        op = homogeneous_op(np.asarray(couplings, float)[None])
    elif lengths is not None:
        op = lengths_op(np.asarray(lengths, float)[None], pairwise_sq_dist(np.asarray(coords, float)))
    else:
        def op(g: np.ndarray) -> np.ndarray:
            return g
    a = np.broadcast_to(np.asarray(alpha, float).reshape(3, -1), (3, n))[None]
    states = np.array([s[0] for s in integrate(latents0[None], a, op, euler_grid(np.asarray(times, float), n_steps),
                                               trained=trained, kappa=kappa, lam=lam, normalize=normalize,
                                               advantage_scale=advantage_scale)])
    logits = np.stack([states[:, 0], states[:, 1] + lam * states[:, 2], states[:, 2]])  # (3, T, N)
    if noise or missing:
        if rng is None:
            raise ValueError("simulate_trajectories: noise/missing need an explicit rng")
        logits = logits + rng.normal(0.0, noise, logits.shape)
        logits[rng.random(logits.shape) < missing] = np.nan
    p, s_r, s_l = 1.0 / (1.0 + np.exp(-logits))
    return Trajectories(times, p, s_r, s_l, coords=coords, trained=trained)
