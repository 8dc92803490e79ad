"""The fitter's least-squares problem: observed logits, masks, batched residuals and Jacobian.

:class:`FitProblem` turns a :class:`~motivlab.theory.fit.data.Trajectories` and a parameter
:class:`~motivlab.theory.fit.params.Layout` into what the optimiser needs: residuals in clipped
logit space at the observed entries only (NaN = no residual), for a whole batch of parameter
vectors at once, and the forward-difference Jacobian as one batched integration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import logit

from motivlab.errors import MotivlabInputError
from motivlab.theory.fit.config import FitConfig
from motivlab.theory.fit.data import QUANTITIES, Trajectories
from motivlab.theory.fit.forward import euler_grid, homogeneous_op, integrate, lengths_op, pairwise_sq_dist
from motivlab.theory.fit.params import INIT_NAMES, Layout

__all__ = ["FitProblem", "first_observed", "jacobian_covariance", "offdiag_sq_dist", "validate_trajectories"]


class FitProblem:
    """Observed data in the optimiser's terms: masked logits, Euler grid, batched residuals."""

    def __init__(self, data: Trajectories, cfg: FitConfig, layout: Layout) -> None:
        self.cfg, self.layout, self.data = cfg, layout, data
        self.bound = float(logit(1.0 - cfg.clip))
        obs = np.clip(logit(np.clip(data.stacked(), cfg.clip, 1 - cfg.clip)), -self.bound, self.bound)
        self.mask = np.isfinite(data.stacked())  # (3, T, N)
        self.obs_t = [obs[:, t][self.mask[:, t]] for t in range(data.n_times)]
        sizes = [len(o) for o in self.obs_t]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.obs = np.concatenate(self.obs_t)  # (M,)
        self.grid = euler_grid(data.times, cfg.n_steps)
        self.sq_dist = pairwise_sq_dist(data.coords) if data.coords is not None else None
        self.unobserved_sq_dist = None
        if data.coords is not None and data.unobserved_coords is not None and len(data.unobserved_coords):
            diff = data.coords[:, None, :] - data.unobserved_coords[None, :, :]
            self.unobserved_sq_dist = np.einsum("iud,iud->iu", diff, diff)  # (N, U)
        # sampling variance of each observed logit (0 = exact), in the order of obs
        var = data.variance if data.variance is not None else np.zeros_like(data.stacked())
        var = np.where(np.isfinite(var), var, 0.0)
        self.obs_var = np.concatenate([var[:, t][self.mask[:, t]] for t in range(data.n_times)])
        self.obs_exact = self.obs_var == 0.0
        self.set_noise_floor(1.0)
        # env index of every residual (same order as obs: time, then quantity, then env)
        self.obs_env = np.concatenate([np.nonzero(self.mask[:, t])[1] for t in range(data.n_times)])
        free_idx = np.cumsum(layout.free) - 1  # full index → free column
        self.init_cols = []  # per latent: (N,) free column of each env's initial logit, -1 if fixed
        for name in INIT_NAMES:
            idx = layout.block(name)
            if len(idx) == data.n_envs:
                self.init_cols.append(np.where(layout.free[idx], free_idx[idx], -1))
        in_block = np.zeros(layout.n_free, bool)
        for cols in self.init_cols:
            in_block[cols[cols >= 0]] = True
        self.other_cols = np.flatnonzero(~in_block)
        per_env = bool(self.init_cols) and data.n_envs >= 100
        self.block = cfg.jacobian == "block" or (cfg.jacobian == "auto" and per_env)

    def set_noise_floor(self, floor: float) -> None:
        """Residual weights ``1/σ`` with ``σ² = floor² + sampling variance`` (``weighting="variance"``),
        or all 1 (``weighting="none"``). ``floor`` (logit units) is the noise every row has:
        model error and whatever the exact measurement does not capture."""
        self.noise_floor = float(floor)
        if self.cfg.weighting == "none":
            self.weights = np.ones(len(self.obs))
        else:
            self.weights = 1.0 / np.sqrt(self.noise_floor**2 + self.obs_var)

    def coupling_op(self, cpar: np.ndarray | None):
        if cpar is None:
            return lambda g: g
        n_obs, n_unobs = int(self.data.trained.sum()), self.data.n_unobserved_train
        if self.layout.coupling == "homogeneous":
            return homogeneous_op(cpar, n_observed=n_obs, n_unobserved=n_unobs)
        if n_unobs and self.unobserved_sq_dist is None:
            raise MotivlabInputError(f"coupling='lengths': {n_unobs} trained envs of the run are not in the table "
                                     "and their coordinates are unknown (trajectories.unobserved_coords)")
        return lengths_op(cpar, self.sq_dist, unobserved_sq_dist=self.unobserved_sq_dist, n_observed=n_obs)

    def predicted_logits(self, theta_b: np.ndarray, grid=None) -> np.ndarray:
        """(B, P_free) → clipped predicted logits at the observed entries, (B, M)."""
        # Overflow in a wild trial step yields inf/NaN residuals, which the optimiser rejects.
        with np.errstate(over="ignore", invalid="ignore"):
            alpha, cpar, lat0 = self.layout.unpack(theta_b)
            out = np.empty((lat0.shape[0], len(self.obs)))
            states = integrate(lat0, alpha, self.coupling_op(cpar), grid or self.grid, trained=self.data.trained,
                               kappa=self.cfg.kappa, lam=self.cfg.lam, normalize=self.cfg.normalize,
                               n_train=self.data.n_train, advantage_scale=self.cfg.advantage_scale,
                               group_size=self.cfg.group_size)
            for t, state in enumerate(states):
                pred = np.stack([state[:, 0], state[:, 1] + self.cfg.lam * state[:, 2], state[:, 2]], axis=1)
                out[:, self.offsets[t]:self.offsets[t + 1]] = np.clip(pred[:, self.mask[:, t]], -self.bound, self.bound)
        return out

    def residuals(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Weighted residuals ``(predicted − observed) / σ`` (see :meth:`set_noise_floor`)."""
        return (self.predicted_logits(theta[None])[0] - obs) * self.weights

    def jacobian(self, theta: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray | sparse.csr_matrix]:
        """Residuals and Jacobian for the optimiser: block-sparse approximation or exact (``self.block``)."""
        return self.block_jacobian(theta, obs) if self.block else self.exact_jacobian(theta, obs)

    def block_jacobian(self, theta: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
        """Sparse Jacobian that ignores an env's initial logits' effect on *other* envs.

        Why: with per-env initial conditions most of the ``P`` parameters are initial logits,
        and the exact forward-difference Jacobian needs ``P + 1`` integrations of all ``N`` envs
        (O(N²) per iteration). Perturbing every env's ``z0`` at once (likewise ``x0``, ``y0``)
        and crediting each env's residual change to its own initial logit needs 3 extra
        integrations; the neglected cross terms pass through the transfer sum and are small.
        The optimiser still descends the exact cost; the covariance uses the exact Jacobian.
        """
        h = 1e-7 * (1.0 + np.abs(theta))
        batch = [theta] + [theta + h[j] * np.eye(1, len(theta), j)[0] for j in self.other_cols]
        for cols in self.init_cols:
            step = np.zeros_like(theta)
            step[cols[cols >= 0]] = h[cols[cols >= 0]]
            batch.append(theta + step)
        pred = self.predicted_logits(np.array(batch)) * self.weights
        diff = pred[1:] - pred[0]
        m = len(obs)
        rows = [np.repeat(np.arange(m), len(self.other_cols))]
        cols_ = [np.tile(self.other_cols, m)]
        vals = [(diff[: len(self.other_cols)] / h[self.other_cols, None]).T.ravel()]
        for k, cols in enumerate(self.init_cols):
            col = cols[self.obs_env]
            keep = col >= 0
            rows.append(np.flatnonzero(keep))
            cols_.append(col[keep])
            vals.append(diff[len(self.other_cols) + k][keep] / h[col[keep]])
        jac = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols_))),
                                shape=(m, len(theta)))
        return pred[0] - obs * self.weights, jac

    def exact_jacobian(self, theta: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residuals (M,) and forward-difference Jacobian (M, P), all perturbations in one batch."""
        h = 1e-7 * (1.0 + np.abs(theta))
        batch = np.vstack([theta, theta + np.diag(h)])
        chunk = max(2, int(2e7 // max(1, len(self.obs))))  # bound memory at ~160 MB per chunk
        pred = np.vstack([self.predicted_logits(batch[i:i + chunk]) for i in range(0, len(batch), chunk)]) * self.weights
        return pred[0] - obs * self.weights, ((pred[1:] - pred[0]) / h[:, None]).T

    def cost_batch(self, theta_full: np.ndarray) -> np.ndarray:
        r = (self.predicted_logits(theta_full[:, self.layout.free]) - self.obs) * self.weights
        return np.einsum("bm,bm->b", r, r)


def validate_trajectories(data: Trajectories | pd.DataFrame, coupling: str) -> Trajectories:
    if isinstance(data, pd.DataFrame):
        data = Trajectories.from_frame(data)
    if not isinstance(data, Trajectories):
        raise MotivlabInputError(f"trajectories must be a Trajectories or a DataFrame, got {type(data).__name__}")
    if data.n_times < 2:
        raise MotivlabInputError(f"trajectories.times: need at least 2 observation times, got {data.n_times}")
    for q, name in zip(QUANTITIES, ("propensity", "reward-seeking skill", "local skill"), strict=True):
        if not np.isfinite(getattr(data, q)).any():
            raise MotivlabInputError(f"trajectories.{q} has no observed value: the {name} cannot be fitted")
    if coupling == "lengths" and data.coords is None:
        raise MotivlabInputError("coupling='lengths' needs env coordinates (trajectories.coords / columns u0, u1, …)")
    if coupling != "none" and data.n_envs < 2:
        raise MotivlabInputError(f"coupling={coupling!r} needs at least 2 envs, got 1; use coupling='none'")
    return data


def first_observed(data: Trajectories, clip: float) -> np.ndarray:
    """(3, N) logit of each env's first observed value per quantity, NaN where never observed."""
    stacked = data.stacked()
    has = np.isfinite(stacked)
    first = np.where(has.any(axis=1), has.argmax(axis=1), 0)
    vals = np.take_along_axis(stacked, first[:, None, :], axis=1)[:, 0]
    return np.where(has.any(axis=1), logit(np.clip(vals, clip, 1 - clip)), np.nan)


def offdiag_sq_dist(data: Trajectories, *, trained_only: bool = False) -> np.ndarray:
    """Squared distances between distinct envs (a single 1.0 without coordinates).

    ``trained_only``: between the run's training envs, the unobserved ones included (the
    mean-field coupling of the N* prediction is a property of the training set)."""
    coords = data.coords
    if trained_only and coords is not None:
        coords = coords[data.trained]
        if data.unobserved_coords is not None:
            coords = np.concatenate([coords, data.unobserved_coords])
    if coords is None or len(coords) < 2:
        return np.array([1.0])
    if len(coords) > 2000:  # a random subset is enough for a mean
        coords = coords[np.random.default_rng(0).choice(len(coords), 2000, replace=False)]
    d2 = pairwise_sq_dist(coords)
    return d2[~np.eye(len(d2), dtype=bool)]


def jacobian_covariance(jac: np.ndarray, s2: float) -> tuple[np.ndarray, np.ndarray]:
    """``s² (JᵀJ)⁻¹`` and a per-parameter *identified* mask, from the eigenvectors of the
    column-scaled ``JᵀJ`` (its correlation form ``D⁻¹ JᵀJ D⁻¹``, ``D = diag(JᵀJ)^½``).

    Directions with eigenvalue below 1e-10 of the largest carry no information (e.g. a
    learnability whose latent never moves, a value stuck at the clip); every parameter loading on
    such a direction (|component| > 1e-3) is unidentified and gets an infinite stderr rather
    than a deceptively small one, and so is a parameter whose column is numerically zero (below
    1e-9 of the largest). Why scaled: unscaled, one parameter with a huge column (on the demo run
    a coupling at its bound, column norm 31,000 against ~100 for the others) pushed well-determined
    learnabilities below the 1e-10 ratio and flagged them unidentified. ``JᵀJ`` rather than an
    SVD of the tall ``J``: P² memory.
    """
    jtj = jac.T @ jac
    jtj = jtj.toarray() if sparse.issparse(jtj) else np.asarray(jtj)
    d = np.sqrt(np.clip(np.diag(jtj), 0.0, None))
    dead = d <= 1e-9 * max(float(d.max(initial=0.0)), 1e-300)
    scale = np.where(dead, 1.0, d)
    ev, vec = np.linalg.eigh(jtj / np.outer(scale, scale))
    top = max(float(ev.max()), 1e-300)
    null = ev < 1e-10 * top
    identified = ~(np.abs(vec[:, null]) > 1e-3).any(axis=1) & ~dead
    ev = np.maximum(ev, top * 1e-10)
    return s2 * ((vec / ev) @ vec.T) / np.outer(scale, scale), identified
