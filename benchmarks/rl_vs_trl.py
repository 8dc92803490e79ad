"""Benchmark: motivlab's GRPO trainer vs TRL's GRPOTrainer, same organism, world and knobs, on CPU.

What it measures, in one process (so machine load affects both alike):

* **throughput** — rollouts per second of training step time (sampling + grading + update, the
  step loop only; model loading, checkpoints and reports excluded on both sides), from the
  *median* step time (robust to other processes stealing the CPU); total-time rates are shown too;
* **where the time goes** — median seconds per step in sampling vs the rest (update, log-probs,
  bookkeeping). Ours: from ``steps.parquet``; TRL: a timer around ``GRPOTrainer._generate`` and
  around each step (callback);
* **learning parity** — the mean reward of the last step's rollouts after K steps, per seed, for
  both trainers; "within noise" means the difference of the means is within 2 standard errors
  (Welch) over the seeds.

Matched settings: the quick organism (pretrained once, cached) in its own world graded with
partial credit (so rewards vary and both trainers really update), group size 8, 32 prompts per step
(256 rollouts), the same completion cap, temperature 1, constant learning rate, AdamW with the
same betas/weight decay/grad clip, β = 0, one optimiser step per batch, token-mean loss
("dapo" in TRL), group-std advantage scaling. TRL stops sampling at the world's stop character
(``stop_at_world_stop``), as our sampler does. Differences that remain: the prompts each step
draws (ours from (seed, step); TRL's sampler from its seed) and TRL's extra per-step work
(entropy, logging) — which is part of what is being compared.

Usage::

    .venv/bin/python benchmarks/rl_vs_trl.py                    # 3 seeds x 8 steps, quick organism
    .venv/bin/python benchmarks/rl_vs_trl.py --steps 10 --seeds 0 1 2 --trl-only

The last line is ``rollouts/s ratio ours/TRL: X.XX``.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

GROUP, PROMPTS = 8, 32


def load_organism(quick: bool):
    from motivlab.rl.config import ModelSection, WorldSection
    from motivlab.rl.setup import default_max_new_tokens, load_policy, load_world
    from motivlab.worlds.hint import HintWorld

    model, tok, model_dir = load_policy(ModelSection(quick=quick), seed=0, progress=True)
    world = load_world(WorldSection(), model_dir)
    # Same envs, keys and notes, graded with partial credit: rewards vary within a group from the
    # first step, so both trainers do real updates (with all-zero rewards ours skips the update).
    world = HintWorld(world.config.model_copy(update={"partial_credit": True}))
    return model, tok, world, default_max_new_tokens(world)


def run_ours(base, tok, world, seed: int, steps: int, lr: float, max_new: int, out: Path) -> dict:
    from motivlab.rl import GRPOConfig, TrainConfig, train
    from motivlab.rl.config import MeasureSection, OptimSection, RunSection, SamplingSection

    cfg = TrainConfig(
        seed=seed, steps=steps, algorithm=GRPOConfig(prompts_per_step=PROMPTS, group_size=GROUP),
        sampling=SamplingSection(max_new_tokens=max_new), optim=OptimSection(lr=lr),
        measure=MeasureSection(exact_every=0), run=RunSection(progress=False, checkpoint_every=steps),
    )
    res = train(cfg, out, model=copy.deepcopy(base), tokenizer=tok, world=world)
    st = res.steps
    sample_s = st["sample_seconds"].to_numpy()
    total_s = (st["sample_seconds"] + st["grade_seconds"] + st["measure_seconds"] + st["update_seconds"]).to_numpy()
    last = res.rollouts[res.rollouts["step"] == steps - 1]
    return {"seconds": total_s.sum(), "median_step": float(np.median(total_s)),
            "sample": float(np.median(sample_s)), "other": float(np.median(total_s - sample_s)),
            "reward": float(last["reward"].mean()), "rollouts": len(res.rollouts)}


def run_trl(base, tok, world, seed: int, steps: int, lr: float, max_new: int, out: Path) -> dict:
    from transformers import TrainerCallback
    from trl import GRPOConfig as TrlGRPOConfig
    from trl import GRPOTrainer

    from motivlab.integrations.trl import stop_at_world_stop, trl_kit

    model = copy.deepcopy(base)
    stop_at_world_stop(model, tok, world)
    kit = trl_kit(world, out / "run", seed=seed)
    step_times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            step_times.append(time.perf_counter() - self.t0)

    args = TrlGRPOConfig(
        output_dir=str(out / "trl"), per_device_train_batch_size=PROMPTS * GROUP, num_generations=GROUP,
        max_completion_length=max_new, max_steps=steps, learning_rate=lr, lr_scheduler_type="constant",
        warmup_steps=0, weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999, max_grad_norm=1.0, beta=0.0,
        num_iterations=1, loss_type="dapo", scale_rewards="group", temperature=1.0, top_p=1.0,
        logging_steps=1, report_to="none", use_cpu=True, bf16=False, save_strategy="no", seed=seed,
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(model=model, processing_class=tok, args=args, train_dataset=kit.dataset,
                          reward_funcs=kit.reward_funcs, callbacks=[*kit.callbacks, StepTimer()])
    gen_times: list[float] = []
    generate = trainer._generate

    def timed_generate(*a, **kw):
        t0 = time.perf_counter()
        try:
            return generate(*a, **kw)
        finally:
            gen_times.append(time.perf_counter() - t0)

    trainer._generate = timed_generate
    trainer.train()
    import pandas as pd

    rollouts = pd.read_parquet(out / "run" / "rollouts.parquet")
    last = rollouts[rollouts["step"] == rollouts["step"].max()]
    step_s, gen_s = np.array(step_times), np.array(gen_times)
    return {"seconds": float(step_s.sum()), "median_step": float(np.median(step_s)),
            "sample": float(np.median(gen_s)), "other": float(np.median(step_s - gen_s)),
            "reward": float(last["reward"].mean()), "rollouts": len(rollouts)}


def summarise(name: str, runs: list[dict]) -> tuple[float, float, float]:
    # median step time: robust to other processes stealing the CPU for a few seconds
    rps = np.array([PROMPTS * GROUP / r["median_step"] for r in runs])
    mean_rps = np.array([r["rollouts"] / r["seconds"] for r in runs])
    rew = np.array([r["reward"] for r in runs])
    print(f"{name:5s} rollouts/s {rps.mean():8.1f} median-step (per seed {np.round(rps, 1).tolist()}; "
          f"total-time {mean_rps.mean():.1f})  "
          f"sampling {np.mean([r['sample'] for r in runs]):.3f} s/step  "
          f"update+rest {np.mean([r['other'] for r in runs]):.3f} s/step  "
          f"final reward {rew.mean():.3f} ± {rew.std(ddof=1) if len(rew) > 1 else 0:.3f} (per seed {np.round(rew, 3).tolist()})")
    return rps.mean(), rew.mean(), (rew.std(ddof=1) / np.sqrt(len(rew)) if len(rew) > 1 else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8, help="GRPO steps per run (K)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--full", action="store_true", help="the default (full-size) organism instead of the quick one")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for both trainers (1 on an oversubscribed CPU)")
    ap.add_argument("--trl-only", action="store_true", help="skip our trainer (TRL half only)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    base, tok, world, max_new = load_organism(quick=not a.full)
    print(f"organism: {sum(p.numel() for p in base.parameters()):,} parameters; world {world.name} "
          f"({len(world.env_ids('train'))} train envs); {PROMPTS} prompts x group {GROUP}; max_new_tokens {max_new}; "
          f"{a.steps} steps; seeds {a.seeds}")
    ours, trl = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            trl.append(run_trl(base, tok, world, seed, a.steps, a.lr, max_new, Path(tmp) / f"trl{seed}"))
            if not a.trl_only:
                ours.append(run_ours(base, tok, world, seed, a.steps, a.lr, max_new, Path(tmp) / f"ours{seed}"))
    t_rps, t_rew, t_se = summarise("TRL", trl)
    if a.trl_only:
        print(f"TRL rollouts/s: {t_rps:.1f}")
        return
    o_rps, o_rew, o_se = summarise("ours", ours)
    within = abs(o_rew - t_rew) <= 2 * np.hypot(o_se, t_se)
    print(f"reward after {a.steps} steps: ours - TRL = {o_rew - t_rew:+.3f} (2 SE = {2 * np.hypot(o_se, t_se):.3f}): "
          f"{'within' if within else 'NOT within'} noise")
    print(f"rollouts/s ratio ours/TRL: {o_rps / t_rps:.2f}")


if __name__ == "__main__":
    main()
