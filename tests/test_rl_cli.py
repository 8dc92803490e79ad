"""`motivlab train` end to end on a tiny model directory; bad input exits 2 with a clear message."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from motivlab.cli import app
from motivlab.rl.tiny import char_tokenizer, tiny_llama
from motivlab.worlds.hint import HintWorld, HintWorldConfig

WORLD = {"n_envs": 120, "n_heldout": 10, "n_trap": 10}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.set_num_threads(1)
    world = HintWorld(HintWorldConfig(**WORLD))
    tok = char_tokenizer(world.alphabet)
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_llama(tok).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _config(tmp_path, model_dir):
    text = f"""
steps = 2
[model]
spec = "{model_dir}"
[world]
source = "hint"
[world.hint]
n_envs = 120
n_heldout = 10
n_trap = 10
[algorithm]
prompts_per_step = 2
group_size = 2
[measure]
exact_every = 1
exact_train_envs = 2
exact_heldout_envs = 1
exact_trap_envs = 1
[run]
progress = false
"""
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_train_cli_end_to_end_and_resume(tmp_path, model_dir):
    cfg = _config(tmp_path, model_dir)
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
def test_train_cli_bad_overrides_exit_2(tmp_path, model_dir, override, message):
    result = CliRunner().invoke(app, ["train", str(_config(tmp_path, model_dir)), "--out", str(tmp_path / "o"),
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
