"""Missing data is reported, not guessed; wrong tables are clear errors; the command writes its outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from motivlab.errors import MotivlabInputError
from motivlab.evals.analysis.choice import choice_frame
from motivlab.evals.analysis.cli import analyze_command
from motivlab.evals.analysis.pipeline import analyze, load_results
from motivlab.evals.synthetic import SyntheticConfig, simulate
from motivlab.io import write_table


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    cfg = SyntheticConfig(seed=3, n_models=2, subtasks_per_task=1, conditions=("control", "money", "futility"),
                          n_choice_pairs=80)
    return simulate(cfg).results


def test_a_missing_measure_skips_only_what_needs_it(small):
    result = analyze(small[small["measure"] != "breakdown"])
    assert any("'breakdown' is absent" in m for m in result.missing)
    assert any(s.startswith("want/able factors") and "breakdown" in s for s in result.skipped)
    assert any("overall" in s for s in result.skipped)  # its cross-context correlations say why
    for key in ("retest_r", "r_pre_post", "r_pre_performance", "category_r2", "choice_slope_per10"):
        assert key in result.summary, key
    assert "factor_r2_overall" not in result.summary and "r_pre_overall" not in result.summary
    assert "manipulation_pooled" in result.tables


def test_unparsed_measure_shows_in_parse_rates_and_skips(small):
    df = small.copy()
    post = df["measure"] == "post"
    df.loc[post, "value"], df.loc[post, "parsed"] = np.nan, False
    result = analyze(df)
    rates = result.parse_rates.set_index(["model", "measure"])["parse_rate"]
    assert (rates.xs("post", level="measure") == 0).all()
    assert any("'post' has rows but none was parsed" in m for m in result.missing)
    assert "r_post_performance" not in result.summary and "r_pre_performance" in result.summary
    tests = result.tables["manipulation_tests"]
    assert "post" not in set(tests["measure"]) and "pre" in set(tests["measure"])


def test_no_choices_and_no_manipulations_are_reported(small):
    result = analyze(small[(small["measure"] != "choice") & (small["condition"] == "control")])
    assert any(s.startswith("choice") and "no choice rows" in s for s in result.skipped)
    assert any(s.startswith("manipulations") for s in result.skipped)
    assert "retest_r" in result.summary


def test_single_sample_cannot_give_retest(small):
    result = analyze(small[small["sample"] == 0])
    assert "retest_r" not in result.summary
    assert any(s.startswith("test-retest") for s in result.skipped)


def test_other_protocol_version_is_a_clear_error(tmp_path, small):
    df = small.head(500).copy()
    df["protocol_version"] = "0"
    write_table(df, tmp_path / "results.parquet")
    with pytest.raises(MotivlabInputError, match="protocol version"):
        load_results(tmp_path)
    with pytest.raises(MotivlabInputError, match="missing columns"):
        analyze(small.drop(columns=["parsed"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"results\.parquet"):
        load_results(tmp_path / "empty")


def test_gap_on_a_hand_made_table():
    rows = []
    base = {"protocol_version": "1", "model": "m", "condition": "control", "pair_id": "", "attached_to": 0,
            "other_subtask_id": "", "parsed": True, "categories": "math"}
    for sub, pre in (("a", 80.0), ("b", 40.0), ("c", 60.0)):
        rows.append({**base, "task_id": sub, "subtask_id": sub, "sample": 0, "measure": "pre", "field": "score",
                     "value": pre})
    for j, (s1, s2, chosen) in enumerate((("a", "b", 1.0), ("b", "c", 2.0), ("c", "a", 0.5))):
        rows.append({**base, "task_id": s1, "subtask_id": s1, "sample": 0, "measure": "choice", "field": "chosen",
                     "value": chosen, "pair_id": f"p{j}", "other_subtask_id": s2})
    df = pd.DataFrame(rows)
    from motivlab.evals.analysis.pipeline import check_results, item_table, sample_table

    df = check_results(df)
    frame, counts = choice_frame(df, item_table(sample_table(df)))
    assert counts["ties"] == 1 and len(frame) == 2
    assert list(frame["diff10"]) == [4.0, -2.0] and list(frame["chose_1"]) == [1.0, 0.0]


def test_analyze_command_writes_report_tables_and_figures(tmp_path, small):
    write_table(small, tmp_path / "run" / "results.parquet")
    app = typer.Typer()
    app.command("analyze")(analyze_command)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    out = tmp_path / "run" / "analysis"
    assert (out / "report.html").stat().st_size > 10_000
    assert (out / "summary.json").exists() and (out / "tables" / "retest.parquet").exists()
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "manipulations.png", "category_profile.png", "report_behaviour.png", "factor_loadings.png", "choice.png"}
    html = (out / "report.html").read_text()
    assert "paper" in html and "0.88" in html and "parse rate" in html
    bad = runner.invoke(app, ["analyze", str(tmp_path / "nowhere")])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_synthetic_study_is_reproducible():
    cfg = SyntheticConfig(seed=5, n_models=1, subtasks_per_task=1, conditions=("control",), n_choice_pairs=10)
    a, b = simulate(cfg).results, simulate(cfg).results
    pd.testing.assert_frame_equal(a, b)
    assert not simulate(cfg.model_copy(update={"seed": 6})).results["value"].equals(a["value"])


def test_degenerate_tables_are_analysed_and_explained(small):
    one = small[small["model"] == "sim-model-0"]
    cases = {
        "only choice": one[one["measure"] == "choice"],
        "five tasks": one[one["task_id"].isin(one["task_id"].unique()[:5])],
        "nothing parsed": one.assign(value=np.nan, parsed=False),
    }
    for name, df in cases.items():
        result = analyze(df)
        assert result.skipped, name
        assert all(np.isfinite(v) for v in result.summary.values()), name
    assert "category_r2" not in analyze(cases["five tasks"]).summary


def test_a_folder_of_run_folders_is_analysed_together(tmp_path, small):
    for model in small["model"].unique():
        write_table(small[small["model"] == model], tmp_path / model / "results.parquet")
    both = load_results(tmp_path)
    assert set(both["model"]) == set(small["model"]) and len(both) == len(small)
    write_table(small[small["model"] == "sim-model-0"], tmp_path / "again" / "results.parquet")
    with pytest.raises(MotivlabInputError, match="appears in both"):
        load_results(tmp_path)
