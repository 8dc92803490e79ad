"""Calibration plumbing (the real grid pretrains organisms for minutes; see docs/organism.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from motivlab.models import calibrate as cal


def test_tolerance_rule_of_the_issue():
    assert cal.within_tolerance("p0", 0.1, 0.14) and not cal.within_tolerance("p0", 0.1, 0.16)
    assert cal.within_tolerance("p0", 0.01, 0.019) and not cal.within_tolerance("p0", 0.01, 0.021)
    assert not cal.within_tolerance("p0", 0.01, 0.004)
    assert cal.within_tolerance("sr0", 0.5, 0.54) and not cal.within_tolerance("sr0", 0.5, 0.56)
    assert not cal.within_tolerance("sl0", 0.1, 0.0)


def test_fit_logit_map_recovers_a_planted_map():
    corpus = np.array([0.005, 0.02, 0.1, 0.3])
    z = np.log(corpus / (1 - corpus))
    measured = 1 / (1 + np.exp(-(0.3 + 0.8 * z)))
    alpha, beta = cal.fit_logit_map(corpus, measured)
    assert alpha == pytest.approx(0.3, abs=1e-6) and beta == pytest.approx(0.8, abs=1e-6)


def test_run_calibration_writes_table_figure_report(organism_quick_dir, tmp_path, monkeypatch):
    import motivlab.models.pretrain as pretrain_mod

    monkeypatch.setattr(pretrain_mod, "ensure_organism", lambda *a, **k: organism_quick_dir)
    table = cal.run_calibration(cal.CalibrationConfig(quick=True), tmp_path, progress=False)
    assert len(table) == 3 and table[["p0_measured", "sr0_measured", "sl0_measured"]].notna().all().all()
    for name in ("calibration.parquet", "calibration.csv", "calibration.png", "report.html", "calibration.md"):
        assert (tmp_path / name).is_file(), name
    assert pd.read_parquet(tmp_path / "calibration.parquet").shape == table.shape


def test_calibration_config_rejects_bad_grid():
    with pytest.raises(ValueError, match="priors"):
        cal.CalibrationConfig(priors=[0.0, 0.5])
    with pytest.raises(ValueError, match="sr0s"):
        cal.CalibrationConfig(sr0s=[0.5, 1.5])
    with pytest.raises(ValueError, match="default_seeds"):
        cal.CalibrationConfig(default_seeds=[-1])
    with pytest.raises(ValueError, match="Extra inputs"):
        cal.CalibrationConfig(prior=[0.1])


def test_grid_varies_one_knob_at_a_time_around_the_default():
    from motivlab.models.organism import OrganismConfig

    base = OrganismConfig()
    grid = cal._grid(cal.CalibrationConfig(default_seeds=[0, 1]))
    keys = [(p["prior"], p["sr0"], p["sl0"], p["seed"]) for p in grid]
    assert len(keys) == len(set(keys)) == 6 + 2 + 2 + 1  # the default point once per seed
    for p in grid:
        off_default = [k for k in ("prior", "sr0", "sl0") if p[k] != getattr(base, k)]
        assert len(off_default) <= 1 and (not off_default or off_default == [p["knob"]])
    assert sorted(p["prior"] for p in grid if p["knob"] == "prior") == [0.005, 0.01, 0.02, 0.05, 0.1, 0.2]


def test_monotonicity_per_knob():
    from motivlab.models.organism import OrganismConfig

    base = OrganismConfig()
    rows = []
    for _knob, col, values, measured in (("prior", "p0", [0.01, 0.05, 0.2], [0.012, 0.05, 0.19]),
                                        ("sr0", "sr0", [0.25, 0.5, 0.75], [0.3, 0.5, 0.45]),
                                        ("sl0", "sl0", [0.1], [0.1])):  # one level: no verdict
        for v, m in zip(values, measured, strict=True):
            row = {"seed": 0, "p0_requested": base.prior, "sr0_requested": base.sr0, "sl0_requested": base.sl0,
                   "p0_measured": 0.05, "sr0_measured": 0.5, "sl0_measured": 0.1}
            row[f"{col}_requested"], row[f"{col}_measured"] = v, m
            rows.append(row)
    rows.append({**rows[0], "seed": 1, "p0_measured": 0.9})  # other seeds are not part of the check
    mono = cal.monotonicity(pd.DataFrame(rows), seed=0)
    assert mono == {"prior": True, "sr0": False, "sl0": None}


def test_correction_is_monotone_and_identity_when_off(monkeypatch):
    from motivlab.models import corpus

    grid = np.linspace(0.001, 0.999, 200)
    for name in ("prior", "sr0", "sl0"):
        assert [corpus.corrected(name, x, correct=False) for x in grid] == list(grid)
        values = np.array([corpus.corrected(name, x) for x in grid])
        assert np.all(np.diff(values) > 0) and np.all((values > 0) & (values < 1))
        assert corpus.corrected(name, 0.0) == 0.0 and corpus.corrected(name, 1.0) == 1.0
    monkeypatch.setitem(corpus._CORRECTION, "sl0", (0.5, 1.0))  # a planted shift in logit space
    z = np.log(0.1 / 0.9) + 0.5
    assert corpus.corrected("sl0", 0.1) == pytest.approx(1 / (1 + np.exp(-z)))
