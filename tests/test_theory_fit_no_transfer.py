"""A latent that does not transfer at all must be fitted as such, not as dense transfer.

The truth of a `theory simulate --geometry` run with ``--transfer-length 0.1,0.1,none`` has no
local-skill transfer: ℓ_y → 0 is its optimum, on the boundary. Started from ℓ ≈ the env spacing,
the fit used to settle in the dense basin (α_y = 0.036, ℓ_y = 2.9: the same mean rate, a worse
fit, reported as identified); the no-transfer start of ``BehaviouralSelectionFit`` finds the
better optimum.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from motivlab.cli import app


def test_lengths_fit_recovers_no_local_transfer(tmp_path):
    runner = CliRunner()
    sim = tmp_path / "sim"
    r = runner.invoke(app, ["theory", "simulate", "--geometry", "gaussian", "--n", "30", "--seed", "0",
                            "--transfer-length", "0.1,0.1,none", "--out", str(sim)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["theory", "fit", str(sim / "trajectories.parquet"), "--coupling", "lengths",
                            "--coords", str(sim / "envs.csv"), "--json"])
    assert r.exit_code == 0, r.output
    fit = json.loads(r.stdout[r.stdout.index("{"):])
    est = {k: v["estimate"] for k, v in fit["estimates"].items()}
    assert 0.7 < est["alpha_y"] < 1.5  # truth: log-normal around 1 (σ = 0.3)
    assert est["ell_y"] < 0.02 or not fit["estimates"]["ell_y"]["identified"]  # no transfer (boundary)
    assert abs(est["ell_x"] - 0.1) < 0.03 and abs(est["ell_z"] - 0.1) < 0.04
    assert fit["fit"]["residual_rms_logit"] < 0.18  # the dense basin sat at 0.195
