"""motivlab experiment interventions: SPEC validated before anything is written; a tiny run end to end."""

from __future__ import annotations

import pandas as pd
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.experiments.interventions import InterventionsSpec, load_interventions_spec, run_interventions

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_ORG = {"trait_correlation": 1.0, "self_accuracy": 1.0, "instruction_share": 0.1, "report_rate": 0.05,
            "sr0": 0.05, "steps": 30, "warmup_steps": 5, "max_attempts": 1, "local_exact_end": 0.0}
SMALL = {"algorithm.prompts_per_step": 4, "algorithm.group_size": 4, "measure.exact_train_envs": 4,
         "measure.exact_heldout_envs": 2, "measure.exact_trap_envs": 2}


def test_spec_errors_name_the_field_and_leave_nothing_behind(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[arms]]\nname = "filter"\ninterventions = [{kind = "filter"}]\n')
    with pytest.raises(MotivlabInputError, match="baseline"):
        load_interventions_spec(bad)
    spec = InterventionsSpec(organism=TINY_ORG, correlations=[], seeds=[0], steps=1, set=SMALL,
                             arms=[{"name": "baseline"}, {"name": "x", "interventions": [{"kind": "filtr"}]}])
    with pytest.raises(MotivlabInputError, match="filtr"):
        run_interventions(spec, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert len(InterventionsSpec().arms) >= 7 and InterventionsSpec().seeds == [0, 1, 2]  # the real run's defaults


@pytest.mark.slow
def test_tiny_experiment_writes_tables_figures_and_report(tmp_path):
    spec = InterventionsSpec(
        organism=TINY_ORG, correlations=[0.0], seeds=[0, 1], steps=2, exact_every=1, set=SMALL,
        arms=[{"name": "baseline"}, {"name": "inoculation", "interventions": [{"kind": "prompt_prefix", "text": "!"}]}])
    result = run_interventions(spec, tmp_path / "exp", progress=False)
    out = tmp_path / "exp"
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6 and result["failed_points"] == 0  # 2 arms x 2 seeds + baseline at rho 0 x 2 seeds
    assert set(runs.rho) == {0.0, 1.0}
    assert runs.loc[runs.arm == "inoculation", "p_prefixed_train_end"].notna().all()
    assert runs.loc[runs.arm == "baseline", "p_prefixed_train_end"].isna().all()
    summary = pd.read_parquet(out / "summary.parquet")
    assert {"arm", "rho", "quantity", "mean", "lo", "hi", "n"} <= set(summary.columns)
    kept = summary[(summary.arm == "baseline") & (summary.quantity == "p_removed_train")]
    assert (kept["mean"].abs() < 1e-12).all()  # the baseline removes nothing from itself
    for name in ("pareto", "trajectories", "questions"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
    assert "reward kept vs unwanted motivation removed" in (out / "report.html").read_text()
    again = run_interventions(spec, tmp_path / "exp", progress=False)  # rerun = resume: nothing recomputed
    assert again["runs"] == 6
