"""``motivlab theory simulate --geometry …``: heterogeneous populations over time from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from motivlab.cli import app
from motivlab.theory.heterogeneous.population import HeterogeneousConfig, draw_population
from motivlab.theory.heterogeneous.population import simulate as simulate_heterogeneous
from motivlab.theory.heterogeneous.simulate import GeometryRun, run_saved
from motivlab.theory.homogeneous.dynamics import IntegratorConfig
from motivlab.theory.homogeneous.dynamics import simulate as simulate_homogeneous
from motivlab.theory.homogeneous.params import Problem

runner = CliRunner()
SMALL = ["--n", "20", "--save-points", "30"]


def _run(*args: str):
    return runner.invoke(app, ["theory", "simulate", *args])


def _simulate(out: Path, *args: str) -> dict[str, pd.DataFrame]:
    res = _run("--out", str(out), *args)
    assert res.exit_code == 0, res.output
    return {name: pd.read_parquet(out / f"{name}.parquet") for name in ("trajectories", "mean", "envs")}


def test_round_trip_writes_tables_figures_report_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "run"
    tables = _simulate(out, "--geometry", "uniform", "--resamples", "2", "--seed", "3", *SMALL)
    traj, mean, envs = tables["trajectories"], tables["mean"], tables["envs"]
    assert list(traj.columns) == ["t", "population", "env_id", "p", "s_r", "s_l", "u0", "u1"]
    k = traj.t.nunique()
    assert 2 <= k <= 30 and len(traj) == k * 2 * 20 and len(mean) == k * 2 and len(envs) == 2 * 20
    assert traj.t.min() == 0.0 and traj.notna().all().all()
    assert ((traj.p > 0) & (traj.p < 1)).all()
    assert set(traj.groupby(["t", "population"]).env_id.nunique()) == {20}
    for name in ("trajectories", "mean", "envs"):
        assert (out / f"{name}.csv").exists()
    for png in ("trajectories.png", "final_vs_coordinate.png"):
        assert (out / png).stat().st_size > 5000
    html = (out / "report.html").read_text()
    assert html.count("<img") == 2 and "--geometry uniform" in html
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 3 and meta["config"]["model"]["geometry"] == "uniform" and "numpy" in meta["packages"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["n"] == 20 and len(summary["p_final_mean"]) == 2
    # the initial state is the configured centre plus heterogeneity: p(0) spread around p0 = 0.01
    p_init = envs.p_init.to_numpy()
    assert 0.005 < np.median(p_init) < 0.02 and p_init.std() > 0


def test_mean_table_is_the_mean_of_the_env_rows(tmp_path: Path) -> None:
    tables = _simulate(tmp_path / "run", "--geometry", "gaussian", "--resamples", "2", *SMALL)
    traj, mean = tables["trajectories"], tables["mean"]
    by = traj.groupby(["t", "population"], sort=True)
    mean = mean.sort_values(["t", "population"]).reset_index(drop=True)
    for q in ("p", "s_r", "s_l"):
        np.testing.assert_allclose(mean[q], by[q].mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(mean.p_q10, by.p.quantile(0.1).to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(mean.p_q90, by.p.quantile(0.9).to_numpy(), rtol=1e-12)
    final = traj[traj.t == traj.t.max()].sort_values(["population", "env_id"])
    np.testing.assert_array_equal(final.p.to_numpy(), tables["envs"].p_final.to_numpy())


def test_same_seed_same_table_other_seed_other_table(tmp_path: Path) -> None:
    args = ["--geometry", "clustered", "--resamples", "2", *SMALL]
    a = _simulate(tmp_path / "a", *args, "--seed", "7")
    b = _simulate(tmp_path / "b", *args, "--seed", "7")
    c = _simulate(tmp_path / "c", *args, "--seed", "8")
    for name in ("trajectories", "mean", "envs"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not np.allclose(a["envs"].u0, c["envs"].u0)


def _median_nn_distance(envs: pd.DataFrame) -> float:
    u = envs[["u0", "u1"]].to_numpy()
    d = np.linalg.norm(u[:, None] - u[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def test_a_different_geometry_draws_a_different_population(tmp_path: Path) -> None:
    """Same seed, other geometry: other coordinates, other outcome; clustered envs sit closer together."""
    args = ["--n", "60", "--save-points", "10", "--seed", "0"]
    uni = _simulate(tmp_path / "u", "--geometry", "uniform", *args)
    clu = _simulate(tmp_path / "c", "--geometry", "clustered", *args)
    assert not np.allclose(uni["envs"].u0, clu["envs"].u0)
    assert not np.allclose(uni["envs"].p_final, clu["envs"].p_final)
    # 60 points in 8 tight families (s.d. 0.05) vs uniform in the unit square (NN distance ≈ 0.5/√60)
    assert _median_nn_distance(clu["envs"]) < 0.7 * _median_nn_distance(uni["envs"])


@pytest.mark.parametrize(("normalize", "coupling", "n", "p0", "horizon"),
                         [("sum", "1,1,0", 10, 0.05, 50), ("mean", "0.6,0.9,0.1", 8, 0.2, 200)])
def test_constant_kernel_without_heterogeneity_matches_the_homogeneous_model(
    tmp_path: Path, normalize: str, coupling: str, n: int, p0: float, horizon: float
) -> None:
    """With ``--kernel constant`` every pair of envs is coupled by the same ``c_k`` (``C_ii = 1``); with
    no heterogeneity (``--sigma-alpha 0,0,0 --init-sd 0,0,0``) all envs stay identical, so the
    population mean must follow the homogeneous model ``α_eff = α (1 + (N − 1) c)`` that
    ``theory.dynamics.simulate`` integrates (another integrator: adaptive Heun in log time). The
    comparison is at every save time, interpolating the homogeneous trajectory; the run must
    actually move (p0 → > 0.9) for the comparison to mean something."""
    tables = _simulate(tmp_path / "run", "--geometry", "uniform", "--kernel", "constant", "--coupling", coupling,
                       "--sigma-alpha", "0,0,0", "--init-sd", "0,0,0", "--n", str(n), "--p0", str(p0),
                       "--normalize", normalize, "--horizon", str(horizon), "--save-points", "60")
    traj, mean = tables["trajectories"], tables["mean"]
    assert traj.groupby("t").p.std().max() < 1e-12  # identical envs stay identical
    cz, cx, cy = (float(v) for v in coupling.split(","))
    sol = simulate_homogeneous(Problem(p0=p0, sr0=0.5, sl0=0.1, c_z=cz, c_x=cx, c_y=cy, n=n, normalize=normalize),
                               IntegratorConfig(), save_trajectory=True)
    hom = sol.trajectory
    assert mean.p.iloc[0] == pytest.approx(p0) and mean.p.iloc[-1] > 0.9
    within = mean[mean.t <= hom["t"][:, 0].max()]
    for q in ("p", "s_r", "s_l"):
        expected = np.interp(within.t, hom["t"][:, 0], hom[q][:, 0])
        assert np.abs(within[q].to_numpy() - expected).max() < 0.01, q


def test_heterogeneity_spreads_the_envs_under_a_constant_kernel(tmp_path: Path) -> None:
    """Negative control for the test above: default heterogeneity makes the envs differ."""
    tables = _simulate(tmp_path / "run", "--geometry", "uniform", "--kernel", "constant", "--n", "10",
                       "--p0", "0.05", "--horizon", "50", "--save-points", "20")
    assert tables["envs"].p_final.std() > 1e-3


def test_segmented_integration_ends_where_the_one_shot_simulator_ends() -> None:
    """Saving on a time grid reuses ``heterogeneous.integrate`` segment by segment; its final state
    must agree with ``heterogeneous.simulate`` on the same population (only the step sizes differ)."""
    cfg = HeterogeneousConfig(geometry="gaussian", horizon=60.0)
    run = GeometryRun(model=cfg, n=80, resamples=2, seed=4, save_points=40)
    saved = run_saved(run)
    pop = draw_population(cfg, 80, 2, np.random.default_rng(4))
    one_shot = simulate_heterogeneous(cfg, pop, 80)
    assert saved.times[-1] == pytest.approx(60.0)
    np.testing.assert_allclose(1 / (1 + np.exp(-saved.z[-1])), one_shot.p[..., 0], atol=5e-3)
    np.testing.assert_allclose(saved.coords, pop.coords[:, :80])
    assert np.abs(1 / (1 + np.exp(-saved.z[-1])) - 0.01).max() > 1e-3  # it moved


def test_rff_kernel_in_one_dimension(tmp_path: Path) -> None:
    out = tmp_path / "run"
    tables = _simulate(out, "--geometry", "uniform", "--d", "1", "--kernel", "rff", "--n-features", "64",
                       "--transfer-length", "0.2,0.2,none", "--time-grid", "linear", *SMALL)
    assert "u1" not in tables["trajectories"].columns and "u0" in tables["envs"].columns
    assert np.allclose(np.diff(np.sort(tables["mean"].t.unique()))[:5], 100 / 29)
    assert (out / "final_vs_coordinate.png").stat().st_size > 5000


def test_one_population_table_is_readable_by_the_fit_loader(tmp_path: Path) -> None:
    from motivlab.theory.fit.data import Trajectories

    tables = _simulate(tmp_path / "run", "--geometry", "manifold", "--d", "3", *SMALL)
    data = Trajectories.from_frame(tables["trajectories"])
    assert data.n_envs == 20 and data.coords.shape == (20, 3)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--geometry", "torus"], ["--geometry", "uniform", "manifold"]),
        (["--geometry", "uniform", "--kernel", "sparse"], ["--kernel", "rff", "constant"]),
        (["--geometry", "uniform", "--n", "2.5"], ["--n"]),
        (["--geometry", "uniform", "--n", "0"], ["--n"]),
        (["--geometry", "uniform", "--transfer-length", "0.1,0.1"], ["--transfer-length"]),
        (["--geometry", "uniform", "--transfer-length", "0.1,-1,none"], ["--transfer-length (x)"]),
        (["--geometry", "uniform", "--scale", "-1"], ["--scale", "greater than 0"]),
        (["--geometry", "manifold", "--d", "1"], ["--d", "manifold"]),
        (["--geometry", "uniform", "--sigma-alpha", "-1,0,0"], ["--sigma-alpha"]),
        (["--geometry", "uniform", "--alpha", "1,0,1"], ["--alpha"]),
        (["--geometry", "uniform", "--p0", "1.5"], ["--p0"]),
        (["--geometry", "uniform", "--integrator", "rk4"], ["--integrator", "heun"]),
        (["--geometry", "uniform", "--time-grid", "cubic"], ["--time-grid", "log"]),
        (["--geometry", "uniform", "--resamples", "0"], ["--resamples"]),
        (["--geometry", "uniform", "--save-points", "1"], ["--save-points"]),
        (["--geometry", "uniform", "--max-dlatent", "fast"], ["--max-dlatent"]),
        (["--geometry", "uniform", "--coupling", "1,1,0"], ["--coupling", "--kernel constant"]),
        (["--geometry", "uniform", "--kernel", "constant", "--coupling", "1,2,0"], ["--coupling"]),
        (["--geometry", "uniform", "--format", "csv"], ["--format"]),
        (["--kernel", "dense"], ["--kernel", "--geometry"]),
    ],
)
def test_bad_options_exit_2_naming_the_option(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    res = _run(*args, "--out", str(tmp_path / "run"))
    assert res.exit_code == 2, res.output
    assert "error:" in res.output
    for needle in needles:
        assert needle in res.output, (needle, res.output)
    assert not (tmp_path / "run" / "report.html").exists()


def test_geometry_needs_an_output_folder() -> None:
    res = _run("--geometry", "uniform")
    assert res.exit_code == 2 and "--out" in res.output


def test_the_recorded_command_reproduces_the_run(tmp_path: Path) -> None:
    """summary.json (and report.html) spell out every option; rerunning that command gives the same tables."""
    import shlex

    first = _simulate(tmp_path / "a", "--geometry", "clustered", "--scale", "1.23456789012", "--transfer-length", "0.2,0.1,0.05",
                      "--alpha", "2,1,1", "--seed", "5", *SMALL)
    command = json.loads((tmp_path / "a" / "summary.json").read_text())["command"]
    assert "--transfer-length 0.2,0.1,0.05" in command and "--seed 5" in command
    argv = shlex.split(command.replace(str(tmp_path / "a"), str(tmp_path / "b")))
    assert argv[:3] == ["motivlab", "theory", "simulate"]
    res = _run(*argv[3:])
    assert res.exit_code == 0, res.output
    for name in ("trajectories", "mean", "envs"):
        pd.testing.assert_frame_equal(first[name], pd.read_parquet(tmp_path / "b" / f"{name}.parquet"))
