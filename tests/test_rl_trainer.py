"""The training loop on a tiny model: parameters move, runs reproduce, bad input fails clearly and
leaves the run directory resumable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from motivlab.rl import build_config, train
from motivlab.rl.rundir import RunDirError
from motivlab.rl.tiny import tiny_setup
from rl_tiny_run import TINY_RUN

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASE = TINY_RUN


def _config(**sections):
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for key, value in sections.items():
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    return build_config(data)


def _train(tmp_path, name="run", seed=0, **sections):
    model, tok, world = tiny_setup(seed=0)
    return train(_config(seed=seed, **sections), tmp_path / name, model=model, tokenizer=tok, world=world), model


@pytest.mark.parametrize("algorithm", [
    {"name": "grpo", "beta": 0.1, "num_iterations": 2},
    {"name": "rejection", "threshold": 0.01},
])
def test_every_trainable_parameter_changes(algorithm):
    model, tok, world = tiny_setup(seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    from motivlab.models.generation import sample
    from motivlab.rl.update import update_policy
    from motivlab.worlds.base import grade_batch

    cfg = _config(algorithm=algorithm, steps=1)
    prompts = [world.prompt(int(e)) for e in world.env_ids("train")[:8]]
    s = sample(model, tok, [p.text for p in prompts], n_per_prompt=4, max_new_tokens=6, stop=world.stop,
               generator=torch.Generator().manual_seed(0))
    rewards = grade_batch(world, [prompts[i] for i in s.prompt_index], s.completions)
    assert rewards.std() > 0
    import copy

    ref = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    stats = update_policy(model, opt, s, torch.as_tensor(rewards, dtype=torch.float32), algo=cfg.algorithm,
                          optim=cfg.optim, temperature=1.0, max_new_tokens=6, ref_model=ref)
    assert stats.optimizer_steps >= 1 and np.isfinite(stats.loss)
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert not unchanged, f"parameters not updated: {unchanged}"


def test_run_directory_contract_and_determinism(tmp_path):
    a, _ = _train(tmp_path, "a")
    b, _ = _train(tmp_path, "b")
    for name in ("config.toml", "metadata.json", "metrics.parquet", "rollouts.parquet", "report.html",
                 "figures/overall.png", "figures/per_env.png", "summary.json"):
        assert (a.run_dir / name).is_file(), name
    assert (a.run_dir / "checkpoints" / "step_000003" / "model.safetensors").is_file()
    metrics = pd.read_parquet(a.run_dir / "metrics.parquet")
    for col in ("step", "env_id", "split", "n_rollouts", "reward", "p", "p_lo", "p_hi", "s_r", "s_r_lo", "s_r_hi",
                "s_l", "s_l_lo", "s_l_hi", "p_exact", "s_r_exact", "s_l_exact"):
        assert col in metrics.columns
    assert set(metrics.split) == {"train", "heldout", "trap"}
    assert sorted(metrics.dropna(subset=["p_exact"]).step.unique()) == [0, 2, 3]  # every 2 steps + final
    rollouts = pd.read_parquet(a.run_dir / "rollouts.parquet")
    assert len(rollouts) == 3 * 16 and set(rollouts.sample_idx) == {0, 1, 2, 3}
    assert a.steps.loss.abs().sum() > 0
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    pd.testing.assert_frame_equal(a.rollouts, b.rollouts)
    c, _ = _train(tmp_path, "c", seed=1)
    assert not c.rollouts.completion.equals(a.rollouts.completion)


def test_existing_run_needs_resume_and_same_config(tmp_path):
    _train(tmp_path, "r")
    with pytest.raises(ValueError, match="--resume"):
        _train(tmp_path, "r")
    model, tok, world = tiny_setup(seed=0)
    with pytest.raises(ValueError, match=r"config differs.*optim.lr: saved 0.01, now 0.02"):
        train(_config(optim={"lr": 2e-2}), tmp_path / "r", resume=True, model=model, tokenizer=tok, world=world)


class _BadWorld:
    def __init__(self, world, mode):
        self._w, self.mode, self.calls = world, mode, 0

    def __getattr__(self, name):
        return getattr(self._w, name)

    def grade(self, prompt, completion):
        self.calls += 1
        return float("nan") if self.mode == "nan" and self.calls > 20 else self._w.grade(prompt, completion)


def test_nan_reward_is_a_clear_error_and_run_resumes(tmp_path):
    model, tok, world = tiny_setup(seed=0)
    with pytest.raises(ValueError, match="non-finite"):
        train(_config(), tmp_path / "nan", model=model, tokenizer=tok, world=_BadWorld(world, "nan"))
    model, tok, world = tiny_setup(seed=0)
    resumed = train(_config(), tmp_path / "nan", resume=True, model=model, tokenizer=tok, world=world)
    clean, _ = _train(tmp_path, "clean")
    pd.testing.assert_frame_equal(resumed.metrics, clean.metrics)


def test_monitor_wrong_length_is_a_clear_error(tmp_path, monkeypatch):
    import motivlab.measure.monitors as monitors

    class Short:
        def label_batch(self, prompts, completions):
            return ["local"] * (len(completions) - 1)

    monkeypatch.setattr(monitors, "build_monitor", lambda kind, **kw: Short())
    with pytest.raises(ValueError, match="labels for"):
        _train(tmp_path, "short")


def test_vocabulary_mismatch_and_config_errors(tmp_path):
    from motivlab.rl.tiny import char_tokenizer, tiny_llama

    _, _, world = tiny_setup(seed=0)
    tok = char_tokenizer("abc|>")
    with pytest.raises(ValueError, match="do not round-trip"):
        train(_config(), tmp_path / "vocab", model=tiny_llama(tok), tokenizer=tok, world=world)
    with pytest.raises(ValueError, match=r"micro_batch_size \(5\) must divide .*4 × 4 = 16"):
        _config(optim={"micro_batch_size": 5})
    with pytest.raises(ValueError, match="scale_rewards"):
        _config(algorithm={"scale_rewards": "median"})


@pytest.mark.parametrize("aggregation", ["token_mean", "sequence_mean", "constant"])
def test_micro_batching_gives_the_same_gradient(aggregation):
    """Micro-batch losses are normalised by the whole batch, so the accumulated gradient (seen
    through one plain SGD step) equals the whole-batch gradient."""
    import copy

    from motivlab.models.generation import sample
    from motivlab.rl.update import update_policy
    from motivlab.worlds.base import grade_batch

    model, tok, world = tiny_setup(seed=0)
    prompts = [world.prompt(int(e)) for e in world.env_ids("train")[:4]]
    s = sample(model, tok, [p.text for p in prompts], n_per_prompt=4, max_new_tokens=6, stop=world.stop,
               generator=torch.Generator().manual_seed(1))
    rewards = torch.as_tensor(grade_batch(world, [prompts[i] for i in s.prompt_index], s.completions)).float()
    after = []
    for micro in (None, 2):
        cfg = _config(algorithm={"loss_aggregation": aggregation, "beta": 0.1}, optim={"micro_batch_size": micro})
        m = copy.deepcopy(model)
        update_policy(m, torch.optim.SGD(m.parameters(), lr=1.0), s, rewards, algo=cfg.algorithm, optim=cfg.optim,
                      temperature=1.0, max_new_tokens=6, ref_model=copy.deepcopy(model))
        after.append(dict(m.named_parameters()))
    for name, p in after[0].items():
        assert torch.allclose(p, after[1][name], atol=1e-6), name


def test_disk_full_while_writing_keeps_run_resumable(tmp_path, monkeypatch):
    import motivlab.rl.rundir as rundir

    real = rundir.append_jsonl
    calls = {"n": 0}

    def flaky(path, records):
        calls["n"] += 1
        if calls["n"] == 5:  # step 1's metrics: after its rollouts were written
            raise OSError(28, "No space left on device")
        return real(path, records)

    monkeypatch.setattr(rundir, "append_jsonl", flaky)
    with pytest.raises(RunDirError, match=r"No space left.*--resume"):
        _train(tmp_path, "full")
    monkeypatch.setattr(rundir, "append_jsonl", real)
    model, tok, world = tiny_setup(seed=0)
    resumed = train(_config(), tmp_path / "full", resume=True, model=model, tokenizer=tok, world=world)
    clean, _ = _train(tmp_path, "clean")
    pd.testing.assert_frame_equal(resumed.metrics, clean.metrics)
    pd.testing.assert_frame_equal(resumed.rollouts, clean.rollouts)


def test_hooks_shape_prompts_rewards_and_weights(tmp_path):
    from motivlab.rl.interventions.hooks import TrainerHook

    class FilterAll(TrainerHook):
        name = "filter"

        def prompt_texts(self, step, prompts, texts):
            return ["G" + t for t in texts]

        def rewards(self, step, prompts, completions, rewards, routes):
            return rewards * 0.5

        def weights(self, step, prompts, completions, rewards, routes):
            self.n = len(completions)
            return np.zeros(len(completions))

        def log(self):
            return {"filtered": 1.0}

    model, tok, world = tiny_setup(seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    res = train(_config(), tmp_path / "hooks", model=model, tokenizer=tok, world=world, hooks=[FilterAll()])
    assert all(torch.equal(p.cpu(), before[n]) for n, p in model.named_parameters())  # every gradient filtered
    r = res.rollouts
    assert (r.policy_prompt == "G" + r.prompt).all()
    assert np.allclose(r.train_reward, 0.5 * r.reward) and (r.weight == 0).all()
    assert (res.steps["filter/filtered"] == 1.0).all()

    class Broken(TrainerHook):
        def rewards(self, step, prompts, completions, rewards, routes):
            return rewards[:-1]

    model, tok, world = tiny_setup(seed=0)
    with pytest.raises(ValueError, match="hook 'hook' returned rewards"):
        train(_config(), tmp_path / "broken", model=model, tokenizer=tok, world=world, hooks=[Broken()])
