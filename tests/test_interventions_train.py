"""Interventions from the config change exactly what they claim in a real (tiny) training run,
log it per step, and keep runs reproducible and resumable."""

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


def _train(path, interventions, *, resume=False, steps=3, hooks=()):
    model, tok, world = tiny_setup(seed=0)
    config = build_config({**BASE, "steps": steps, "interventions": interventions})
    return train(config, path, resume=resume, model=model, tokenizer=tok, world=world, hooks=hooks), model, world


def _flagged(rollouts: pd.DataFrame) -> np.ndarray:
    return (rollouts.route == "reward_seeking").to_numpy()


def test_filter_zeroes_exactly_the_flagged_rollouts_and_logs_the_share(tmp_path):
    res, _, _ = _train(tmp_path / "f", [{"kind": "filter", "mode": "zero_advantage"}])
    r, flagged = res.rollouts, _flagged(res.rollouts)
    assert 0 < flagged.sum() < len(r)  # the tiny policy takes both routes: the test can fail
    assert ((r.weight == 0) == flagged).all() and (r.weight[~flagged] == 1).all()
    assert np.array_equal(r.train_reward, r.reward)  # zero_advantage leaves the rewards alone
    share = r.assign(f=flagged).groupby("step").f.mean()
    assert np.allclose(res.steps.set_index("step")["filter/filtered_share"], share)
    assert np.allclose(res.steps.set_index("step")["filter/filtered"], r.assign(f=flagged).groupby("step").f.sum())


def test_filter_drop_fills_flagged_rewards_with_the_unflagged_group_mean(tmp_path):
    res, _, _ = _train(tmp_path / "d", [{"kind": "filter"}], steps=2)
    r = res.rollouts.assign(f=_flagged(res.rollouts), group=lambda d: d.index // 4)
    mixed = 0
    for _, g in r.groupby("group"):
        if g.f.any() and not g.f.all():
            mixed += 1
            assert np.allclose(g.train_reward[g.f], g.reward[~g.f].mean())
        assert np.array_equal(g.train_reward[~g.f], g.reward[~g.f])
    assert mixed > 0


def test_filter_everything_means_no_gradient(tmp_path):
    model, tok, world = tiny_setup(seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = build_config({**BASE, "interventions": [
        {"kind": "filter", "monitor": "regex", "patterns": {"": "reward_seeking"}}]})  # "" matches every rollout
    res = train(config, tmp_path / "all", model=model, tokenizer=tok, world=world)
    assert (res.rollouts.weight == 0).all() and (res.steps["filter/filtered_share"] == 1).all()
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_penalty_lowers_exactly_the_flagged_training_rewards(tmp_path):
    res, _, world = _train(tmp_path / "p", [{"kind": "monitor_penalty", "penalty": 0.5}])
    r, flagged = res.rollouts, _flagged(res.rollouts)
    assert 0 < flagged.sum() < len(r)
    assert np.allclose(r.train_reward, r.reward - 0.5 * flagged)
    graded = [world.grade(world.prompt(int(e)), c) for e, c in zip(r.env_id, r.completion, strict=True)]
    assert np.allclose(r.reward, graded)  # rollouts.reward is still the world's grade
    assert (r.weight == 1).all()
    rate = r.assign(f=flagged).groupby("step").f.mean()
    assert np.allclose(res.steps.set_index("step")["monitor_penalty/penalty_rate"], rate)
    assert np.allclose(res.steps.set_index("step")["monitor_penalty/mean_penalty"], 0.5 * rate)
    # the metrics are the world's too: overall sampled reward per step = mean of rollouts.reward
    overall = res.metrics.query("env_id == -1 and split == 'train'").groupby("step").reward.first()
    assert np.allclose(overall.loc[rate.index], r.groupby("step").reward.mean())


def test_prompt_prefix_reaches_the_policy_but_not_the_grader(tmp_path):
    prefix = "abc|"
    res, _, world = _train(tmp_path / "x", [{"kind": "prompt_prefix", "text": prefix}], steps=2)
    plain, _, _ = _train(tmp_path / "plain", [], steps=2)
    r = res.rollouts
    assert (r.policy_prompt == prefix + r.prompt).all()
    assert (r.prompt == [world.prompt(int(e)).text for e in r.env_id]).all()  # logs keep the world's prompt
    graded = [world.grade(world.prompt(int(e)), c) for e, c in zip(r.env_id, r.completion, strict=True)]
    assert np.allclose(r.reward, graded)
    assert (res.steps["prompt_prefix/prefix_chars"] == len(prefix)).all()
    assert (r.completion != plain.rollouts.completion).any()  # same seed, other context: the policy saw it
    assert "policy_prompt" not in plain.rollouts  # no interventions: the run directory is as before


def test_prompt_prefix_outside_the_vocabulary_is_a_clear_error(tmp_path):
    with pytest.raises(MotivlabInputError, match=r"prompt_prefix.*'é#'"):
        _train(tmp_path / "bad", [{"kind": "prompt_prefix", "text": "abé#c"}], steps=1)


def test_config_hooks_run_before_python_hooks_and_names_do_not_collide(tmp_path):
    from motivlab.rl.interventions.hooks import TrainerHook

    seen = []

    class Spy(TrainerHook):
        name = "spy"

        def rewards(self, step, prompts, completions, rewards, routes):
            seen.append(np.array(rewards))
            return rewards

    res, _, _ = _train(tmp_path / "h", [{"kind": "monitor_penalty", "penalty": 1.0},
                                        {"kind": "monitor_penalty", "penalty": 0.25}], steps=1, hooks=[Spy()])
    r, flagged = res.rollouts, _flagged(res.rollouts)
    assert np.allclose(seen[0], r.reward - 1.25 * flagged)  # the Python hook sees the config's shaping
    assert {"monitor_penalty/penalty_rate", "monitor_penalty_2/penalty_rate"} <= set(res.steps.columns)


def test_resume_with_interventions_reproduces_the_uninterrupted_run(tmp_path):
    interventions = [{"kind": "prompt_prefix", "text": "ab"}, {"kind": "monitor_penalty", "penalty": 0.3},
                     {"kind": "filter", "monitor": "regex", "patterns": {"^G": "reward_seeking"}}]
    full, _, _ = _train(tmp_path / "full", interventions)
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_000003")  # as if killed during step 2
    resumed, _, _ = _train(tmp_path / "cut", interventions, resume=True)
    for table in ("metrics", "rollouts"):
        pd.testing.assert_frame_equal(getattr(resumed, table), getattr(full, table))
    cols = [c for c in full.steps.columns if not c.endswith("seconds") and c != "tokens_per_second"]
    pd.testing.assert_frame_equal(resumed.steps[cols], full.steps[cols])
    assert "Interventions" in (tmp_path / "full" / "report.html").read_text()


def test_run_saved_before_the_key_existed_still_resumes(tmp_path):
    full, _, _ = _train(tmp_path / "old", [])
    path = tmp_path / "old" / "config.toml"
    text = path.read_text()
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("interventions")) + "\n")
    assert "interventions" not in path.read_text()
    shutil.rmtree(tmp_path / "old" / "checkpoints" / "step_000003")
    resumed, _, _ = _train(tmp_path / "old", [], resume=True)
    pd.testing.assert_frame_equal(resumed.rollouts, full.rollouts)
    with pytest.raises(ValueError, match="config differs"):  # switching an intervention on is a new run
        _train(tmp_path / "old", [{"kind": "filter"}], resume=True)
