"""The critical-diversity experiment and the loop: N* arithmetic, the predict-before-verify
guarantee, tiny end-to-end runs of both commands on the quick organism, and bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from motivlab.cli import app
from motivlab.errors import MotivlabInputError
from motivlab.experiments.crossing import bootstrap_crossing, crossing, loglog_slope

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# tiny runs: 4 prompts x 4 samples, few exact envs (each run a few seconds on the quick organism)
TINY = ["--set", "algorithm.prompts_per_step=4", "--set", "algorithm.group_size=4",
        "--set", "measure.exact_every=1", "--set", "measure.exact_train_envs=4",
        "--set", "measure.exact_heldout_envs=2", "--set", "measure.exact_trap_envs=2"]


# --- N* arithmetic --------------------------------------------------------------------------------

def test_crossing_interpolates_in_log_n_and_reports_bounds():
    n = np.array([1.0, 4.0, 16.0])
    c = crossing(n, np.array([0.1, 0.3, 0.7]))
    assert c.kind == "crossing" and c.value == pytest.approx(8.0)  # halfway in log between 4 and 16
    assert crossing(n, np.array([0.6, 0.8, 0.9])).text() == "≤ 1"
    above = crossing(n, np.array([0.1, 0.2, 0.3]))
    assert above.kind == "above_range" and not above.is_number and above.text() == "> 16"
    # first crossing, even when the curve comes back down
    assert crossing(n, np.array([0.1, 0.9, 0.2])).value < 4


def test_bootstrap_and_slope():
    n = np.array([1.0, 10.0, 100.0])
    seeds = [np.array([0.1, 0.2]), np.array([0.4, 0.6]), np.array([0.9, 0.95])]
    boot = bootstrap_crossing(n, seeds, n_boot=300, seed=1)
    assert boot["ci_low"] <= boot["n_star"].value <= boot["ci_high"]
    assert 0 < boot["frac_number"] <= 1
    p0 = np.array([0.01, 0.1])
    star = 0.15 / p0  # N* = 0.15 / p0: slope -1 exactly
    s = loglog_slope(p0, np.stack([star * 1.1, star]), star)
    assert s["slope"] == pytest.approx(-1.0)


# --- the loop on the quick organism -----------------------------------------------------------------

@pytest.mark.slow
def test_loop_predicts_before_it_verifies(tmp_path, organism_quick_dir):
    out = tmp_path / "loop"
    args = ["experiment", "loop", "--out", str(out), "--quick", "--priors", "0.05", "--n-values", "1,4",
            "--seeds", "0", "--steps", "4", "--calibration-n", "1,4", "--calibration-fraction", "0.5",
            "--no-scale-none", *TINY]
    runner = CliRunner()
    # verification refuses to start without a prediction, and writes nothing
    refused = runner.invoke(app, [*args, "--phase", "verify"])
    assert refused.exit_code == 2 and "no prediction" in refused.output
    assert not out.exists()

    predicted = runner.invoke(app, [*args, "--phase", "predict"])
    assert predicted.exit_code == 0, predicted.output
    path = out / "prediction.json"
    pred = json.loads(path.read_text())
    assert {"created_utc", "fit", "data_used", "predictions", "content_sha256", "verification_plan"} <= set(pred)
    assert pred["data_used"] and not (out / "verification").exists()
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # read-only (root ignores modes)
    before = (path.read_bytes(), path.stat().st_mtime_ns)

    result = runner.invoke(app, [*args, "--phase", "all"])
    assert result.exit_code == 0, result.output
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # never rewritten
    runs = pd.read_parquet(out / "verification" / "runs.parquet")
    assert len(runs) == 2 and set(runs["n"]) == {1, 4}
    first_run = min((out / "verification" / "sweep" / "runs").glob("*/config.toml"), key=lambda p: p.stat().st_mtime)
    assert first_run.stat().st_mtime_ns > before[1]  # verification started after the prediction
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prediction_sha256"] == pred["content_sha256"]
    assert {"binary_routes", "scalar_propensity", "summed_transfer", "early_vs_late"} <= set(summary["assumptions"])
    assert (out / "report.html").stat().st_size > 1000 and (out / "figures" / "overlay.png").is_file()
    cd = json.loads((out / "verification" / "summary.json").read_text())
    assert cd["n_star"][0]["kind"] in ("crossing", "below_range", "above_range")

    # a tampered prediction is refused
    os.chmod(path, 0o644)
    tampered = json.loads(path.read_text())
    tampered["predictions"]["n_star"][0]["n_star"] = 1.0
    path.write_text(json.dumps(tampered))
    again = runner.invoke(app, [*args, "--phase", "compare"])
    assert again.exit_code == 2 and "hash" in again.output


@pytest.mark.slow
def test_critical_diversity_command(tmp_path, organism_quick_dir):
    out = tmp_path / "cd"
    result = CliRunner().invoke(app, ["experiment", "critical-diversity", "--out", str(out), "--quick",
                                      "--priors", "0.05", "--n-values", "1,2", "--seeds", "0", "--steps", "2", *TINY])
    assert result.exit_code == 0, result.output
    assert "N*" in result.output and "slope: undefined" in result.output
    for name in ("runs.parquet", "curves.parquet", "n_star.parquet", "summary.json", "report.html",
                 "figures/p_inf_vs_n.png", "figures/n_star_vs_p0.png"):
        assert (out / name).is_file(), name
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["p_inf"].between(0, 1).all() and (runs["steps"] == 2).all()
    # another config on the same directory is refused
    other = CliRunner().invoke(app, ["experiment", "critical-diversity", "--out", str(out), "--quick",
                                     "--priors", "0.05", "--n-values", "1,3", "--seeds", "0", "--steps", "2", *TINY])
    assert other.exit_code == 2 and "other options" in other.output


# --- bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--priors", "0.05,1.5"], "priors"),
    (["--priors", "abc"], "--priors"),
    (["--n-values", "4,2"], "n_values"),
    (["--n-values", "1,500"], "n_train_envs"),
    (["--seeds", "0,0"], "seeds"),
    (["--compute", "all"], "compute"),
    (["--set", "algorithm.nonsense=1"], "nonsense"),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, args, message):
    out = tmp_path / "x"
    result = CliRunner().invoke(app, ["experiment", "critical-diversity", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_loop_bad_input(tmp_path):
    from motivlab.experiments.loop import parse_loop_config

    with pytest.raises(MotivlabInputError, match="calibration_n"):
        parse_loop_config({"calibration_n": [4]})
    with pytest.raises(MotivlabInputError, match=r"unknown_field|extra"):
        parse_loop_config({"unknown_field": 1})
    result = CliRunner().invoke(app, ["experiment", "loop", "--out", str(tmp_path / "l"), "--phase", "nope"])
    assert result.exit_code == 2 and "--phase" in result.output


@pytest.mark.slow
def test_concepts_command(tmp_path, organism_quick_dir):
    out = tmp_path / "concepts"
    result = CliRunner().invoke(app, ["experiment", "concepts", "--out", str(out), "--quick", "--n-values", "4",
                                      "--seeds", "0", "--steps", "2", *TINY])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["arm"]) == {"pretrained", "random"}
    pre = runs[runs["arm"] == "pretrained"].iloc[0]
    rnd = runs[runs["arm"] == "random"].iloc[0]
    assert pre["pretraining_bits_estimate"] > 0 and rnd["pretraining_bits_estimate"] == 0
    assert (runs["reward_events"] == 2 * 4 * 4).all()
    assert (out / "figures" / "concepts.png").is_file() and (out / "report.html").is_file()
    bad = CliRunner().invoke(app, ["experiment", "concepts", "--out", str(tmp_path / "b"), "--seeds", "1,1"])
    assert bad.exit_code == 2 and "seeds" in bad.output and not (tmp_path / "b").exists()
