"""Sweeps as tables and the log-log slope fit (planted-slope recovery)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from motivlab.theory import (
    Problem,
    critical_curve,
    diversity_sweep,
    fit_loglog_slope,
    learnability_heatmap,
    log_grid,
)


def test_slope_fit_recovers_planted_slope_with_calibrated_interval() -> None:
    rng = np.random.default_rng(0)
    x = np.geomspace(1e-5, 1e-1, 12)
    covered = 0
    for _ in range(200):
        y = 10 ** (-0.7 - 1.3 * np.log10(x) + rng.normal(0, 0.05, x.size))
        fit = fit_loglog_slope(x, y)
        covered += fit.slope_lo <= -1.3 <= fit.slope_hi
    assert 0.90 <= covered / 200 <= 0.99  # nominal 95 %
    assert fit.slope == pytest.approx(-1.3, abs=0.1)


def test_slope_fit_refuses_too_few_points() -> None:
    with pytest.raises(ValueError, match="≥ 3"):
        fit_loglog_slope([1e-3, 1e-2, 1e-1], [np.inf, 10.0, 1.0])
    with pytest.raises(ValueError, match="confidence"):
        fit_loglog_slope([1, 2, 3], [1, 2, 3], confidence=1.0)


def test_heatmap_table_layout() -> None:
    rz, rx = np.array([0.01, 1.0, 100.0]), np.array([0.1, 10.0])
    df = learnability_heatmap(Problem(p0=0.01), rz, rx)
    assert len(df) == 6
    assert df.ratio_x.tolist() == [0.1, 10.0] * 3  # ratio_x fastest
    np.testing.assert_allclose(df.alpha_z, np.repeat(rz, 2))
    assert df.p_inf.between(0, 1, inclusive="neither").all() and df.saturated.all()
    # a propensity learning 100× faster than local skill wins from p0 = 0.01
    assert df[df.ratio_z == 100.0].p_inf.min() > 0.5
    with pytest.raises(ValueError, match="scalar base"):
        learnability_heatmap(Problem(p0=[0.1, 0.2]), rz, rx)
    with pytest.raises(ValueError, match="ratio_z"):
        learnability_heatmap(Problem(), [0.0, 1.0], rx)


def test_diversity_sweep_and_critical_curve_tables() -> None:
    probs = Problem(p0=np.array([0.1, 0.01]))
    df = diversity_sweep(probs, log_grid(1, 1e3, 7))
    assert len(df) == 14 and set(df.member) == {0, 1}
    assert {"p_inf", "s_r", "s_l", "saturated", "n", "normalize"} <= set(df.columns)
    crit = critical_curve(Problem(p0=np.array([0.1, 1e-9])), n_max=1e4)
    assert crit.n_star.dtype == pd.Float64Dtype()
    assert pd.isna(crit.n_star.iloc[1]) and not pd.isna(crit.n_star.iloc[0])
    # sweep and N* agree: p_inf crosses 0.5 between the grid points around N*
    n_star = float(crit.n_star.iloc[0])
    sub = df[df.member == 0]
    assert (sub[sub.n < n_star].p_inf < 0.5).all() and (sub[sub.n > n_star].p_inf > 0.5).all()
    with pytest.raises(ValueError, match="n_values"):
        diversity_sweep(probs, [0.5, 2.0])
