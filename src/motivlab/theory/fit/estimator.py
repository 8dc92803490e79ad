"""Fit the behavioural-selection model to measured trajectories: the bridge from RL runs to theory.

Given ``p_i(t), sR_i(t), sL_i(t)`` (a :class:`~motivlab.theory.fit.data.Trajectories`, NaN =
not observed), :class:`BehaviouralSelectionFit` estimates learnabilities ``α^z, α^x, α^y``
(shared or per env), the transfer (homogeneous couplings ``c_k`` or, given env coordinates,
transfer lengths ``ℓ_k`` with ``C = exp(-d²/2ℓ²)``) and each env's initial logits, by nonlinear
least squares on the trajectories in *logit space* (observations and predictions clipped to
``[clip, 1 - clip]`` first, so a measured 0 or 1 is finite). Residuals of missing entries are
simply absent.

*Time scale.* RL steps map to ODE time by an unknown factor; nothing is fixed to absorb it
(unlike the theory's ``α^y = 1``). Learnabilities are reported **per RL step**: the latent
``z_i`` moves by ``α^z_i Σ_j C_ij g_j`` per step. Only products ``α·t`` are identified, which is
why no other normalisation is needed.

*Forward model.* Explicit Euler on a fixed substep grid (``n_steps`` over the observed span),
batched over parameter sets so that the finite-difference Jacobian is one vectorised
integration (:mod:`motivlab.theory.fit.forward`). After the fit the same residuals are
recomputed with 4× the substeps; ``discretisation_error_`` reports the largest change.

*Optimiser.* Levenberg–Marquardt on the normal equations (:mod:`motivlab.theory.fit.solver`),
started from a coarse batched grid over learnability scales and couplings. Couplings are
optimised directly in [0, 1] (box-constrained) rather than through a logit: an estimate on the
boundary (c = 1 is common when transfer is strong) keeps a non-zero Jacobian column, so the
stderrs of the parameters it trades off against (``α``) include its uncertainty.

*Uncertainty.* ``"jacobian"``: ``cov = s² (JᵀJ)⁻¹`` in the unconstrained parameters (log α,
c itself, log ℓ, initial logits), ``s²`` = residual sum of squares / (observations − free
parameters); natural-scale stderrs by the delta method, 95 % intervals by transforming the
unconstrained interval. ``"bootstrap"``: parametric bootstrap (simulate at the estimate, add
Gaussian noise of the residual scale in logit space at the observed entries, refit).

Usage::

    fit = BehaviouralSelectionFit(coupling="homogeneous").fit(load_trajectories("runs/r1"))
    fit.summary(); fit.predict(times); fit.predict_critical_diversity([1e-2, 1e-3])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from motivlab.errors import MotivlabInputError, check_range
from motivlab.theory.fit.config import FitConfig
from motivlab.theory.fit.data import QUANTITIES, Trajectories
from motivlab.theory.fit.forward import critical_diversity_at_horizon, euler_grid, integrate
from motivlab.theory.fit.params import INIT_NAMES, LATENTS, Layout
from motivlab.theory.fit.problem import (
    FitProblem,
    first_observed,
    jacobian_covariance,
    offdiag_sq_dist,
    validate_trajectories,
)
from motivlab.theory.fit.solver import LMResult, levenberg_marquardt

__all__ = ["BehaviouralSelectionFit", "FitConfig"]  # FitConfig re-exported from .config


class BehaviouralSelectionFit:
    """Least-squares fit of the behavioural-selection ODE to trajectories (scikit-learn style).

    ``BehaviouralSelectionFit(coupling="homogeneous", **options)``; options are the fields of
    :class:`FitConfig`. After :meth:`fit`: ``params_`` / ``stderr_`` (name → float, or (N,) array
    for per-env entries, natural scale), ``covariance_`` (free unconstrained parameters,
    ``free_names_``), ``theta_`` / ``theta_stderr_`` (full unconstrained vector),
    ``residual_rms_`` (logit units) and ``residual_rms_by_quantity_``, ``discretisation_error_``,
    ``n_obs_``, ``n_free_``, ``success_``, ``message_``, ``identified_`` (full vector; False =
    the data carry no information on it, stderr ``inf``).
    """

    def __init__(self, coupling: str = "homogeneous", **options: object) -> None:
        self.config = FitConfig(coupling=coupling, **options)

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, trajectories: Trajectories | pd.DataFrame) -> BehaviouralSelectionFit:
        cfg = self.config
        data = validate_trajectories(trajectories, cfg.coupling)
        layout = Layout.build(data.env_ids, coupling=cfg.coupling, per_env_alpha=not cfg.shared_learnabilities,
                              per_env_init=not cfg.shared_initial)
        for name, value in cfg.fixed.items():
            layout.fix(name, value)
        self._init_defaults(layout, data)
        problem = FitProblem(data, cfg, layout)
        if len(problem.obs) <= layout.n_free:
            raise MotivlabInputError(
                f"trajectories: {len(problem.obs)} observed values cannot determine {layout.n_free} free "
                "parameters; add time points or envs, or use shared_initial=True / fixed=…")
        estimate_floor = cfg.weighting == "variance" and cfg.noise_floor is None and bool((problem.obs_var > 0).any())
        problem.set_noise_floor(cfg.noise_floor if cfg.noise_floor is not None else 0.3)
        # with the floor still to be estimated, the first descent only needs to get close (≤ 50 iterations)
        res = self._multistart(problem, max_iter=min(50, cfg.max_iter) if estimate_floor else None,
                               polish=not estimate_floor)
        n_iter = res.njev
        if estimate_floor:
            problem.set_noise_floor(_noise_floor(res.fun / problem.weights, problem.obs_var))
            res = self._solve(problem, problem.obs, res.x)
            n_iter += res.njev
        self.data_, self.layout_, self._problem = data, layout, problem
        self.success_, self.message_ = bool(res.success), str(res.message)
        self.n_iterations_ = n_iter
        self.n_obs_, self.n_free_ = len(problem.obs), layout.n_free
        self.noise_floor_ = problem.noise_floor
        self.residual_rms_weighted_ = float(np.sqrt(np.mean(res.fun**2)))
        r = res.fun / problem.weights  # logit units
        self.residual_rms_ = float(np.sqrt(np.mean(r**2)))
        self.residual_rms_exact_ = float(np.sqrt(np.mean(r[problem.obs_exact] ** 2))) if problem.obs_exact.any() else None
        self.residual_rms_sampled_ = (float(np.sqrt(np.mean(r[~problem.obs_exact] ** 2)))
                                      if (~problem.obs_exact).any() else None)
        which = np.concatenate([np.nonzero(problem.mask[:, t])[0] for t in range(data.n_times)])
        self.residual_rms_by_quantity_ = {q: float(np.sqrt(np.mean(r[which == k] ** 2))) if (which == k).any()
                                          else 0.0 for k, q in enumerate(QUANTITIES)}
        fine = euler_grid(data.times, 4 * cfg.n_steps)
        self.discretisation_error_ = float(np.max(np.abs(problem.predicted_logits(res.x[None], fine)[0] - r - problem.obs)))
        rw = res.fun
        s2 = float(rw @ rw) / max(1, len(rw) - layout.n_free)
        cov, identified = jacobian_covariance(res.jac, s2)
        if cfg.uncertainty == "bootstrap":
            cov = self._bootstrap(problem, res.x, rw)
        self._set_estimates(layout, res.x, cov, identified)
        return self

    def _init_defaults(self, layout: Layout, data: Trajectories) -> None:
        """Start values from the data; pin initial conditions that no observation can identify."""
        first = first_observed(data, self.config.clip)  # (3, N)
        for k, name in enumerate(INIT_NAMES):
            idx = layout.block(name)
            pooled = float(np.nanmedian(first[k]))
            if len(idx) == 1:
                layout.default[idx] = pooled
                continue
            layout.default[idx] = np.where(np.isfinite(first[k]), first[k], pooled)
            for i in idx[~np.isfinite(first[k])]:
                layout.fix_index(int(i), pooled)
        n_tr = int(data.n_train)
        span = float(data.times[-1] - data.times[0])
        for k in LATENTS:
            for prefix, value in (("c", 0.3), ("ell", np.log(np.sqrt(np.median(offdiag_sq_dist(data)) + 1e-12)))):
                idx = layout.block(f"{prefix}_{k}")
                layout.default[idx[layout.free[idx]]] = value
            idx = layout.block(f"alpha_{k}")
            layout.default[idx[layout.free[idx]]] = -np.log(span * (1 + 0.3 * (n_tr - 1)))

    def _grid_start(self, problem: FitProblem) -> np.ndarray:
        """Coarse batched search: a common learnability scale, then each latent's α and transfer."""
        layout, base = problem.layout, problem.layout.default.copy()
        alpha_idx = [layout.block(f"alpha_{k}") for k in LATENTS]
        cands = []
        for s in np.linspace(-3.0, 3.0, 13):
            th = base.copy()
            for idx in alpha_idx:
                th[idx] += s * layout.free[idx]
            cands.append(th)
        base = cands[int(np.argmin(problem.cost_batch(np.array(cands))))]
        prefix = {"homogeneous": "c", "lengths": "ell", "none": None}[layout.coupling]
        c_values = {"c": [0.02, 0.3, 0.9], "ell": np.log([0.3, 1.0, 3.0]), None: [0.0]}[prefix]
        best = base.copy()
        for k, idx in zip(LATENTS, alpha_idx, strict=True):
            cidx = layout.block(f"{prefix}_{k}") if prefix else np.array([], int)
            cands = []
            for s in np.linspace(-1.5, 1.5, 7):
                for cv in c_values:
                    th = base.copy()
                    th[idx] += s * layout.free[idx]
                    if cidx.size and layout.free[cidx].all():
                        th[cidx] = cv if prefix == "c" else base[cidx] + cv
                    cands.append(th)
            win = cands[int(np.argmin(problem.cost_batch(np.array(cands))))]
            best[idx] = win[idx]
            if cidx.size:
                best[cidx] = win[cidx]
        return best

    def _starts(self, problem: FitProblem) -> list[np.ndarray]:
        """The grid start, plus ``n_starts - 1`` with the global parameters jittered (seeded).

        Why: where a latent barely moves, its learnability and transfer sit in a flat valley and
        one descent can stall on a plateau (e.g. transfer length → 0 with α → 0); restarts catch it.
        """
        best = self._grid_start(problem)
        rng = np.random.default_rng(self.config.seed)
        glob = np.array([not n.endswith("_init") for n in problem.layout.names]) & problem.layout.free
        starts = [best]
        for _ in range(self.config.n_starts - 1):
            th = best.copy()
            th[glob] += rng.normal(0.0, 0.7, glob.sum())
            starts.append(th)
        lower, upper = problem.layout.bounds()
        return [np.clip(th[problem.layout.free], lower, upper) for th in starts]

    def _no_transfer_start(self, problem: FitProblem, start: np.ndarray) -> np.ndarray | None:
        """``start`` with every free transfer length at 3 % of its default (≈ the median env
        distance; the kernel is then ≈ the identity) and each learnability raised by what the
        couplings contributed at the default start.

        Why: a latent that does not transfer at all has its optimum at ℓ → 0, and a fit started
        from ℓ ≈ the env spacing settles in the dense basin instead (small α, large ℓ: the same
        mean rate, a worse fit) — measured on a `theory simulate --geometry` run with no local
        transfer (N = 30), where the free fit gave α_y = 0.036, ℓ_y = 2.9 at residual 0.195 logit
        and holding ℓ_y ≈ 0 gave α_y = 1.11 (truth 1) at 0.166. Only for ``coupling="lengths"``."""
        layout = problem.layout
        if layout.coupling != "lengths":
            return None
        th = layout.full(start)[0].copy()
        changed = False
        for k in LATENTS:
            idx, a_idx = layout.block(f"ell_{k}"), layout.block(f"alpha_{k}")
            if idx.size and layout.free[idx].all():
                th[idx] = layout.default[idx] + np.log(0.03)
                th[a_idx[layout.free[a_idx]]] += np.log(1 + 0.3 * max(1, layout.n_envs - 1))
                changed = True
        if not changed:
            return None
        lower, upper = layout.bounds()
        return np.clip(th[layout.free], lower, upper)

    def _multistart(self, problem: FitProblem, max_iter: int | None = None, polish: bool = True) -> LMResult:
        """Converge from the grid start; scout each jittered start for a few iterations and
        continue only those that are already at least as good (most are not: cheap insurance);
        with transfer lengths, also converge fully from the no-transfer start."""
        first, *others = self._starts(problem)
        best = self._solve(problem, problem.obs, first, max_iter=max_iter, polish=polish)
        alone = self._no_transfer_start(problem, first)
        if alone is not None:
            full = self._solve(problem, problem.obs, alone, max_iter=max_iter, polish=polish)
            best = full if full.cost < best.cost else best
        for th in others:
            scout = self._solve(problem, problem.obs, th, max_iter=min(6, self.config.max_iter), polish=False)
            if scout.cost < best.cost * (1 + 1e-3):
                full = self._solve(problem, problem.obs, scout.x, max_iter=max_iter, polish=polish)
                best = full if full.cost < best.cost else best
        return best

    def _solve(self, problem: FitProblem, obs: np.ndarray, theta0: np.ndarray, max_iter: int | None = None,
               polish: bool = True) -> LMResult:
        """LM with the problem's Jacobian; after a block-Jacobian descent, exact iterations finish it."""
        opts = {"loss": self.config.loss, "bounds": problem.layout.bounds()}
        res = levenberg_marquardt(lambda th: problem.residuals(th, obs), lambda th: problem.jacobian(th, obs), theta0,
                                  max_iter=max_iter or self.config.max_iter, **opts)
        if problem.block and polish:
            n_block = res.njev
            # the block descent is converged: a few exact iterations suffice (stall window 5)
            res = levenberg_marquardt(lambda th: problem.residuals(th, obs),
                                      lambda th: problem.exact_jacobian(th, obs), res.x,
                                      max_iter=max_iter or self.config.max_iter, stall_window=5, **opts)
            res.njev += n_block
        return res

    def _bootstrap(self, problem: FitProblem, theta: np.ndarray, resid: np.ndarray) -> np.ndarray:
        from rich.progress import track

        rng = np.random.default_rng(self.config.seed)
        mean = problem.predicted_logits(theta[None])[0]
        # weighted residuals are ~ N(0, s²) under the noise model: each entry's sd is s / weight
        sigma = float(np.sqrt(resid @ resid / max(1, len(resid) - len(theta)))) / problem.weights
        draws = []
        for _ in track(range(self.config.n_bootstrap), description="bootstrap refits", transient=True):
            obs = np.clip(mean + rng.normal(0.0, 1.0, mean.shape) * sigma, -problem.bound, problem.bound)
            draws.append(self._solve(problem, obs, theta, max_iter=max(10, self.config.max_iter // 2)).x)
        return np.atleast_2d(np.cov(np.array(draws).T))

    def _set_estimates(self, layout: Layout, theta_free: np.ndarray, cov: np.ndarray, identified: np.ndarray) -> None:
        self.theta_ = layout.full(theta_free)[0]
        self.covariance_ = cov
        self.free_names_ = [f"{n}[{e}]" if e is not None else n
                            for n, e, f in zip(layout.names, layout.env_ids, layout.free, strict=True) if f]
        se = np.zeros_like(self.theta_)
        se[layout.free] = np.where(identified, np.sqrt(np.clip(np.diag(cov), 0.0, None)), np.inf)
        self.theta_stderr_ = se
        self.identified_ = np.ones(len(se), bool)
        self.identified_[layout.free] = identified
        nat = layout.natural(self.theta_)
        deriv = {"log": nat, "logit": nat * (1 - nat), "unit": np.ones_like(nat)}
        tr = np.asarray(layout.transforms)
        deriv = np.select([tr == t for t in deriv], list(deriv.values()))
        self._natural, self._natural_se = nat, np.where(np.isinf(se), np.inf, deriv * np.where(np.isinf(se), 0, se))
        lo, hi = layout.natural(self.theta_ - 1.96 * se), layout.natural(self.theta_ + 1.96 * se)
        self._ci = (lo, hi)
        self.params_, self.stderr_ = {}, {}
        for name in dict.fromkeys(layout.names):
            idx = layout.block(name)
            self.params_[name], self.stderr_[name] = _pick(nat, idx), _pick(self._natural_se, idx)

    # -- outputs ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise MotivlabInputError("this BehaviouralSelectionFit is not fitted yet; call .fit(trajectories) first")

    def summary(self) -> pd.DataFrame:
        """One row per parameter: natural-scale estimate, stderr, 95 % interval, fixed flag."""
        self._check_fitted()
        lay = self.layout_
        return pd.DataFrame({
            "parameter": lay.names, "env_id": lay.env_ids, "estimate": self._natural, "stderr": self._natural_se,
            "ci_low": self._ci[0], "ci_high": self._ci[1], "theta": self.theta_, "theta_stderr": self.theta_stderr_,
            "transform": lay.transforms, "fixed": ~lay.free, "identified": self.identified_,
        })

    def predict(self, times: np.ndarray | list[float]) -> Trajectories:
        """Model trajectories at ``times`` (RL steps, ≥ the first observed time), all envs."""
        self._check_fitted()
        data, prob = self.data_, self._problem
        times = np.unique(np.asarray(times, dtype=float))
        if times.size == 0 or not np.all(np.isfinite(times)) or times[0] < data.times[0]:
            raise MotivlabInputError(f"times must be finite and ≥ the first observed time {data.times[0]}")
        grid_t = np.unique(np.concatenate([[data.times[0]], times]))
        dt = (data.times[-1] - data.times[0]) / self.config.n_steps
        grid = euler_grid(grid_t, int(np.ceil((grid_t[-1] - grid_t[0]) / dt))) if grid_t.size > 1 else []
        alpha, cpar, lat0 = self.layout_.unpack(self.theta_[self.layout_.free][None])
        states = np.array([s[0] for s in integrate(lat0, alpha, prob.coupling_op(cpar), grid, trained=data.trained,
                                                   kappa=self.config.kappa, lam=self.config.lam,
                                                   normalize=self.config.normalize, n_train=data.n_train,
                                                   advantage_scale=self.config.advantage_scale,
                                                   group_size=self.config.group_size)])
        states = states[np.searchsorted(grid_t, times)]  # (T, 3, N)
        return Trajectories(times, expit(states[:, 0]), expit(states[:, 1] + self.config.lam * states[:, 2]),
                            expit(states[:, 2]), env_ids=data.env_ids, coords=data.coords, trained=data.trained)

    def mean_field_couplings(self) -> np.ndarray:
        """``(c_z, c_x, c_y)``: fitted couplings, or mean off-diagonal kernel over the observed envs."""
        self._check_fitted()
        if self.config.coupling == "homogeneous":
            return np.array([self.params_[f"c_{k}"] for k in LATENTS])
        if self.config.coupling == "none":
            return np.zeros(3)
        d2 = offdiag_sq_dist(self.data_, trained_only=True)
        return np.array([np.mean(np.exp(-d2 / (2 * self.params_[f"ell_{k}"] ** 2))) for k in LATENTS])

    def predict_critical_diversity(self, p0: float | list[float] | np.ndarray, threshold: float = 0.5,
                                   n_max: float = 1e7, horizon: float | str | None = None) -> np.ndarray:
        """``N*(p0)``: fewest envs (real ``N``) for which reward-seeking ends above ``threshold``.

        Homogeneous reduction with the fitted learnabilities (geometric mean over trained envs if
        per env), the fitted couplings (for ``coupling="lengths"``: the mean-field coupling, the
        mean off-diagonal kernel of the run's training envs — an approximation) and the median
        fitted initial skills.

        ``horizon``: ``None`` trains *until saturation*, exactly as
        :func:`motivlab.theory.homogeneous.critical.critical_diversity_at_saturation` defines
        ``p_∞`` (a stopping rule: see docs/theory.md); a number is a fixed training budget of that
        many RL steps (Euler with a bounded logit change per step,
        :func:`motivlab.theory.fit.forward.critical_diversity_at_horizon`); ``"observed"`` is the
        span of the fitted data (a run's own step budget). **For predictions about finite RL
        runs use a horizon, with the fit's ``normalize="mean"``** (a fixed batch per step, what
        the trainer does): then ``α_eff(N) = α (1 + (N − 1) c) / N`` at the run's step count,
        which is the comparison a critical-diversity sweep of fixed-budget runs makes.
        ``inf`` where no ``N ≤ n_max`` suffices.
        """
        self._check_fitted()
        p0 = np.atleast_1d(np.asarray(p0, dtype=float))
        for v in p0:
            check_range("p0", v, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        check_range("threshold", threshold, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        check_range("n_max", n_max, low=1.0, low_inclusive=False)
        if isinstance(horizon, str):
            if horizon != "observed":
                raise MotivlabInputError(f"horizon must be None, a number of RL steps or 'observed', got {horizon!r}")
            horizon = float(self.data_.times[-1] - self.data_.times[0])
        alpha, c, (x0, y0) = self._homogeneous_reduction()
        cfg = self.config
        if horizon is not None:
            return critical_diversity_at_horizon(
                p0, alpha, c, (x0, y0), check_range("horizon", horizon, low=0.0, low_inclusive=False),
                threshold=threshold, n_max=n_max, kappa=cfg.kappa, lam=cfg.lam, normalize=cfg.normalize,
                advantage_scale=cfg.advantage_scale, group_size=cfg.group_size)
        if cfg.advantage_scale != "none":
            raise MotivlabInputError("advantage_scale='group' has no saturation N* (the homogeneous model is "
                                     "gradient flow); pass a horizon")
        from motivlab.theory.homogeneous.critical import critical_diversity_at_saturation
        from motivlab.theory.homogeneous.params import Problem

        problem = Problem(p0=p0, sr0=float(expit(x0 + cfg.lam * y0)), sl0=float(expit(y0)),
                          alpha_z=alpha[0], alpha_x=alpha[1], alpha_y=alpha[2], c_z=c[0], c_x=c[1], c_y=c[2],
                          kappa=cfg.kappa, lam=cfg.lam, normalize=cfg.normalize)
        return np.asarray(critical_diversity_at_saturation(problem, threshold=threshold, n_max=n_max).n_star, float)

    def _homogeneous_reduction(self) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """(α (3,), c (3,), median initial skill logits (x0, y0)) of the fitted model."""
        tr = self.data_.trained
        alpha = np.array([np.exp(np.mean(np.log(np.atleast_1d(self.params_[f"alpha_{k}"])[tr]
                                                 if not self.config.shared_learnabilities
                                                 else self.params_[f"alpha_{k}"]))) for k in LATENTS])
        x0 = float(np.median(self.theta_[self.layout_.block("s_r_init")]))
        y0 = float(np.median(self.theta_[self.layout_.block("s_l_init")]))
        return alpha, np.clip(self.mean_field_couplings(), 0.0, 1.0), (x0, y0)


def _noise_floor(resid: np.ndarray, var: np.ndarray) -> float:
    """The floor ``f ≥ 0`` with ``mean(r² / (f² + v)) = 1`` (0 if sampling noise alone explains the
    residuals): a moment estimate of the noise every entry has beyond its sampling variance."""
    from scipy.optimize import brentq

    def excess(f: float) -> float:
        return float(np.mean(resid**2 / (f**2 + var))) - 1.0

    if excess(1e-6) <= 0:
        return 1e-6 if not (var > 0).all() else 0.0
    hi = max(1.0, float(np.sqrt(np.mean(resid**2))) * 2)
    return float(brentq(excess, 1e-6, hi)) if excess(hi) < 0 else hi


def _pick(values: np.ndarray, idx: np.ndarray) -> float | np.ndarray:
    return float(values[idx[0]]) if len(idx) == 1 else values[idx].copy()
