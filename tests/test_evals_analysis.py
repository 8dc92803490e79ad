"""The analysis recovers structure planted in a synthetic study (motivlab.evals.synthetic).

Expected values come from the generator's own linear-Gaussian model (exact correlations of item
means, planted effects and choice parameters), never from the analysis itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from motivlab.evals.analysis.consistency import pool_fisher
from motivlab.evals.analysis.pipeline import analyze
from motivlab.evals.analysis.structure import varimax
from motivlab.evals.synthetic import (
    PLANTED_ATTACH_LOGIT,
    PLANTED_CHOICE_SLOPE,
    PLANTED_EFFECTS,
    SyntheticConfig,
    simulate,
)

TOL_R = 0.07  # ~2 standard errors of r on ~280 items, with margin


@pytest.fixture(scope="module")
def study_and_result():
    study = simulate(SyntheticConfig(seed=0, subtasks_per_task=1))
    return study, analyze(study.results)


def _pooled_expected(study, m1, m2) -> float:
    rs = [study.expected_correlation(m1, m2, model_index=k) for k in range(study.config.n_models)]
    return float(np.tanh(np.mean(np.arctanh(rs))))


def _row(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), bool)
    for k, v in where.items():
        mask &= (table[k] == v).to_numpy()
    assert mask.sum() == 1, where
    return table[mask].iloc[0]


def test_retest_recovers_planted_reliability_per_model(study_and_result):
    study, result = study_and_result
    table = result.tables["retest"]
    for model, expected in study.expected_retest.items():
        got = _row(table, model=model, measure="pre")
        assert abs(got["r"] - expected) < TOL_R, (model, got["r"], expected)
        assert got["lo"] < got["r"] < got["hi"]
    expected_pooled = float(np.tanh(np.mean(np.arctanh(list(study.expected_retest.values())))))
    assert abs(result.summary["retest_r"] - expected_pooled) < 0.04


@pytest.mark.parametrize(
    ("key", "m1", "m2"),
    [
        ("r_pre_overall", ("pre", "score"), ("breakdown", "overall")),
        ("r_pre_post", ("pre", "score"), ("post", "score")),
        ("r_post_post_similar", ("post", "score"), ("post_similar", "score")),
        ("r_pre_performance", ("pre", "score"), ("performance", "general")),
        ("r_post_performance", ("post", "score"), ("performance", "general")),
        ("r_pre_completion", ("pre", "score"), ("performance", "completion")),
        ("r_post_effort", ("post", "score"), ("performance", "effort")),
        ("r_pre_log_tokens", ("pre", "score"), ("tokens", "count")),
    ],
)
def test_pooled_correlations_match_planted(study_and_result, key, m1, m2):
    study, result = study_and_result
    expected = _pooled_expected(study, m1, m2)
    assert abs(result.summary[key] - expected) < 0.05, (key, result.summary[key], expected)


def test_post_task_reports_track_behaviour_better_than_pre(study_and_result):
    _, result = study_and_result
    s = result.summary
    assert s["r_post_performance"] > s["r_pre_performance"] + 0.08


def test_category_regression_recovers_planted_effects(study_and_result):
    study, result = study_and_result
    coefs = result.tables["category_ols"].set_index("term").drop(index="intercept")
    planted = pd.Series(study.category_effects).reindex(coefs.index)
    # dummies of multi-label tasks are identified only up to the shared intercept: compare centred
    got, want = coefs["coef"] - coefs["coef"].mean(), planted - planted.mean()
    assert np.corrcoef(got, want)[0, 1] > 0.9
    assert np.median(np.abs(got - want)) < 2.5  # points on the 1-100 scale
    assert abs(result.summary["category_r2"] - study.expected_category_r2) < 0.08


def test_factor_structure_is_want_and_able(study_and_result):
    study, result = study_and_result
    load = result.tables["factor_loadings"].set_index("component")
    for f in ("interest", "challenge", "value"):
        assert load.loc[f, "want"] > 0.8 and abs(load.loc[f, "able"]) < 0.25, f
    assert load.loc["mastery", "able"] > 0.8 and abs(load.loc["mastery", "want"]) < 0.25
    assert load.loc["fear", "able"] < -0.8 and abs(load.loc["fear", "want"]) < 0.25
    assert result.summary["factor_explained"] > 0.8
    assert abs(result.summary["factor_r2_overall"] - study.expected_factor_r2()) < 0.05


def test_choice_logit_and_attached_rates(study_and_result):
    study, result = study_and_result
    s = result.summary
    assert abs(s["choice_slope_per10"] - PLANTED_CHOICE_SLOPE) < 0.2
    assert s["choice_gap"] > 5
    for condition, rate in study.attach_rate.items():
        assert abs(s[f"choice_attached_rate_{condition}"] - rate) < 0.05, condition
    pulls = result.tables["choice_attached_logit"].set_index("condition")
    for condition, pull in PLANTED_ATTACH_LOGIT.items():
        assert abs(pulls.loc[condition, "attach"] - pull) < 0.4, condition


_TOL_EFFECT = {"pre": 1.2, "post": 1.2, "performance": 0.06, "completion": 0.1, "effort": 0.1, "log_tokens": 0.03}


def test_manipulation_effects_recovered_and_bh_flags_planted_not_nulls(study_and_result):
    _, result = study_and_result
    pooled = result.tables["manipulation_pooled"]
    tests = result.tables["manipulation_tests"]
    flagged_planted, nulls_flagged, n_null = [], 0, 0
    for _, row in tests.iterrows():
        planted = PLANTED_EFFECTS.get(row["condition"], {}).get(row["measure"], 0.0)
        if planted:
            flagged_planted.append(bool(row["significant"]) and np.sign(row["effect"]) == np.sign(planted))
        else:
            n_null += 1
            nulls_flagged += bool(row["significant"])
    assert np.mean(flagged_planted) >= 0.9, np.mean(flagged_planted)
    assert n_null > 50 and nulls_flagged / n_null <= 0.08, (nulls_flagged, n_null)
    for _, row in pooled.iterrows():
        planted = PLANTED_EFFECTS.get(row["condition"], {}).get(row["measure"], 0.0)
        assert abs(row["effect"] - planted) < _TOL_EFFECT[row["measure"]], (row["condition"], row["measure"])


def test_every_result_table_is_nan_free(study_and_result):
    _, result = study_and_result
    assert all(np.isfinite(v) for v in result.summary.values())
    for name, table in result.tables.items():
        numeric = table.select_dtypes("number")
        assert not numeric.isna().any().any(), name


def test_parse_rates_reflect_planted_missingness(study_and_result):
    study, result = study_and_result
    rates = result.parse_rates
    assert set(rates["measure"]) == {"pre", "breakdown", "performance", "tokens", "post", "post_similar", "choice"}
    assert np.allclose(rates["parse_rate"], 1 - study.config.missing_rate, atol=0.02)


def test_varimax_recovers_simple_structure_from_a_rotation():
    simple = np.array([[0.9, 0.0], [0.8, 0.1], [0.85, 0.0], [0.0, 0.9], [0.1, -0.8]])
    theta = 0.6
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    recovered, r, stationarity = varimax(simple @ rot)
    assert stationarity < 1e-6
    assert np.allclose(r @ r.T, np.eye(2), atol=1e-10)
    # equal up to column order and sign
    best = min(
        np.abs(np.abs(recovered[:, perm]) - np.abs(simple)).max() for perm in ([0, 1], [1, 0])
    )
    assert best < 0.05


def test_fisher_pooling_weights_by_sample_size():
    same = pool_fisher(np.array([0.5, 0.5]), np.array([50, 500]))
    assert abs(same["r"] - 0.5) < 1e-12 and same["lo"] < 0.5 < same["hi"]
    tilted = pool_fisher(np.array([0.2, 0.8]), np.array([13, 1003]))
    assert tilted["r"] > 0.78
