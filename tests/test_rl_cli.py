"""`motivlab train` end to end on a tiny model directory; bad input exits 2 with a clear message."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from motivlab.cli import app
from rl_tiny_run import tiny_run_toml

pytestmark = pytest.mark.usefixtures("one_torch_thread")

def test_train_cli_end_to_end_and_resume(tmp_path, tiny_hint_model_dir):
    cfg = tiny_run_toml(tmp_path, tiny_hint_model_dir)
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(cfg), "--out", str(out), "--set", "algorithm.beta=0.1",
                                 "--set", "run.tensorboard=true"])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and (out / "report.html").is_file()
    assert (out / "checkpoints" / "step_000002" / "config.json").is_file()
    again = runner.invoke(app, ["train", str(cfg), "--out", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = runner.invoke(app, ["train", str(cfg), "--out", str(out), "--set", "algorithm.beta=0.1",
                                  "--set", "run.tensorboard=true", "--resume"])
    assert resumed.exit_code == 0, resumed.output


@pytest.mark.parametrize("override, message", [
    ("algorithm.scale_rewards=median", "algorithm.grpo.scale_rewards"),
    ("optim.micro_batch_size=3", "must divide"),
    ("algorithm.nme=1", "algorithm.grpo.nme: Extra inputs"),
    ("steps", "key=value"),
])
def test_train_cli_bad_overrides_exit_2(tmp_path, tiny_hint_model_dir, override, message):
    result = CliRunner().invoke(app, ["train", str(tiny_run_toml(tmp_path, tiny_hint_model_dir)), "--out", str(tmp_path / "o"),
                                      "--set", override])
    assert result.exit_code == 2
    assert message in result.output


def test_train_cli_missing_config_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["train", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "not found" in result.output


def test_demo_config_is_the_positive_gap_example():
    from pathlib import Path

    from motivlab.rl import load_config
    from motivlab.rl.cli import DEMO_CONFIG

    example = Path(__file__).resolve().parents[1] / "examples" / "positive_gap.toml"
    assert load_config(str(DEMO_CONFIG)) == load_config(str(example))
