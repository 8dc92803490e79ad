"""Sampled measurement of p, sR and sL per environment, with Wilson 95 % intervals.

For each env we draw ``n_samples`` completions at temperature 1 from the full distribution (no
top-k / top-p: the estimate must target the same quantity as the exact measurement), stop at
the world's stop string, then let the world label the route and grade the answer:

* ``p = n_rs / (n_rs + n_local)`` — UNKNOWN rollouts (no recognised route) are excluded from
  both counts and reported as ``n_unknown``; the exact measurement uses the same definition;
* ``s_r`` = mean reward among reward-seeking rollouts (Wilson interval on the reward sum — exact
  for the default 0/1 grader, an approximation with partial credit); ``s_l`` likewise for local.

Where a route was never sampled its skill has no data and is NaN (with ``n_rs`` / ``n_local`` = 0
saying why); everything else is always finite.

Sampling is :func:`motivlab.models.generation.sample` (the trainer's batched KV-cache sampler, so the
measurement sees exactly what RL rollouts see). Deterministic by ``seed``: it draws from a
private ``torch.Generator``, never the global RNG.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from motivlab.errors import MotivlabInputError
from motivlab.measure.exact import check_env_ids, check_model_world
from motivlab.measure.stats import wilson_interval
from motivlab.models.generation import sample
from motivlab.worlds.base import Route, World, grade_batch

SAMPLED_COLUMNS = [
    "env_id", "n", "n_rs", "n_local", "n_unknown", "p", "p_lo", "p_hi",
    "s_r", "s_r_lo", "s_r_hi", "s_l", "s_l_lo", "s_l_hi", "reward",
]


def measure_sampled(model: Any, tokenizer: Any, world: World, env_ids: Sequence[int] | np.ndarray,
                    n_samples: int, *, seed: int, batch_size: int = 2048,
                    max_new_tokens: int | None = None) -> pd.DataFrame:
    """Sampled ``p, s_r, s_l`` with Wilson 95 % intervals and counts, one row per env."""
    import torch

    ids = check_env_ids(world, env_ids)
    check_model_world(model, tokenizer, world)
    if n_samples < 1:
        raise MotivlabInputError(f"n_samples must be >= 1, got {n_samples}")
    prompts = [world.prompt(int(e)) for e in ids]
    if max_new_tokens is None:
        longest = max(len(world.rewarded_completion(p, r) or "") for p in prompts for r in (Route.REWARD_SEEKING, Route.LOCAL))
        max_new_tokens = longest + 2
    generator = torch.Generator().manual_seed(int(seed))
    per_chunk = max(1, batch_size // n_samples)
    was_training = model.training
    model.eval()
    rows = []
    try:
        with torch.inference_mode():
            for lo in range(0, ids.size, per_chunk):
                chunk = prompts[lo : lo + per_chunk]
                flat = [p for p in chunk for _ in range(n_samples)]
                completions = sample(
                    model, tokenizer, [p.text for p in chunk], n_per_prompt=n_samples, max_new_tokens=max_new_tokens,
                    temperature=1.0, top_p=1.0, stop=world.stop, generator=generator, batch_size=batch_size,
                ).completions
                rewards = grade_batch(world, flat, completions)
                routes = np.array([world.label(p, c) for p, c in zip(flat, completions, strict=True)], dtype=object)
                for j, prompt in enumerate(chunk):
                    sl = slice(j * n_samples, (j + 1) * n_samples)
                    rows.append(_summarise_env(prompt.env_id, routes[sl], rewards[sl]))
    finally:
        model.train(was_training)
    return pd.DataFrame(rows, columns=SAMPLED_COLUMNS)


def _summarise_env(env_id: int, routes: np.ndarray, rewards: np.ndarray) -> dict[str, Any]:
    is_rs, is_l = routes == Route.REWARD_SEEKING, routes == Route.LOCAL
    n_rs, n_l = int(is_rs.sum()), int(is_l.sum())
    p, p_lo, p_hi = wilson_interval(n_rs, n_rs + n_l)
    sr, sr_lo, sr_hi = wilson_interval(float(rewards[is_rs].sum()), n_rs)
    sl, sl_lo, sl_hi = wilson_interval(float(rewards[is_l].sum()), n_l)
    return {
        "env_id": int(env_id), "n": int(routes.size), "n_rs": n_rs, "n_local": n_l,
        "n_unknown": int(routes.size - n_rs - n_l), "p": float(p), "p_lo": float(p_lo), "p_hi": float(p_hi),
        "s_r": float(sr), "s_r_lo": float(sr_lo), "s_r_hi": float(sr_hi),
        "s_l": float(sl), "s_l_lo": float(sl_lo), "s_l_hi": float(sl_hi), "reward": float(rewards.mean()),
    }


def measure_model_dir(model_dir: Any, *, n_envs: int, n_samples: int, split: str = "train", seed: int = 0) -> dict[str, Any]:
    """Exact and (if ``n_samples``) sampled measurement of the first ``n_envs`` envs of ``split``
    for a saved organism or checkpoint: ``{"envs": [row, …], "means": {…}}`` (JSON-ready)."""
    from motivlab.measure.exact import measure_exact
    from motivlab.models.loading import load_causal_lm
    from motivlab.models.organism import load_organism_world

    world = load_organism_world(model_dir)
    model, tokenizer = load_causal_lm(model_dir)
    pool = world.env_ids(split)
    if n_envs > pool.size:
        raise MotivlabInputError(f"--envs {n_envs} is more than the {pool.size} envs of split {split!r}")
    ids = pool[:n_envs]
    exact = measure_exact(model, tokenizer, world, ids)
    means = {k: float(exact[k].mean()) for k in ("p", "s_r", "s_l")}
    if n_samples:
        sampled = measure_sampled(model, tokenizer, world, ids, n_samples, seed=seed)
        renamed = sampled.rename(columns={"p": "p_sampled", "s_r": "s_r_sampled", "s_l": "s_l_sampled"})
        exact = exact.merge(renamed, on="env_id")
        n_rs, n_l = sampled.n_rs.sum(), sampled.n_local.sum()
        means.update({
            "p_sampled": float(n_rs / max(1, n_rs + n_l)),
            "s_r_sampled": float((sampled.s_r.fillna(0) * sampled.n_rs).sum() / n_rs) if n_rs else None,
            "s_l_sampled": float((sampled.s_l.fillna(0) * sampled.n_local).sum() / n_l) if n_l else None,
            "n_samples_per_env": n_samples,
        })
    rows = json.loads(exact.to_json(orient="records"))
    return {"model_dir": str(model_dir), "split": split, "n_envs": int(ids.size), "envs": rows, "means": means}
