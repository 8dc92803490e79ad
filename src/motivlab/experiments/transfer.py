"""Transfer probes: the transfer kernel of the organism, measured (issue 14, part 2).

The theory couples environments through transfer, ``dθ_i/dt = α_i Σ_j C_ij g_j`` with
``C_ij = exp(-|u_i - u_j|² / 2ℓ²)`` per latent. A *probe* measures one column of ``C`` directly:
from the organism's starting weights, run a few GRPO steps on **one** env (or a small cluster of
nearby envs), then measure ``p, sR, sL`` *exactly* (teacher-forced, no sampling noise) on every
training and held-out env, and take the change in logit space, ``Δz_j, Δx_j, Δy_j``. The
transfer of latent ``k`` from source ``i`` to probe env ``j`` is ``Δ_j / Δ_i``: how much of the
source's own change arrived at ``j`` (the theory: ``C_ij α_j / α_i``). Every probe starts from the
same weights, so the probes are independent repetitions; intervals are bootstraps over probes.

Why an in-process loop rather than :func:`motivlab.rl.train`: a probe is 4 GRPO steps on the tiny
organism; the trainer would write a run directory (rollout tables, checkpoints, a report) and
re-load the organism for each probe, which costs more than the steps themselves. The loop below
uses the trainer's own building blocks (:func:`motivlab.models.generation.sample`,
:func:`motivlab.worlds.base.grade_batch`, the world monitor, :func:`motivlab.rl.update.update_policy`,
:func:`motivlab.rl.trainer.pick_envs` / ``step_generator`` for the randomness), restores the
starting weights in memory between probes, and measures exactly once per probe.

Outputs (``motivlab experiment transfer --out DIR``): ``pairs.parquet`` (one row per probe ×
env), ``probes.parquet`` (one row per probe: source envs, their own Δ), ``binned.parquet``
(transfer per latent and distance bin, with bootstrap intervals), ``kernel.parquet`` (Gaussian
amplitude and length per latent, with intervals), ``learnabilities.parquet`` (per source env),
``transfer.png``, ``report.html``, ``summary.json``, ``metadata.json``. Analysis in
:mod:`motivlab.experiments.transfer_kernel`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from motivlab.errors import MotivlabInputError
from motivlab.validation import config_rules

__all__ = ["TransferConfig", "probe_sources", "run_transfer"]

LATENT_COLUMNS = {"z": "p", "x": "s_r", "y": "s_l"}  # latent → measured probability


class TransferConfig(BaseModel):
    """Options of ``motivlab experiment transfer``."""

    model_config = config_rules()

    quick: bool = False
    """The quick organism (tests) instead of the default one."""
    single: int = Field(16, ge=0, le=1000)
    """Probes that train on one env (sources drawn from the training split, spread over u)."""
    clusters: int = Field(4, ge=0, le=1000)
    """Probes that train on a small cluster: an env and its nearest training neighbours."""
    cluster_size: int = Field(4, ge=2, le=64)
    steps: int = Field(4, ge=1, le=200)
    """GRPO steps per probe (short: a probe measures the *initial* transfer, the kernel's slope)."""
    prompts_per_step: int = Field(16, ge=1)
    group_size: int = Field(8, ge=2)
    lr: float = Field(3e-4, gt=0)
    scale_rewards: Literal["group", "batch", "none"] = "group"
    bins: int = Field(8, ge=2, le=50)
    bootstrap: int = Field(300, ge=20, le=100_000)
    seed: int = 0
    clip: float = Field(1e-4, gt=0, lt=0.1)
    """Exact probabilities are clipped to [clip, 1 − clip] before the logit."""


def probe_sources(coords: np.ndarray, train_ids: np.ndarray, cfg: TransferConfig) -> list[np.ndarray]:
    """Source env sets: ``single`` training envs spread over the domain (farthest-point order from a
    seeded start, so distances to the other envs cover the whole range), then ``clusters`` sets of
    ``cluster_size`` nearest training neighbours around further seeded centres."""
    rng = np.random.default_rng([cfg.seed, 7])
    pool = np.asarray(train_ids)
    u = coords[pool]
    chosen = [int(rng.integers(len(pool)))]
    dist = np.sum((u - u[chosen[0]]) ** 2, axis=1)
    while len(chosen) < min(cfg.single, len(pool)):
        nxt = int(np.argmax(dist + 1e-9 * rng.random(len(pool))))
        chosen.append(nxt)
        dist = np.minimum(dist, np.sum((u - u[nxt]) ** 2, axis=1))
    sources = [pool[[i]] for i in chosen[: cfg.single]]
    for centre in rng.choice(len(pool), size=min(cfg.clusters, len(pool)), replace=False):
        d = np.sum((u - u[centre]) ** 2, axis=1)
        sources.append(np.sort(pool[np.argsort(d)[: cfg.cluster_size]]))
    return sources


def _logit(p: np.ndarray, clip: float) -> np.ndarray:
    p = np.clip(np.asarray(p, float), clip, 1 - clip)
    return np.log(p / (1 - p))


def _probe(model: Any, tokenizer: Any, world: Any, monitor: Any, sources: np.ndarray, cfg: TransferConfig,
           probe_index: int) -> dict[str, float]:
    """``cfg.steps`` GRPO steps on ``sources`` from the model's current weights (changed in place)."""
    import torch

    from motivlab.models.generation import sample
    from motivlab.rl.config import GRPOConfig, OptimSection
    from motivlab.rl.setup import default_max_new_tokens
    from motivlab.rl.trainer import pick_envs, step_generator
    from motivlab.rl.update import update_policy
    from motivlab.worlds.base import Route, grade_batch

    algo = GRPOConfig(prompts_per_step=cfg.prompts_per_step, group_size=cfg.group_size,
                      scale_rewards=cfg.scale_rewards)
    optim = OptimSection(lr=cfg.lr)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=optim.lr,
                                  betas=optim.betas, weight_decay=optim.weight_decay)
    max_new = default_max_new_tokens(world)
    seed = cfg.seed * 100_003 + probe_index  # every probe its own stream, reproducible
    rewards_all, rs_all, trained = [], [], []
    for step in range(cfg.steps):
        envs = pick_envs(sources, cfg.prompts_per_step, seed, step)
        prompts = [world.prompt(int(e)) for e in envs]
        samples = sample(model, tokenizer, [p.text for p in prompts], n_per_prompt=cfg.group_size,
                         max_new_tokens=max_new, temperature=1.0, stop=world.stop,
                         generator=step_generator(seed, step))
        rollout_prompts = [prompts[i] for i in samples.prompt_index]
        rewards = grade_batch(world, rollout_prompts, samples.completions)
        routes = monitor.label_batch(rollout_prompts, samples.completions)
        stats = update_policy(model, optimizer, samples, torch.as_tensor(rewards, dtype=torch.float32), algo=algo,
                              optim=optim, temperature=1.0, max_new_tokens=max_new)
        if not np.isfinite(stats.loss):
            raise RuntimeError(f"probe {probe_index}: non-finite loss at step {step}")
        rewards_all.append(rewards.mean())
        rs_all.append(np.mean([Route(r) == Route.REWARD_SEEKING for r in routes]))
        trained.append(stats.trained_fraction)
    return {"reward": float(np.mean(rewards_all)), "p_sampled": float(np.mean(rs_all)),
            "trained_fraction": float(np.mean(trained))}


def measure_probes(cfg: TransferConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run every probe; return the raw tables (``pairs``, ``probes``, ``baseline``) and context."""
    import pandas as pd
    import torch
    from rich.progress import Progress

    from motivlab.measure.exact import measure_exact
    from motivlab.measure.monitors import build_monitor
    from motivlab.models.loading import torch_threads
    from motivlab.rl.config import ModelSection
    from motivlab.rl.setup import check_vocabulary, load_policy, load_world

    torch.set_num_threads(torch_threads())
    section = ModelSection(spec="organism", quick=cfg.quick)
    model, tokenizer, model_dir = load_policy(section, cfg.seed, progress=progress)
    from motivlab.rl.config import WorldSection

    world = load_world(WorldSection(), model_dir)
    check_vocabulary(world, tokenizer)
    monitor = build_monitor("world", world=world)
    coords = np.asarray(world.coordinates, float)
    train_ids = np.asarray(world.env_ids("train"))
    heldout_ids = np.asarray(world.env_ids("heldout"))
    probe_ids = np.concatenate([train_ids, heldout_ids])
    split = {int(e): "train" for e in train_ids} | {int(e): "heldout" for e in heldout_ids}
    # the hint world's key regions (envs sharing a key character: the world's own local transfer)
    region = getattr(world, "_key_region", None)
    sources = probe_sources(coords, train_ids, cfg)
    if not sources:
        raise MotivlabInputError("transfer: single + clusters must be at least 1")
    start_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    base = measure_exact(model, tokenizer, world, probe_ids).set_index("env_id")
    rows, probes = [], []
    t0 = time.perf_counter()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("transfer probes", total=len(sources))
        for k, src in enumerate(sources):
            model.load_state_dict(start_state)
            info = _probe(model, tokenizer, world, monitor, src, cfg, k)
            after = measure_exact(model, tokenizer, world, probe_ids).set_index("env_id")
            d_src = {lat: float(np.mean(_logit(after.loc[src, col], cfg.clip) - _logit(base.loc[src, col], cfg.clip)))
                     for lat, col in LATENT_COLUMNS.items()}
            centre = coords[src].mean(axis=0)
            probes.append({"probe": k, "kind": "single" if len(src) == 1 else "cluster", "n_sources": len(src),
                           "sources": " ".join(map(str, src.tolist())), **{f"u{i}": float(c) for i, c in enumerate(centre)},
                           **{f"d{lat}_source": v for lat, v in d_src.items()},
                           **{f"{col}_source_before": float(base.loc[src, col].mean()) for col in LATENT_COLUMNS.values()},
                           **info})
            for e in probe_ids.tolist():
                d = np.sqrt(np.min(np.sum((coords[src] - coords[e]) ** 2, axis=1)))
                row = {"probe": k, "env_id": e, "split": split[e], "is_source": bool(e in set(src.tolist())),
                       "same_region": bool(region is not None and (region[src] == region[e]).any()),
                       "distance": float(d), "distance_centre": float(np.sqrt(np.sum((centre - coords[e]) ** 2)))}
                for lat, col in LATENT_COLUMNS.items():
                    b, a = float(base.at[e, col]), float(after.at[e, col])
                    row[f"{col}_before"], row[f"{col}_after"], row[f"d_{col}"] = b, a, a - b
                    row[f"d{lat}"] = float(_logit(a, cfg.clip) - _logit(b, cfg.clip))
                rows.append(row)
            bar.advance(task)
    model.load_state_dict(start_state)
    return {"pairs": pd.DataFrame(rows), "probes": pd.DataFrame(probes),
            "baseline": base.reset_index().assign(split=lambda df: df["env_id"].map(split)),
            "coords": coords, "train_ids": train_ids, "seconds": time.perf_counter() - t0,
            "world": world.describe() if hasattr(world, "describe") else {}, "model_dir": str(model_dir)}


def run_transfer(cfg: TransferConfig, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Measure the probes, fit the kernel, write tables, figure, report and ``summary.json``."""
    from motivlab.experiments.transfer_kernel import analyse, write_outputs

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if (out / "summary.json").exists():
            raise MotivlabInputError(f"--out {out}: a finished transfer experiment is already there; choose another folder")
        raise MotivlabInputError(f"--out {out}: folder exists and is not empty")
    raw = measure_probes(cfg, progress=progress)
    result = analyse(raw, cfg)
    write_outputs(out, raw, result, cfg)
    return result["summary"]
