"""TRL integration: dataset, reward = World.grade, and a real two-step GRPOTrainer run on CPU that
writes our run-directory metrics."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from motivlab.integrations.trl import (
    RolloutRecorder,
    make_reward_function,
    stop_at_world_stop,
    trl_kit,
    world_dataset,
)
from motivlab.measure.metrics import METRIC_COLUMNS
from motivlab.measure.monitors import RegexMonitor
from motivlab.worlds import HintWorld, Route

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def world() -> HintWorld:
    return HintWorld(n_envs=120, n_heldout=10, n_trap=10, seed=2)


def test_world_dataset(world):
    ds = world_dataset(world, "train", repeats=2)
    assert set(ds.column_names) == {"prompt", "env_id", "split"}
    assert len(ds) == 2 * 100 and set(ds["split"]) == {"train"}
    assert ds[0]["prompt"] == world.prompt(ds[0]["env_id"]).text
    trap = world_dataset(world, "trap", conversational=True)
    assert trap[0]["prompt"] == [{"role": "user", "content": world.prompt(trap[0]["env_id"]).text}]
    assert set(trap["split"]) == {"trap"}
    with pytest.raises(ValueError, match="repeats"):
        world_dataset(world, repeats=0)


def test_reward_function_is_world_grade(world):
    rec = RolloutRecorder()
    reward = make_reward_function(world, recorder=rec, monitor=RegexMonitor.for_world(world))
    ids = [int(e) for e in world.env_ids("all")[:6]]
    prompts = [world.prompt(e) for e in ids]
    comps = [
        world.rewarded_completion(prompts[0], Route.LOCAL),
        world.note_completion(prompts[1]),
        "junk",
        [{"role": "assistant", "content": world.rewarded_completion(prompts[3], Route.REWARD_SEEKING)}],
        "",
        "T" + prompts[5].meta["key"],
    ]
    logged: dict[str, float] = {}
    got = reward([p.text for p in prompts], comps, env_id=ids, log_metric=logged.__setitem__)
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in comps]
    assert got == [world.grade(p, c) for p, c in zip(prompts, texts, strict=True)] == [1, 1, 0, 1, 0, 1]
    rows = rec.pop()
    assert [r["route"] for r in rows] == ["local", "reward_seeking", "unknown", "reward_seeking", "unknown", "local"]
    assert logged["motivlab/p"] == pytest.approx(0.5) and logged["motivlab/unknown_rate"] == pytest.approx(2 / 6)
    assert reward.__name__ == "hint_grade"
    with pytest.raises(ValueError, match="env_id"):
        reward(["x"], ["G"])


def _warm_up(model, tok, world, steps: int = 20) -> None:
    """A few supervised steps on rewarded completions so routes get declared (p is measurable)."""
    import torch

    texts = []
    for e in world.env_ids("train")[:16]:
        p = world.prompt(int(e))
        texts += [p.text + world.note_completion(p), p.text + world.rewarded_completion(p, Route.LOCAL)]
    enc = tok(texts, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.timeout(300)
def test_grpo_trainer_two_steps_writes_our_metrics(tmp_path):
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from motivlab.rl.tiny import char_tokenizer, tiny_llama

    torch.set_num_threads(2)
    # partial credit: rewards vary within a group from the first step, so GRPO has a signal
    world = HintWorld(n_envs=120, n_heldout=10, n_trap=10, seed=2, partial_credit=True)
    tok = char_tokenizer(world.alphabet)
    model = tiny_llama(tok, seed=0, hidden=32, layers=2, heads=4)
    _warm_up(model, tok, world)
    stop_at_world_stop(model, tok, world)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    kit = trl_kit(world, tmp_path / "run", seed=0)
    args = GRPOConfig(
        output_dir=str(tmp_path / "trl"), per_device_train_batch_size=8, num_generations=4,
        max_completion_length=8, max_steps=2, logging_steps=1, report_to="none", use_cpu=True,
        learning_rate=1e-3, save_strategy="no", bf16=False, seed=0, temperature=1.0,
    )
    trainer = GRPOTrainer(model=model, processing_class=tok, args=args, train_dataset=kit.dataset,
                          reward_funcs=kit.reward_funcs, callbacks=kit.callbacks)
    trainer.train()

    run = tmp_path / "run"
    assert (run / "config.toml").exists() and (run / "metadata.json").exists()
    metrics = pd.read_parquet(run / "metrics.parquet")
    rollouts = pd.read_parquet(run / "rollouts.parquet")
    assert list(metrics.columns) == [*METRIC_COLUMNS, "run_id"]
    assert sorted(metrics["step"].unique()) == [0, 1, 2] and len(rollouts) == 16  # 2: the final exact measurement
    assert sorted(rollouts["step"].unique()) == [0, 1]

    # the reward TRL trained on is the world's grade of the logged completion
    for row in rollouts.itertuples():
        assert row.reward == world.grade(world.prompt(row.env_id), row.completion)
        assert row.route == world.label(world.prompt(row.env_id), row.completion)
    assert (rollouts["completion"].str.count("\n") <= 1).all()  # generation stopped at the world's stop

    sampled = metrics[metrics["n_rollouts"] > 0]
    overall = sampled[(sampled["env_id"] == -1) & (sampled["split"] == "train")].set_index("step")
    per_env = sampled[sampled["env_id"] >= 0]
    assert (per_env.groupby("step")["n_rollouts"].sum() == overall["n_rollouts"]).all()
    trl_reward = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    np.testing.assert_allclose(overall["reward"].to_numpy(), trl_reward, atol=1e-6)
    assert overall["n_reward_seeking"].sum() + overall["n_local"].sum() > 0  # the warm-up declared routes
    for row in metrics.itertuples():
        if not math.isnan(row.p):
            assert row.p_lo <= row.p <= row.p_hi
    # the exact measurement, as our trainer takes it: before update 0 (exact_every = 10) and after the last
    exact = metrics.dropna(subset=["p_exact"])
    assert sorted(exact["step"].unique()) == [0, 2]
    assert set(exact["split"]) == {"train", "heldout", "trap"}
    from motivlab.measure.exact import measure_exact

    final = exact[(exact.step == 2) & (exact.env_id >= 0)].set_index("env_id")
    again = measure_exact(model, tok, world, final.index.tolist()).set_index("env_id")
    np.testing.assert_allclose(final.loc[again.index, "p_exact"], again["p"], atol=1e-5)
    assert (run / "summary.json").exists() and (run / "report.html").exists() and (run / "figures" / "overall.png").exists()
    from motivlab.rl.trainer import _rollout_records  # noqa: F401  (the trainer's rollout columns)

    assert {"step", "env_id", "prompt", "completion", "reward", "route", "logprob", "sample_idx", "n_tokens",
            "finished"} <= set(rollouts.columns)
    assert (rollouts["n_tokens"] >= 1).all() and (rollouts["n_tokens"] <= 8).all()
    steps = pd.read_parquet(run / "steps.parquet")
    assert steps["step"].tolist() == [0, 1] and {"loss", "reward", "grad_norm"} <= set(steps.columns)
    assert not [c for c in steps.columns if "/" in c]  # "<hook>/<name>" columns are interventions' (TRL's "/" -> ".")
    np.testing.assert_allclose(steps["reward"].to_numpy(), trl_reward, atol=1e-6)
    np.testing.assert_allclose(steps["p"].to_numpy(), overall["p"].to_numpy(), equal_nan=True)  # as our trainer's steps
    changed = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert changed, "GRPO steps left every parameter unchanged"
    # a second run from step 0 into the same directory is refused, not mixed into the first
    from transformers import TrainerState

    again = trl_kit(world, run)
    with pytest.raises(ValueError, match="already holds a run"):
        again.callbacks[0].on_train_begin(args, TrainerState(), None)
