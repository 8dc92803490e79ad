"""kind = "steer": difference-of-means direction, steering and capping, logs, resume."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from motivlab.errors import MotivlabInputError
from motivlab.rl import build_config, train
from motivlab.rl.tiny import tiny_setup
from rl_tiny_run import TINY_RUN

pytestmark = pytest.mark.usefixtures("one_torch_thread")


BASE = TINY_RUN


def _train(path, interventions, *, resume=False, steps=3):
    model, tok, world = tiny_setup(seed=0)
    config = build_config({**BASE, "steps": steps, "interventions": interventions})
    return train(config, path, resume=resume, model=model, tokenizer=tok, world=world)


@pytest.mark.parametrize("bad, message", [
    ({"kind": "steer", "beta": 1.0}, "interventions.0.steer.layers: Field required"),
    ({"kind": "steer", "layers": [0]}, "beta != 0 (steering) or cap"),
    ({"kind": "steer", "layers": [-1], "beta": 1.0}, "distinct layer indices >= 0"),
    ({"kind": "steer", "layers": [0], "beta": float("inf")}, "interventions.0.steer.beta"),
    ({"kind": "steer", "layers": [0], "cap": 1.0, "direction_samples": 1}, "direction_samples"),
])
def test_steer_config_errors(bad, message):
    with pytest.raises(ValueError, match="invalid config") as err:
        build_config({"interventions": [bad]})
    assert message in str(err.value)


def test_layer_out_of_range_is_a_clear_error(tmp_path):
    with pytest.raises(MotivlabInputError, match=r"steer.layers \[5\] out of range: the model has 2 layers"):
        _train(tmp_path / "x", [{"kind": "steer", "layers": [5], "beta": 1.0}], steps=1)


def test_direction_separates_the_labelled_rollouts():
    from motivlab.rl.interventions.config import SteerIntervention
    from motivlab.rl.interventions.steer import find_directions

    model, tok, world = tiny_setup(seed=0)
    spec = SteerIntervention(layers=[0, 1], beta=1.0, direction_envs=32, direction_samples=8, read_at="completion")
    dirs, auc, _ = find_directions(model, tok, world, np.asarray(world.env_ids("train")), spec, seed=0,
                                max_new_tokens=6, stop=world.stop, chat_template=False)
    assert set(dirs) == {0, 1} and all(abs(float(v.norm()) - 1) < 1e-5 for v in dirs.values())
    assert auc > 0.5  # held out: rollouts of envs the direction was not fit on
    again, _, _ = find_directions(model, tok, world, np.asarray(world.env_ids("train")), spec, seed=0,
                               max_new_tokens=6, stop=world.stop, chat_template=False)
    assert all(torch.equal(dirs[k], again[k]) for k in dirs)  # deterministic given the seed


def test_steering_changes_sampling_and_logs_beta_and_layers(tmp_path):
    plain = _train(tmp_path / "plain", [], steps=2)
    res = _train(tmp_path / "s", [{"kind": "steer", "layers": [0, 1], "beta": 4.0}], steps=2)
    assert (res.rollouts.completion != plain.rollouts.completion).any()
    assert (res.steps["steer/beta"] == 4.0).all() and (res.steps["steer/layers"] == 2).all()
    assert "steer/clip_rate" not in res.steps


def test_capping_logs_how_often_and_how_hard_it_clips(tmp_path):
    plain = _train(tmp_path / "plain", [], steps=2)
    loose = _train(tmp_path / "loose", [{"kind": "steer", "layers": [1], "cap": 1000.0}], steps=2)
    assert (loose.steps["steer/clip_rate"] == 0).all() and (loose.steps["steer/mean_excess"] == 0).all()
    cols = ["step", "env_id", "completion", "reward", "route", "logprob"]
    pd.testing.assert_frame_equal(loose.rollouts[cols], plain.rollouts[cols])  # a cap never reached changes nothing
    tight = _train(tmp_path / "tight", [{"kind": "steer", "layers": [1], "cap": -1000.0}], steps=2)
    assert (tight.steps["steer/clip_rate"] == 1).all() and (tight.steps["steer/mean_excess"] > 900).all()
    mid = _train(tmp_path / "mid", [{"kind": "steer", "layers": [1], "cap": 0.0}], steps=2)
    assert ((mid.steps["steer/clip_rate"] > 0) & (mid.steps["steer/clip_rate"] < 1)).any()


def test_resume_with_steering_reproduces_the_uninterrupted_run(tmp_path):
    interventions = [{"kind": "steer", "layers": [0], "beta": 1.5, "cap": 0.5}]
    full = _train(tmp_path / "full", interventions)
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_000003")
    resumed = _train(tmp_path / "cut", interventions, resume=True)
    pd.testing.assert_frame_equal(resumed.rollouts, full.rollouts)
    pd.testing.assert_frame_equal(resumed.metrics, full.metrics)
    cols = [c for c in full.steps.columns if c.startswith("steer/")]
    pd.testing.assert_frame_equal(resumed.steps[cols], full.steps[cols])


def test_too_few_labelled_rollouts_for_a_direction_is_a_clear_error(tmp_path):
    with pytest.raises(MotivlabInputError, match=r"need >= 2 of each\); raise direction_envs"):
        _train(tmp_path / "few", [{"kind": "steer", "layers": [0], "beta": 1.0, "direction_envs": 2,
                                   "direction_samples": 2}], steps=1)
