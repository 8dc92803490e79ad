"""``theory fit`` end to end: JSON on stdout, artefacts with --out, exit code 2 on bad input."""

import json

import numpy as np
import typer
from scipy.special import logit
from typer.testing import CliRunner

from motivlab.theory.fit.cli import fit_command
from motivlab.theory.fit.forward import simulate_trajectories

app = typer.Typer()
app.command("fit")(fit_command)
app.command("noop")(lambda: None)  # two commands, so "fit" stays a sub-command as when mounted


def _write_csv(path, seed=0):
    rng = np.random.default_rng(seed)
    n = 8
    lat0 = np.stack([rng.normal(logit(0.2), 1, n), rng.normal(logit(0.4), 1, n), rng.normal(logit(0.2), 1, n)])
    data = simulate_trajectories(np.arange(15) * 20.0, [4e-3, 3e-3, 2e-3], lat0, lengths=[0.5, 1.0, 0.2],
                                 coords=rng.uniform(0, 1, (n, 2)), trained=np.arange(n) < 6, noise=0.1,
                                 missing=0.1, rng=rng)
    data.to_frame().to_csv(path, index=False)


def test_fit_json_and_outputs(tmp_path):
    _write_csv(tmp_path / "traj.csv")
    out = tmp_path / "fit"
    res = CliRunner().invoke(app, ["fit", str(tmp_path / "traj.csv"), "--coupling", "lengths", "--json",
                                   "--out", str(out), "--p0", "0.1,0.01", "--horizon", "1e4"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert set(result["estimates"]) == {"alpha_z", "alpha_x", "alpha_y", "ell_z", "ell_x", "ell_y"}
    assert result["estimates"]["alpha_z"]["stderr"] > 0
    assert len(result["critical_diversity"]["n_star"]) == 2
    for name in ("fit.json", "parameters.parquet", "parameters.csv", "trajectories.parquet", "fit.png",
                 "report.html", "critical_diversity.csv", "metadata.json"):
        assert (out / name).exists(), name
    assert "Observed vs fitted" in (out / "report.html").read_text()


def test_fit_table_output_and_fix(tmp_path):
    _write_csv(tmp_path / "traj.csv", seed=1)
    res = CliRunner().invoke(app, ["fit", str(tmp_path / "traj.csv"), "--fix", "c_y=0", "--p0", "0.1"])
    assert res.exit_code == 0, res.output
    assert "alpha_z" in res.stdout and "N*(p0)" in res.stdout


def test_fit_takes_couplings_from_transfer_probes(tmp_path):
    _write_csv(tmp_path / "traj.csv", seed=2)
    summary = {"fit_fixed_homogeneous": {"c_z": 0.9, "c_x": 0.3, "c_y": 0.02}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    res = CliRunner().invoke(app, ["fit", str(tmp_path / "traj.csv"), "--transfer", str(tmp_path / "summary.json"),
                                   "--fix", "c_y=0", "--json", "--p0", "0.1"])
    assert res.exit_code == 0, res.output
    est = json.loads(res.stdout)["estimates"]
    assert est["c_z"]["fixed"] and est["c_z"]["estimate"] == 0.9 and est["c_x"]["estimate"] == 0.3
    assert est["c_y"]["estimate"] == 0.0  # --fix wins over the probes
    res = CliRunner().invoke(app, ["fit", str(tmp_path / "traj.csv"), "--transfer", str(tmp_path / "summary.json"),
                                   "--coupling", "lengths"])
    assert res.exit_code == 2 and "fit_fixed_lengths" in res.output


def test_fit_bad_input_exits_2(tmp_path):
    _write_csv(tmp_path / "traj.csv")
    runner = CliRunner()
    for args, needle in (
        (["fit", str(tmp_path / "missing.csv")], "no trajectory file"),
        (["fit", str(tmp_path / "traj.csv"), "--coupling", "bogus"], "coupling"),
        (["fit", str(tmp_path / "traj.csv"), "--fix", "c_y"], "NAME=VALUE"),
        (["fit", str(tmp_path / "traj.csv"), "--p0", "a,b"], "--p0"),
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert needle in res.output
