"""The heterogeneous behavioural-selection model: dynamics, reductions, N*, calibration, slopes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motivlab.theory.heterogeneous.calibration import calibrate_scale, loglog_slope
from motivlab.theory.heterogeneous.diversity import (
    critical_diversity_from_grid,
    default_n_grid,
    diversity_sweep,
    refine_nstar,
)
from motivlab.theory.heterogeneous.population import (
    HeterogeneousConfig,
    Population,
    draw_population,
    mean_propensity,
    simulate,
)
from motivlab.theory.homogeneous.model import logit, reward_gradients, sigmoid


def _pop(cfg, n, r=2, seed=0):
    return draw_population(cfg, n, r, np.random.default_rng(seed))


@settings(max_examples=15, deadline=None)
@given(
    geometry=st.sampled_from(["uniform", "gaussian", "clustered", "manifold"]),
    n=st.integers(1, 20),
    p0=st.floats(1e-4, 0.9),
    sr0=st.floats(0.05, 0.95),
    sl0=st.floats(0.05, 0.95),
    kappa=st.floats(0.0, 0.5),
    lam=st.floats(0.0, 1.0),
    normalize=st.sampled_from(["sum", "mean"]),
    seed=st.integers(0, 1000),
)
def test_propensities_stay_in_open_unit_interval(geometry, n, p0, sr0, sl0, kappa, lam, normalize, seed):
    cfg = HeterogeneousConfig(geometry=geometry, p0=p0, sr0=sr0, sl0=sl0, kappa=kappa, lam=lam,
                              normalize=normalize, scale=0.5, horizon=30.0)
    tr = simulate(cfg, _pop(cfg, n, seed=seed), n)
    assert np.isfinite(tr.z).all() and np.isfinite(tr.x).all() and np.isfinite(tr.y).all()
    assert ((tr.p > 0) & (tr.p < 1)).all()


def _single_env_euler(p0, sr0, sl0, alpha_eff, dt, horizon):
    """Straightforward fixed-step Euler of the N = 1 system (theory.model gradients)."""
    z, x, y = logit(p0), logit(sr0), logit(sl0)
    for _ in range(round(horizon / dt)):
        gz, gx, gy = reward_gradients(np.array(z), np.array(x), np.array(y))
        z, x, y = z + dt * alpha_eff[0] * gz, x + dt * alpha_eff[1] * gx, y + dt * alpha_eff[2] * gy
    return float(sigmoid(z)), float(sigmoid(x)), float(sigmoid(y))


@pytest.mark.parametrize("normalize", ["sum", "mean"])
def test_identical_environments_match_homogeneous_reduction(normalize):
    n, c, alpha = 12, (0.8, 0.6, 0.1), np.array([1.5, 1.0, 1.0])
    cfg = HeterogeneousConfig(coupling="constant", c=c, alpha=tuple(alpha), sigma_alpha=(0, 0, 0),
                              init_sd=(0, 0, 0), p0=0.05, normalize=normalize, integrator="euler",
                              max_dlatent=None, dt=0.01, horizon=20.0, tol=1e-12)
    tr = simulate(cfg, _pop(cfg, n), n)
    a_eff = alpha * (1 + (n - 1) * np.array(c)) / (n if normalize == "mean" else 1)
    ref = _single_env_euler(0.05, 0.5, 0.1, a_eff, 0.01, 20.0)
    got = (tr.p, sigmoid(tr.x), sigmoid(tr.y))
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-9)  # every env of every resample


def test_coincident_coordinates_give_full_gaussian_coupling():
    """All environments at one point: the Gaussian kernel is all ones, i.e. constant c = 1."""
    n = 8
    base = dict(sigma_alpha=(0, 0, 0), init_sd=(0, 0, 0), p0=0.02, horizon=40.0)
    gauss = HeterogeneousConfig(ell_z=0.5, ell_x=0.5, ell_y=None, **base)
    pop = _pop(gauss, n)
    pop = Population(np.zeros_like(pop.coords), pop.log_alpha, pop.init, pop.rff)
    const = HeterogeneousConfig(coupling="constant", c=(1.0, 1.0, 0.0), **base)
    np.testing.assert_allclose(simulate(gauss, pop, n).p, simulate(const, pop, n).p, rtol=1e-5)


@pytest.fixture(scope="module")
def small_step_reference():
    """Fixed small-step Euler (the reference every faster scheme is held to), computed once."""
    cfg = HeterogeneousConfig(scale=0.6, horizon=50.0)
    pop = _pop(cfg, 40, r=2, seed=3)
    ref = simulate(cfg.model_copy(update={"integrator": "euler", "max_dlatent": None, "dt": 0.005}), pop, 40, [0.1, 0.01])
    return cfg, pop, ref


@pytest.mark.parametrize(
    "control", [{}, {"step_control": "probability", "max_dlatent": 0.05}, {"integrator": "euler", "max_dlatent": 0.1}]
)
def test_step_controlled_integrators_agree_with_small_step_euler(control, small_step_reference):
    cfg, pop, ref = small_step_reference
    fast = simulate(cfg.model_copy(update=control), pop, 40, [0.1, 0.01])
    assert fast.steps < ref.steps / 10
    np.testing.assert_allclose(fast.p.mean(axis=1), ref.p.mean(axis=1), atol=0.01)


def test_same_seed_same_result_and_stop_after_crossing_keeps_nstar():
    cfg = HeterogeneousConfig(geometry="clustered", scale=0.8)
    grid = default_n_grid(300, 8)
    a = diversity_sweep(cfg, p0s=[0.1, 0.02], n_grid=grid, resamples=3, seed=5)
    b = diversity_sweep(cfg, p0s=[0.1, 0.02], n_grid=grid, resamples=3, seed=5)
    full = diversity_sweep(cfg, p0s=[0.1, 0.02], n_grid=grid, resamples=3, seed=5, stop_after_crossing=False)
    np.testing.assert_array_equal(a.nstar, b.nstar)
    np.testing.assert_allclose(a.nstar, full.nstar, rtol=1e-9)
    assert np.isfinite(full.p_inf).all() and np.isnan(a.p_inf).any()  # skipped points really skipped
    assert (a.nstar[:, 0] <= a.nstar[:, 1]).all()  # a smaller p0 needs more diversity


def test_more_environments_raise_final_propensity():
    cfg = HeterogeneousConfig(scale=0.6)
    res = diversity_sweep(cfg, p0s=[0.01], n_grid=[1, 10, 100, 400], resamples=2, stop_after_crossing=False)
    med = np.median(res.p_inf[..., 0], axis=0)
    assert med[0] < 0.1 < 0.5 < med[-1]


def test_critical_diversity_interpolates_in_log_n():
    grid = np.array([1, 10, 100, 1000])
    p = np.array([[0.0, 0.2, 0.8, 1.0], [0.9, 1.0, 1.0, 1.0], [0.0, 0.1, 0.2, 0.3], [0.0, 0.4, np.nan, np.nan]])
    p[3, 2] = 0.6
    ns = critical_diversity_from_grid(grid, p, 0.5)
    np.testing.assert_allclose(ns[0], 10 ** 1.5)
    assert ns[1] == 1.0 and ns[2] == np.inf
    np.testing.assert_allclose(ns[3], 10 ** 1.5)


def test_calibration_hits_target():
    cfg = HeterogeneousConfig(geometry="gaussian")
    grid = default_n_grid(300, 10)
    cal = calibrate_scale(cfg, target=30.0, p0_ref=0.03, n_grid=grid, resamples=6, seed=1)
    assert abs(cal.median_nstar / 30.0 - 1) < 0.05, cal
    check = diversity_sweep(cfg.model_copy(update={"scale": cal.scale}), p0s=[0.03], n_grid=grid, resamples=6, seed=1)
    np.testing.assert_allclose(np.median(check.nstar), cal.median_nstar, rtol=1e-9)


def test_loglog_slope_recovers_planted_exponent():
    rng = np.random.default_rng(0)
    p0s = np.logspace(-3, -1, 6)
    nstar = 2.0 * p0s[None, :] ** -1.3 * np.exp(0.1 * rng.standard_normal((40, 6)))
    est = loglog_slope(p0s, nstar)
    assert est.lo < -1.3 < est.hi and abs(est.slope + 1.3) < 0.05 and est.hi - est.lo < 0.2


@pytest.mark.parametrize(
    ("update", "name"),
    [({"alpha": (-1.0, 1.0, 1.0)}, "alpha"), ({"p0": 1.2}, "p0"), ({"p0": 0.0}, "p0"), ({"ell_z": 0.0}, "ell_z"),
     ({"ell_y": -0.5}, "ell_y"), ({"geometry": "torus"}, "geometry"), ({"scale": float("nan")}, "scale"),
     ({"sigma_alpha": (0.1, -0.1, 0.1)}, "sigma_alpha"), ({"c": (1.0, 1.5, 0.0)}, "c")],
)
def test_bad_config_names_parameter(update, name):
    with pytest.raises(ValueError, match=name):
        HeterogeneousConfig(**update)


def test_bad_sweep_input_names_parameter():
    cfg = HeterogeneousConfig()
    pop = _pop(cfg, 10)
    with pytest.raises(ValueError, match="n "):
        simulate(cfg, pop, 0)
    with pytest.raises(ValueError, match="N grid"):
        diversity_sweep(cfg, n_grid=[0, 10], population=pop)
    with pytest.raises(ValueError, match="p0"):
        diversity_sweep(cfg, p0s=[0.1, float("nan")], n_grid=[1, 10], population=pop)
    with pytest.raises(ValueError, match="target"):
        calibrate_scale(cfg, target=1e6, n_grid=[1, 10], population=pop)


def test_masked_prefix_equals_smaller_population():
    cfg = HeterogeneousConfig(scale=0.6)
    pop = _pop(cfg, 50, r=2, seed=4)
    small = simulate(cfg, pop, 30, [0.05, 0.01])
    masked = simulate(cfg, pop, 50, [0.05, 0.01], n_active=np.array([[30, 30], [30, 30]]))
    np.testing.assert_allclose(mean_propensity(masked, np.full((2, 2), 30)), mean_propensity(small), atol=1e-3)


def test_refinement_narrows_to_the_bisected_crossing():
    cfg = HeterogeneousConfig(geometry="gaussian", scale=0.7)
    grid = default_n_grid(300, 6)
    pop = _pop(cfg, 300, r=3, seed=2)
    coarse = diversity_sweep(cfg, p0s=[0.02], n_grid=grid, population=pop)
    fine_grid = np.unique(np.concatenate([grid, np.arange(2, 301)]))
    dense = diversity_sweep(cfg, p0s=[0.02], n_grid=fine_grid, population=pop)
    refined = refine_nstar(cfg, pop, grid, coarse.p0s, coarse.p_inf, rounds=6)
    # six bisections resolve the bracket to single environments: agrees with the every-N sweep
    np.testing.assert_allclose(np.log(refined), np.log(dense.nstar), atol=np.log(1.05))


def test_identical_environments_reproduce_homogeneous_critical_diversity():
    """Regression: a stop test on dp/dt alone ended tiny-p0 runs at t = 0 and doubled N*(0.001)."""
    critical = pytest.importorskip("motivlab.theory.homogeneous.critical")
    from motivlab.theory.homogeneous.params import Problem

    p0s = np.array([0.01, 0.001])
    ref = critical.critical_diversity_at_saturation(Problem(p0=p0s)).n_star  # real-valued N, run to saturation
    cfg = HeterogeneousConfig(coupling="constant", c=(1.0, 1.0, 0.0), sigma_alpha=(0, 0, 0), init_sd=(0, 0, 0))
    got = diversity_sweep(cfg, p0s=p0s, n_grid=default_n_grid(400, 12), resamples=1, refine_rounds=8).nstar[0]
    np.testing.assert_allclose(got, ref, rtol=0.03, atol=1.0)  # integer N, horizon T = 100
