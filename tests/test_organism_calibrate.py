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
    with pytest.raises(ValueError, match="Extra inputs"):
        cal.CalibrationConfig(prior=[0.1])
