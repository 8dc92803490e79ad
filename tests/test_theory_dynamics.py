"""Integrators of the homogeneous model: agreement, convergence order, invariants (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from motivlab.theory import IntegratorConfig, Problem, simulate, vector_field
from motivlab.theory.homogeneous.dynamics import _rates
from motivlab.theory.homogeneous.model import sigmoid

HORIZON = dict(tol=1e-12, max_steps=10**6)  # integrate to t_max exactly (no early stop)


def _reference(pr: Problem, t_end: float) -> np.ndarray:
    """p(t_end) for a scalar problem from a tight DOP853 solve (independent of our code)."""
    a = pr.effective_alpha()
    kappa, lam = float(pr.kappa), float(pr.lam)

    def rhs(t, s):
        z, x, y = s
        p, sr, sl = sigmoid(z), sigmoid(x + lam * y), sigmoid(y)
        gx = p * sr * (1 - sr)
        return [a[0] * p * (1 - p) * (sr - kappa - sl), a[1] * gx, a[2] * ((1 - p) * sl * (1 - sl) + lam * gx)]

    sol = solve_ivp(rhs, (0, t_end), pr.initial_state(), method="DOP853", rtol=1e-12, atol=1e-12)
    return sigmoid(sol.y[0, -1])


def test_fused_rates_equal_vector_field() -> None:
    rng = np.random.default_rng(0)
    state = rng.normal(0, 3, size=(3, 50))
    alpha = rng.lognormal(0, 1, size=(3, 50))
    kappa, lam = rng.uniform(0, 0.3, 50), rng.uniform(0, 1, 50)
    np.testing.assert_allclose(_rates(state, alpha, kappa, lam)[0], vector_field(state, alpha, kappa, lam), rtol=1e-9)
    zeros = np.zeros(50)
    np.testing.assert_allclose(_rates(state, alpha, None, None)[0], vector_field(state, alpha, zeros, zeros), rtol=1e-9)


@pytest.mark.parametrize(("method", "kw"), [("euler", {"dt": 0.02}), ("adaptive", {}), ("adaptive_euler", {"delta": 0.02})])
def test_integrators_agree_with_tight_reference(method: str, kw: dict) -> None:
    """Stated tolerance: |Δp| < 2e-3 at t = 40 on a trajectory that crosses p = 0.5."""
    pr = Problem(p0=0.05, sr0=0.5, sl0=0.1, n=4.0, kappa=0.05, lam=0.3)
    cfg = IntegratorConfig(method=method, t_max=40.0, **kw, **HORIZON)  # α_min = 1: t_max is t
    sol = simulate(pr, cfg)
    assert sol.t == pytest.approx(40.0)
    assert abs(float(sol.p) - _reference(pr, 40.0)) < 2e-3


def test_adaptive_agrees_with_small_step_euler_on_a_grid() -> None:
    """The default fast integrator vs Euler (dt = 0.01 of the fastest clock) over a parameter grid."""
    pr = Problem(p0=np.array([0.3, 0.05, 0.01])[:, None], n=np.array([1.0, 3.0, 10.0, 30.0]), alpha_z=0.7)
    euler = simulate(pr, IntegratorConfig(method="euler", dt=0.01, t_max=25.0, **HORIZON))
    fast = simulate(pr, IntegratorConfig(t_max=25.0, **HORIZON))
    assert np.abs(fast.p - euler.p).max() < 5e-3
    assert np.abs(fast.s_l - euler.s_l).max() < 5e-3
    assert fast.steps.max() < euler.steps.min() / 10  # and it is much cheaper


def _order(method: str, sizes: list[float]) -> float:
    pr = Problem(p0=0.05, sr0=0.5, sl0=0.1, n=3.0)
    ref = _reference(pr, 20.0)
    errs = []
    for h in sizes:
        kw = {"dt": h} if method == "euler" else {"delta": h, "growth": h}
        errs.append(abs(float(simulate(pr, IntegratorConfig(method=method, t_max=20.0, **kw, **HORIZON)).p) - ref))
    return float(np.polyfit(np.log(sizes), np.log(errs), 1)[0])


def test_convergence_orders() -> None:
    """Euler is first order, the adaptive Heun scheme second order (empirical slopes)."""
    assert 0.8 < _order("euler", [0.04, 0.02, 0.01]) < 1.2
    assert 0.8 < _order("adaptive_euler", [0.04, 0.02, 0.01]) < 1.2
    assert 1.7 < _order("adaptive", [0.2, 0.1, 0.05]) < 2.3


def test_batch_equals_members_and_is_deterministic() -> None:
    pr = Problem(p0=np.array([0.2, 0.01, 0.001]), n=np.array([2.0, 50.0, 700.0]))
    batch = simulate(pr)
    for i in range(3):
        one = simulate(Problem(p0=float(pr.p0[i]), n=float(pr.n[i])))
        assert float(one.p) == pytest.approx(batch.p[i], rel=1e-12)
    again = simulate(pr)
    np.testing.assert_array_equal(batch.p, again.p)
    assert batch.saturated.all()


def test_saturation_at_extreme_learnabilities() -> None:
    """α_eff up to 1e7 (diversity sweeps) and 1e-3 reach saturation in few steps, no NaN."""
    pr = Problem(p0=1e-7, n=np.array([1.0, 1e3, 1e7]), alpha_x=np.array([[1e-3], [1.0], [1e3]]))
    sol = simulate(pr)
    assert sol.saturated.all()
    assert sol.steps.max() < 5000
    assert np.isfinite(sol.p).all() and np.isfinite(sol.s_r).all()


def test_trajectory_saved() -> None:
    sol = simulate(Problem(p0=0.01, n=20.0), save_trajectory=True)
    traj = sol.trajectory
    assert traj is not None
    assert np.all(np.diff(traj["t"][:, 0]) >= 0)
    assert traj["p"][0, 0] == pytest.approx(0.01)
    assert traj["p"][-1, 0] == pytest.approx(float(sol.p))


_prob = st.floats(0.001, 0.999)
_ratio = st.floats(-3.0, 3.0).map(lambda e: 10.0**e)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p0=_prob, sr0=_prob, sl0=_prob, az=_ratio, ax=_ratio, n=st.floats(1.0, 1e6), kappa=st.floats(0, 0.5),
       lam=st.floats(0, 2.0), cz=st.floats(0, 1), cy=st.floats(0, 1))
def test_p_stays_in_open_unit_interval(p0, sr0, sl0, az, ax, n, kappa, lam, cz, cy) -> None:
    sol = simulate(Problem(p0=p0, sr0=sr0, sl0=sl0, alpha_z=az, alpha_x=ax, n=n, kappa=kappa, lam=lam,
                           c_z=cz, c_y=cy), save_trajectory=True)
    p = sol.trajectory["p"]
    assert np.all(np.isfinite(p)) and np.all(p > 0) and np.all(p < 1)
    for key in ("s_r", "s_l"):  # skills may round to exactly 1.0 in float64 once their logit passes ~37
        v = sol.trajectory[key]
        assert np.all(np.isfinite(v)) and np.all(v > 0) and np.all(v <= 1)


@settings(max_examples=25, deadline=None)
@given(p0=_prob, sr0=_prob, sl0=_prob, az=_ratio, ax=_ratio, cz=st.floats(0, 1), cx=st.floats(0, 1),
       cy=st.floats(0, 1), normalize=st.sampled_from(["sum", "mean"]))
def test_n_equal_one_is_the_single_environment(p0, sr0, sl0, az, ax, cz, cx, cy, normalize) -> None:
    coupled = Problem(p0=p0, sr0=sr0, sl0=sl0, alpha_z=az, alpha_x=ax, c_z=cz, c_x=cx, c_y=cy, n=1.0,
                      normalize=normalize)
    single = Problem(p0=p0, sr0=sr0, sl0=sl0, alpha_z=az, alpha_x=ax, c_z=0.0, c_x=0.0, c_y=0.0)
    cfg = IntegratorConfig(t_max=30.0, **HORIZON)
    assert float(simulate(coupled, cfg).p) == float(simulate(single, cfg).p)


@settings(max_examples=25, deadline=None)
@given(p0=st.floats(1e-4, 0.5), sr0=st.floats(0.2, 0.95), gap=st.floats(0.05, 0.9), az=_ratio, ax=_ratio,
       n1=st.floats(0.0, 4.0), dn=st.floats(0.05, 2.0))
def test_p_inf_non_decreasing_in_n_with_positive_gap(p0, sr0, gap, az, ax, n1, dn) -> None:
    """c = (1, 1, 0), sR0 > sL0: more environments never lower the final propensity.

    Tolerance 1e-3 with tol = 1e-8: p approaches 0 or 1 only algebraically, so its value at the
    saturation stop carries an error ~ sqrt(tol) (a 20,000-sample check gave ≤ 1e-3 at tol = 1e-6).
    """
    sl0 = max(sr0 - gap, 0.01)
    pr = Problem(p0=p0, sr0=sr0, sl0=sl0, alpha_z=az, alpha_x=ax, c_z=1.0, c_x=1.0, c_y=0.0,
                 n=np.array([10**n1, 10 ** (n1 + dn)]))
    p = simulate(pr, IntegratorConfig(tol=1e-8)).p
    assert p[1] >= p[0] - 1e-3
