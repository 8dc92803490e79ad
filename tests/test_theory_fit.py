"""Round-trip recovery of the behavioural-selection fit: simulate with known parameters, fit, compare.

Data are simulated with 10× finer Euler steps than the fit uses (no inverse crime) and Gaussian
noise of 0.1 in logit space. Identifiability needs variation between envs: heterogeneous initial
conditions and held-out (untrained) envs that only receive transfer; with identical envs only
``α(1 + (N - 1)c)`` is identified (documented in docs/theory_fit.md).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logit

from motivlab.errors import MotivlabInputError
from motivlab.theory.fit.data import Trajectories
from motivlab.theory.fit.estimator import BehaviouralSelectionFit
from motivlab.theory.fit.forward import critical_diversity_at_horizon, euler_grid, simulate_trajectories
from motivlab.theory.fit.solver import levenberg_marquardt

ALPHA = np.array([4e-3, 3e-3, 2e-3])  # per RL step


def _design(seed: int, n: int = 24, t: int = 32):
    rng = np.random.default_rng(seed)
    times = np.arange(t) * 30.0
    lat0 = np.stack([rng.normal(logit(0.1), 1, n), rng.normal(logit(0.4), 1, n), rng.normal(logit(0.2), 1, n)])
    trained = np.arange(n) < (2 * n) // 3
    return rng, times, lat0, trained


def _z(fit, name, truth):
    """(estimate - truth) / stderr in the unconstrained parametrisation."""
    i = fit.layout_.block(name)[0]
    transform = {"log": np.log, "logit": logit, "unit": float}[fit.layout_.transforms[i]]
    return (fit.theta_[i] - transform(truth)) / fit.theta_stderr_[i]


def test_homogeneous_round_trip_with_missing_data():
    c = np.array([0.5, 0.7, 0.1])
    rng, times, lat0, trained = _design(0)
    data = simulate_trajectories(times, ALPHA, lat0, couplings=c, trained=trained, noise=0.1, missing=0.15, rng=rng)
    fit = BehaviouralSelectionFit("homogeneous").fit(data)
    assert fit.success_
    assert 0.08 < fit.residual_rms_ < 0.12  # the noise level, in logit units
    for k, name in enumerate("zxy"):
        assert fit.params_[f"alpha_{name}"] == pytest.approx(ALPHA[k], rel=0.25)
        assert fit.params_[f"c_{name}"] == pytest.approx(c[k], abs=0.15)
        assert abs(_z(fit, f"alpha_{name}", ALPHA[k])) < 3.5
        assert abs(_z(fit, f"c_{name}", c[k])) < 3.5
    init = np.concatenate([fit.theta_[fit.layout_.block(n)] for n in ("p_init", "s_r_init", "s_l_init")])
    assert np.max(np.abs(init - lat0.ravel())) < 0.2
    assert fit.discretisation_error_ < 0.05


def test_lengths_round_trip_with_coordinates():
    ell = np.array([0.5, 1.0, 0.15])
    rng, times, lat0, trained = _design(2)
    coords = rng.uniform(0, 1, (lat0.shape[1], 2))
    data = simulate_trajectories(times, ALPHA, lat0, lengths=ell, coords=coords, trained=trained, noise=0.1,
                                 missing=0.1, rng=rng)
    fit = BehaviouralSelectionFit("lengths", n_starts=2).fit(data)
    for k, name in enumerate("zxy"):
        assert fit.params_[f"alpha_{name}"] == pytest.approx(ALPHA[k], rel=0.2)
        assert fit.params_[f"ell_{name}"] == pytest.approx(ell[k], rel=0.3)
        assert abs(_z(fit, f"ell_{name}", ell[k])) < 3.5
    assert fit.mean_field_couplings().shape == (3,)


def test_noise_free_fit_is_nearly_exact_and_predict_matches():
    c = np.array([0.3, 0.6, 0.05])
    _, times, lat0, trained = _design(2, n=10, t=25)
    data = simulate_trajectories(times, ALPHA, lat0, couplings=c, trained=trained, n_steps=4000)
    fit = BehaviouralSelectionFit("homogeneous", n_steps=800, n_starts=1).fit(data)
    for k, name in enumerate("zxy"):
        assert fit.params_[f"alpha_{name}"] == pytest.approx(ALPHA[k], rel=0.03)
        assert fit.params_[f"c_{name}"] == pytest.approx(c[k], abs=0.02)
    pred = fit.predict(data.times)
    assert np.max(np.abs(pred.p - data.p)) < 5e-3
    later = fit.predict([times[-1], times[-1] * 2])
    assert later.n_times == 2 and np.all((later.p > 0) & (later.p < 1))


def test_block_jacobian_reaches_the_exact_optimum():
    rng, times, lat0, trained = _design(7, n=20, t=15)
    data = simulate_trajectories(times, ALPHA, lat0, couplings=[0.5, 0.7, 0.1], trained=trained, noise=0.1, rng=rng)
    exact = BehaviouralSelectionFit(n_starts=1, jacobian="exact").fit(data)
    block = BehaviouralSelectionFit(n_starts=1, jacobian="block").fit(data)
    np.testing.assert_allclose(block.theta_, exact.theta_, atol=1e-3)
    np.testing.assert_allclose(block.theta_stderr_, exact.theta_stderr_, rtol=1e-2)


def test_unobserved_route_pins_initial_skill_and_stays_finite():
    rng, times, lat0, trained = _design(3, n=8, t=20)
    data = simulate_trajectories(times, ALPHA, lat0, couplings=[0.4, 0.6, 0.1], trained=trained, noise=0.1, rng=rng)
    s_r = data.s_r.copy()
    s_r[:, 0] = np.nan  # env 0 never sampled its reward-seeking route
    data = Trajectories(times, data.p, s_r, data.s_l, trained=trained)
    fit = BehaviouralSelectionFit("homogeneous", n_starts=1).fit(data)
    table = fit.summary()
    row = table[(table.parameter == "s_r_init") & (table.env_id == 0)].iloc[0]
    assert bool(row.fixed) and row.stderr == 0
    assert np.all(np.isfinite(table[["estimate", "theta"]].to_numpy(float)))
    ident = table["identified"].to_numpy(bool)
    assert np.all(np.isfinite(table.loc[ident, ["stderr", "ci_low", "ci_high"]].to_numpy(float)))
    assert np.all(np.isinf(table.loc[~ident, "theta_stderr"]))  # no information: no fake precision
    assert ident[:3].all()  # the learnabilities are identified


def test_no_information_is_reported_as_unidentified():
    times = np.arange(6.0)
    flat = np.tile([0.3, 0.5, 0.6], (6, 1))  # nothing moves: no learnability or coupling is estimable
    data = Trajectories(times, flat, np.full_like(flat, 1e-9), np.full_like(flat, 1e-9))
    fit = BehaviouralSelectionFit(n_starts=1).fit(data)
    glob = fit.summary().query("env_id.isna()")
    assert not glob["identified"].any() and np.isinf(glob["stderr"]).all()
    assert fit.n_iterations_ < 50 and fit.success_


def test_bootstrap_agrees_with_jacobian_and_is_reproducible():
    rng, times, lat0, _ = _design(4, n=4, t=20)
    lat0[0] = logit(0.3)  # without transfer, p must move visibly for α_z to be identified
    data = simulate_trajectories(times, 5 * ALPHA, lat0, noise=0.1, rng=rng)
    jac = BehaviouralSelectionFit("none", n_starts=1).fit(data)
    boot = [BehaviouralSelectionFit("none", uncertainty="bootstrap", n_bootstrap=12, seed=7, n_starts=1).fit(data)
            for _ in range(2)]
    assert np.array_equal(boot[0].theta_stderr_, boot[1].theta_stderr_)
    ratio = boot[0].theta_stderr_[:3] / jac.theta_stderr_[:3]
    assert np.all((ratio > 0.3) & (ratio < 3.0))


def test_fixed_parameter_is_held_and_per_env_learnabilities_fit():
    rng, times, lat0, _ = _design(5, n=5, t=25)
    lat0[0] = logit(0.3)
    alpha = 5 * np.array([[3e-3, 5e-3, 8e-3, 3e-3, 5e-3], [3e-3] * 5, [2e-3] * 5])
    data = simulate_trajectories(times, alpha, lat0, noise=0.05, rng=rng)
    fit = BehaviouralSelectionFit("homogeneous", shared_learnabilities=False, fixed={"c_z": 0, "c_x": 0, "c_y": 0},
                                  n_starts=1)
    fit.fit(data)
    assert fit.params_["c_z"] < 1e-9 and fit.stderr_["c_z"] == 0
    assert fit.params_["alpha_z"].shape == (5,)
    for k, name in enumerate("zxy"):
        idx = fit.layout_.block(f"alpha_{name}")
        np.testing.assert_allclose(fit.params_[f"alpha_{name}"], alpha[k], rtol=0.4)
        assert np.all(np.abs(fit.theta_[idx] - np.log(alpha[k])) < 3.5 * fit.theta_stderr_[idx])


def test_critical_diversity_fixed_budget_matches_saturation_reference():
    from motivlab.theory.homogeneous.critical import critical_diversity_at_saturation as reference
    from motivlab.theory.homogeneous.params import Problem

    p0 = np.array([0.1, 0.01])
    ours = critical_diversity_at_horizon(p0, np.ones(3), np.array([1.0, 1.0, 0.0]), (0.0, logit(0.1)), horizon=1e6)
    ref = reference(Problem(p0=p0, sr0=0.5, sl0=0.1, c_z=1.0, c_x=1.0, c_y=0.0)).n_star
    np.testing.assert_allclose(ours, ref, rtol=0.03)
    assert ours[1] > 5 * ours[0]  # N* grows as p0 shrinks


def test_predict_critical_diversity_from_fit():
    rng, times, lat0, trained = _design(6, n=12, t=20)
    data = simulate_trajectories(times, ALPHA, lat0, couplings=[0.9, 0.9, 0.05], trained=trained, noise=0.1, rng=rng)
    fit = BehaviouralSelectionFit(n_starts=1).fit(data)
    n_star = fit.predict_critical_diversity([0.1, 0.01, 0.001], horizon=1e4)
    assert n_star.shape == (3,) and not np.isnan(n_star).any()
    finite = n_star[np.isfinite(n_star)]
    assert np.all(np.diff(finite) > 0)
    with pytest.raises(MotivlabInputError, match="p0"):
        fit.predict_critical_diversity([1.5])


# ------------------------------------------------------------------------------- bad input


def _tiny():
    t = np.arange(5.0)
    v = np.full((5, 3), 0.3)
    return t, v


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"p": np.full((5, 3), 1.5)}, "p values must be in"),
        ({"s_r": np.full((4, 3), 0.3)}, "s_r must have shape"),
        ({"times": np.array([0, 1, 1, 2, 3.0])}, "strictly increasing"),
        ({"coords": np.zeros((2, 2))}, "coords"),
        ({"trained": np.zeros(3)}, "trained"),
    ],
)
def test_trajectories_validation_names_the_field(kwargs, match):
    t, v = _tiny()
    args = {"times": t, "p": v, "s_r": v, "s_l": v, **kwargs}
    with pytest.raises(MotivlabInputError, match=match):
        Trajectories(**args)


def test_fit_input_errors():
    t, v = _tiny()
    data = Trajectories(t, v, v, v)
    with pytest.raises(MotivlabInputError, match="coords"):
        BehaviouralSelectionFit("lengths").fit(data)
    with pytest.raises(MotivlabInputError, match="at least 2 envs"):
        BehaviouralSelectionFit().fit(Trajectories(t, v[:, :1], v[:, :1], v[:, :1]))
    with pytest.raises(MotivlabInputError, match="s_l has no observed value"):
        BehaviouralSelectionFit().fit(Trajectories(t, v, v, np.full_like(v, np.nan)))
    with pytest.raises(MotivlabInputError, match="cannot determine"):
        BehaviouralSelectionFit().fit(Trajectories(t[:2], v[:2, :2], v[:2, :2], v[:2, :2]))
    with pytest.raises(MotivlabInputError, match="at least 2 observation times"):
        BehaviouralSelectionFit().fit(Trajectories(t[:1], v[:1], v[:1], v[:1]))
    with pytest.raises(MotivlabInputError, match="fixable parameters"):
        BehaviouralSelectionFit(fixed={"ell_z": 1.0}).fit(data)
    with pytest.raises(MotivlabInputError, match=r"fixed\[c_z\]"):
        BehaviouralSelectionFit(fixed={"c_z": 2.0}).fit(data)
    with pytest.raises(ValueError, match="coupling"):
        BehaviouralSelectionFit("bogus")
    with pytest.raises(MotivlabInputError, match="not fitted"):
        BehaviouralSelectionFit().predict([1.0])


# ------------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(2, 30), st.integers(0, 2**31 - 1))
def test_levenberg_marquardt_solves_linear_least_squares(p, extra, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p + extra, p))
    b = rng.normal(size=p + extra)
    res = levenberg_marquardt(lambda x: a @ x - b, lambda x: (a @ x - b, a), np.zeros(p))
    np.testing.assert_allclose(res.x, np.linalg.lstsq(a, b, rcond=None)[0], atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 100.0), min_size=1, max_size=30), st.integers(10, 500))
def test_euler_grid_covers_each_interval(gaps, n_steps):
    times = np.concatenate([[0.0], np.cumsum(gaps)])
    grid = euler_grid(times, n_steps)
    assert len(grid) == len(gaps)
    # The grid only sees `times`; its intervals are np.diff(times), which differ from `gaps` by the
    # cumsum round-off (1e-14 absolute, 1e-12 relative on a 0.01 gap after a 128 total).
    np.testing.assert_allclose([k * dt for k, dt in grid], np.diff(times), rtol=1e-12)
    assert all(k >= 1 for k, _ in grid)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.floats(0.0, 0.9), st.integers(0, 2**31 - 1))
def test_trajectories_frame_round_trip(n_times, n_envs, missing, seed):
    rng = np.random.default_rng(seed)
    arrays = [np.where(rng.random((n_times, n_envs)) < missing, np.nan, rng.random((n_times, n_envs))) for _ in range(3)]
    data = Trajectories(np.cumsum(rng.uniform(0.5, 2, n_times)), *arrays, env_ids=rng.permutation(100)[:n_envs] + 1,
                        coords=rng.normal(size=(n_envs, 2)), trained=np.arange(n_envs) != 1 if n_envs > 1 else None)
    back = Trajectories.from_frame(data.to_frame())
    order = np.argsort(data.env_ids)
    for q in ("p", "s_r", "s_l"):
        np.testing.assert_array_equal(getattr(back, q), getattr(data, q)[:, order])
    np.testing.assert_array_equal(back.coords, data.coords[order])
    np.testing.assert_array_equal(back.trained, data.trained[order])
