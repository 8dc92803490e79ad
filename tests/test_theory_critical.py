"""Critical diversity N*: the reference scaling, an independent check, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from motivlab.theory import Problem, critical_diversity_at_saturation, fit_loglog_slope
from motivlab.theory.homogeneous.model import logit, sigmoid

P0 = np.array([0.1, 0.01, 0.001])


def _p_inf_lsoda(p0: float, n: float) -> float:
    """Independent p_∞: tight LSODA to t = 1e6 (the outcome is bistable, so the horizon is not critical)."""

    def rhs(t, s):
        p, sr, sl = sigmoid(s[0]), sigmoid(s[1]), sigmoid(s[2])
        return [n * p * (1 - p) * (sr - sl), n * p * sr * (1 - sr), (1 - p) * sl * (1 - sl)]

    sol = solve_ivp(rhs, (0, 1e6), [logit(p0), 0.0, logit(0.1)], method="LSODA", rtol=1e-9, atol=1e-11)
    return float(sigmoid(sol.y[0, -1]))


def _n_star_lsoda(p0: float) -> float:
    lo, hi = 0.0, math.log(1e4 / p0)
    while hi - lo > 1e-4:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if _p_inf_lsoda(p0, math.exp(mid)) > 0.5 else (mid, hi)
    return math.exp(0.5 * (lo + hi))


def test_reference_scaling_n_star_times_p0_and_slope() -> None:
    """sR0 = 0.5, sL0 = 0.1, α = 1, c = (1, 1, 0): N* ≈ 0.153 / p0 (within 3 %), slope −1 ± 0.01.

    The design note quotes N* ≈ 1.5/p0; the model as specified (and the independent LSODA check
    below) gives a prefactor ten times smaller, 0.152 — the slope −1 agrees.
    """
    res = critical_diversity_at_saturation(Problem(p0=P0, sr0=0.5, sl0=0.1))
    assert res.crossed.all()
    np.testing.assert_allclose(res.n_star * P0, 0.153, rtol=0.03)
    fit = fit_loglog_slope(P0, res.n_star)
    assert fit.slope == pytest.approx(-1.0, abs=0.01)
    assert fit.slope_lo <= fit.slope <= fit.slope_hi


def test_agrees_with_independent_lsoda_bisection() -> None:
    """Batched N* vs per-point LSODA + bisection: within 0.5 % (our rtol is 1e-3)."""
    res = critical_diversity_at_saturation(Problem(p0=P0[:2]))
    ref = np.array([_n_star_lsoda(p) for p in P0[:2]])
    np.testing.assert_allclose(res.n_star, ref, rtol=5e-3)
    assert np.all(res.n_lo <= res.n_star) and np.all(res.n_star <= res.n_hi)
    assert np.all(res.n_hi / res.n_lo < 1 + 2.1e-3)


def test_never_crossed_is_none_not_nan() -> None:
    res = critical_diversity_at_saturation(Problem(p0=np.array([1e-9, 0.01])), n_max=1e4)
    assert res.crossed.tolist() == [False, True]
    assert res.tolist()[0] is None and isinstance(res.tolist()[1], float)
    assert not np.isnan(res.n_star).any() and np.isinf(res.n_star[0])
    # a cost κ = 1 makes reward-seeking pay less than local behaviour whatever the skills: never wins
    assert critical_diversity_at_saturation(Problem(p0=0.01, kappa=1.0), n_max=1e5).tolist() is None


def test_n_star_is_one_when_single_environment_already_wins() -> None:
    res = critical_diversity_at_saturation(Problem(p0=0.4, sr0=0.9, sl0=0.1))
    assert float(res.n_star) == 1.0 and bool(res.crossed)


def test_mean_normalisation_is_a_time_rescaling() -> None:
    """Homogeneous 'mean' divides every α_eff by N: same orbit, so the same N*."""
    p = Problem(p0=np.array([0.05, 0.005]))
    a = critical_diversity_at_saturation(p).n_star
    b = critical_diversity_at_saturation(p.replace(normalize="mean")).n_star
    np.testing.assert_allclose(a, b, rtol=2e-3)


def test_local_transfer_raises_n_star_and_batch_is_consistent() -> None:
    pr = Problem(p0=0.01, c_y=np.array([0.0, 1e-3, 3e-3]))
    ns = critical_diversity_at_saturation(pr).n_star
    assert np.all(np.diff(ns) > 0)
    one = critical_diversity_at_saturation(Problem(p0=0.01, c_y=1e-3))
    assert float(one.n_star) == pytest.approx(ns[1], rel=1e-12)


@pytest.mark.parametrize(("kw", "needle"), [({"threshold": 1.0}, "threshold"), ({"n_max": 1.0}, "n_max"),
                                            ({"threshold": math.nan}, "threshold")])
def test_bad_search_settings(kw: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        critical_diversity_at_saturation(Problem(), **kw)


def test_bisection_special_case_and_progress_callback() -> None:
    """points_per_round = 1 is plain bisection: same N* within rtol; on_round reports every round."""
    calls: list[tuple[int, int]] = []
    multi = critical_diversity_at_saturation(Problem(p0=0.02), on_round=lambda d, t: calls.append((d, t)))
    bisect = critical_diversity_at_saturation(Problem(p0=0.02), points_per_round=1)
    assert float(bisect.n_star) == pytest.approx(float(multi.n_star), rel=2e-3)
    assert calls[-1][0] == calls[-1][1] and len(calls) == calls[-1][1]


def test_three_critical_diversity_functions_have_distinct_names():
    import motivlab.theory as theory

    assert theory.critical_diversity is theory.critical_diversity_at_saturation  # historical alias
    assert theory.critical_diversity_at_horizon is not theory.critical_diversity_at_saturation
    assert callable(theory.critical_diversity_from_grid)
