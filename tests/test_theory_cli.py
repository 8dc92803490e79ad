"""End-to-end runs of every `motivlab theory` command (typer CliRunner, in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from motivlab.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["theory", *args])


def test_critical_json() -> None:
    res = _run("critical", "--p0", "0.01", "--sr0", "0.5", "--sl0", "0.1", "--alpha", "1,1,1",
               "--coupling", "1,1,0", "--threshold", "0.5", "--cost", "0", "--n-max", "1e7", "--lam", "0",
               "--normalize", "sum", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n_star"] == pytest.approx(15.2, rel=0.01)
    assert out["inputs"]["p0"] == 0.01 and out["inputs"]["c_y"] == 0.0 and out["threshold"] == 0.5


def test_critical_json_null_when_never_crossed() -> None:
    res = _run("critical", "--p0", "1e-9", "--n-max", "1e4", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n_star"] is None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--p0", "1.5"], "p0"),
        (["--p0", "0.01", "--alpha", "-1,1,1"], "--alpha"),
        (["--p0", "0.01", "--alpha", "1,1"], "--alpha"),
        (["--p0", "0.01", "--coupling", "1,2,0"], "--coupling"),
        (["--p0", "nan"], "p0"),
        (["--p0", "0.01", "--normalize", "max"], "normalize"),
        (["--p0", "0.01", "--threshold", "1.2"], "threshold"),
        (["--p0", "0.01", "--n-max", "0.5"], "n_max"),
    ],
)
def test_critical_bad_input_exits_2_naming_parameter(args: list[str], needle: str) -> None:
    res = _run("critical", *args, "--json")
    assert res.exit_code == 2
    assert needle in res.output and "error:" in res.output


def test_simulate_json_csv_and_bad_n(tmp_path: Path) -> None:
    res = _run("simulate", "--p0", "0.01", "--n", "20")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["final"]["p"] > 0.5 and out["final"]["saturated"]
    assert out["trajectory"]["p"][0] == pytest.approx(0.01)
    path = tmp_path / "traj.csv"
    assert _run("simulate", "--n", "5", "--format", "csv", "--out", str(path)).exit_code == 0
    df = pd.read_csv(path)
    assert list(df.columns) == ["t", "p", "s_r", "s_l"] and df.t.is_monotonic_increasing
    bad = _run("simulate", "--n", "0.5")
    assert bad.exit_code == 2 and "n must be" in bad.output


def test_sweep_writes_table(tmp_path: Path) -> None:
    res = _run("sweep", "--p0", "0.1,0.01", "--n-max", "1e3", "--points", "6", "--out", str(tmp_path / "sw"))
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "sw.parquet")
    assert len(df) == 12 and (tmp_path / "sw.csv").exists()
    assert _run("sweep", "--p0", "0.1,x").exit_code == 2


def test_figures_quick(tmp_path: Path) -> None:
    """Figures 1–4 (figure 5 belongs to the heterogeneous module and has its own tests)."""
    res = _run("figures", "--out", str(tmp_path), "--quick", "--only", "1234")
    assert res.exit_code == 0, res.output
    for name in ("fig1_single_env_heatmap", "fig2_heatmaps_by_initial_skill", "fig3_p_inf_vs_n", "fig4_n_star_vs_p0"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
        assert (tmp_path / f"{name}.parquet").exists() and (tmp_path / f"{name}.csv").exists()
    html = (tmp_path / "index.html").read_text()
    assert html.count("<img") >= 4 and "Figure 4" in html
    slopes = pd.read_parquet(tmp_path / "fig4_slopes.parquet")
    ref = slopes[slopes.setting == "c_y = 0, sR0 = 0.5"].iloc[0]
    assert ref.slope == pytest.approx(-1.0, abs=0.02)
    assert _run("figures", "--out", str(tmp_path), "--only", "7").exit_code == 2


def test_figure6_n_star_against_c_y(tmp_path: Path) -> None:
    """N* at c_y → 0 is the c_y = 0 value, rises with c_y, and the crossing disappears at large c_y."""
    res = _run("figures", "--out", str(tmp_path), "--quick", "--only", "6")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "fig6_n_star_vs_c_y.png").stat().st_size > 5000
    table = pd.read_parquet(tmp_path / "fig6_n_star_vs_c_y.parquet")
    summary = pd.read_parquet(tmp_path / "fig6_summary.parquet").set_index("p0")
    one = table[table.p0 == 1e-3].n_star.to_numpy(dtype=float, na_value=np.inf)
    assert one[0] == pytest.approx(summary.loc[1e-3, "n_star_c_y_0"], rel=1e-2)  # c_y = 1e-6 ≈ no transfer
    finite = one[np.isfinite(one)]
    assert np.all(np.diff(finite) >= -1e-6 * finite[:-1]) and np.isinf(one[-1])  # rises, then no crossing


def test_figure5_missing_module_is_skipped_with_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "motivlab.theory.heterogeneous.figure5", None)  # import raises ImportError
    res = _run("figures", "--out", str(tmp_path), "--quick", "--only", "5")
    assert res.exit_code == 0, res.output
    assert "skipped" in res.output and "Figure 5" in (tmp_path / "index.html").read_text()
