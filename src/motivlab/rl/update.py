"""One policy update from one step's rollouts: GRPO or rejection sampling, with micro-batching.

The update sees a sampled batch (:class:`motivlab.models.generation.Samples`) and its rewards, and
takes ``num_iterations`` optimiser steps on it. Each optimiser step accumulates gradients over
micro-batches whose losses are normalised by the *whole* batch (see
:mod:`motivlab.rl.algorithms`), so micro-batching changes memory use, not the gradient.

Devices: the sampled batch arrives on the CPU (:func:`motivlab.models.generation.sample`); the
sampler's log-probs, advantages and masks are moved once to the model's device, and each
micro-batch's ids are moved by :func:`motivlab.rl.algorithms.sequence_logprobs`. On a CPU model
every move is a no-op, so CPU numbers do not depend on this.

Rows whose contribution to the loss is exactly zero are not forwarded at all: GRPO rows with
advantage 0 (a group whose rollouts all got the same reward) when there is no KL term, and
rollouts rejection sampling did not keep. Early in a run on the organism most groups are
all-zero, so this is most of the update's speed; the normalisers still count every row, so the
loss is the one the papers define.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from motivlab.models.generation import Samples
from motivlab.rl.algorithms import (
    LossParts,
    Normaliser,
    group_advantages,
    grpo_loss,
    rejection_loss,
    sequence_logprobs,
)
from motivlab.rl.config import GRPOConfig, OptimSection, RejectionConfig


@dataclass
class UpdateStats:
    """What one update did (one row of ``steps.parquet``)."""

    loss: float = 0.0
    grad_norm: float = 0.0
    clip_fraction: float = 0.0
    kl: float = 0.0
    trained_fraction: float = 0.0  # rollouts that carried a gradient (non-zero advantage / kept)
    optimizer_steps: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def _device_of(model: Any) -> torch.device:
    return next(model.parameters()).device


def _micro_batches(rows: torch.Tensor, size: int | None) -> list[torch.Tensor]:
    size = size or max(len(rows), 1)
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _optimiser_step(model: Any, optimizer: torch.optim.Optimizer, optim: OptimSection) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    if optim.max_grad_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, optim.max_grad_norm)
    else:
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
    optimizer.step()
    return float(norm)


def _run_iterations(
    model: Any,
    optimizer: torch.optim.Optimizer,
    samples: Samples,
    rows: torch.Tensor,
    iterations: int,
    optim: OptimSection,
    loss_of: Callable[[torch.Tensor, torch.Tensor], LossParts],
    temperature: float,
) -> UpdateStats:
    """``iterations`` optimiser steps; ``loss_of(logprobs (b, T), row_index (b,))`` gives a
    micro-batch's loss."""
    stats = UpdateStats(trained_fraction=len(rows) / max(len(samples), 1))
    if len(rows) == 0:
        return stats
    model.train()
    for _ in range(iterations):
        optimizer.zero_grad(set_to_none=True)
        loss_sum, clip_sum, kl_sum = 0.0, 0.0, 0.0
        for mb in _micro_batches(rows, optim.micro_batch_size):
            logprobs = sequence_logprobs(
                model, samples.prompt_ids[mb], samples.prompt_mask[mb], samples.completion_ids[mb],
                samples.completion_mask[mb], temperature=temperature,
            )  # (b, T)
            parts = loss_of(logprobs, mb)
            parts.loss.backward()
            loss_sum += float(parts.loss.detach())
            share = len(mb) / len(rows)
            clip_sum += parts.clip_fraction * share
            kl_sum += parts.kl * share
        stats.grad_norm = _optimiser_step(model, optimizer, optim)
        stats.loss, stats.clip_fraction, stats.kl = loss_sum, clip_sum, kl_sum
        stats.optimizer_steps += 1
    model.eval()
    return stats


def grpo_update(
    model: Any, optimizer: torch.optim.Optimizer, samples: Samples, rewards: torch.Tensor, *,
    algo: GRPOConfig, optim: OptimSection, temperature: float, max_new_tokens: int, ref_model: Any = None,
    weights: torch.Tensor | None = None,
) -> UpdateStats:
    """GRPO on one batch: advantages (B,) (times the hooks' ``weights``, if any), then μ
    clipped-surrogate steps against the sampler's log-probs (B, T)."""
    advantages = group_advantages(rewards, algo.group_size, algo.scale_rewards)  # (B,)
    if weights is not None:
        advantages = advantages * weights
    mask = samples.completion_mask
    norm = Normaliser(len(samples), int(mask.sum()), max_new_tokens)
    rows = torch.arange(len(samples)) if algo.beta > 0 else torch.nonzero(advantages != 0).flatten()
    device = _device_of(model)
    old, adv, mask_d = samples.logprobs.to(device), advantages.to(device), mask.to(device)  # (B, T), (B,), (B, T)
    ref = None
    if algo.beta > 0:
        if ref_model is None:
            raise ValueError("algorithm.beta > 0 needs the reference model")
        with torch.no_grad():  # (B, T), once per step: the reference never changes
            ref = torch.cat([
                sequence_logprobs(ref_model, samples.prompt_ids[mb], samples.prompt_mask[mb],
                                  samples.completion_ids[mb], mask[mb], temperature=temperature)
                for mb in _micro_batches(rows, optim.micro_batch_size)
            ]).to(device)
        ref_full = torch.zeros_like(old)
        ref_full[rows.to(device)] = ref
        ref = ref_full

    def loss_of(logprobs: torch.Tensor, mb: torch.Tensor) -> LossParts:
        mb = mb.to(device)
        return grpo_loss(
            logprobs, old[mb], adv[mb], mask_d[mb], epsilon=algo.epsilon,
            epsilon_high=algo.epsilon_high if algo.epsilon_high is not None else algo.epsilon,
            beta=algo.beta, ref_logprobs=None if ref is None else ref[mb], aggregation=algo.loss_aggregation,
            norm=norm,
        )

    stats = _run_iterations(model, optimizer, samples, rows, algo.num_iterations, optim, loss_of, temperature)
    stats.extra["advantage_abs_mean"] = float(advantages.abs().mean())
    return stats


def rejection_update(
    model: Any, optimizer: torch.optim.Optimizer, samples: Samples, rewards: torch.Tensor, *,
    algo: RejectionConfig, optim: OptimSection, temperature: float, max_new_tokens: int, ref_model: Any = None,
    weights: torch.Tensor | None = None,
) -> UpdateStats:
    """Expert iteration on one batch: cross-entropy (at temperature 1: the model's own
    distribution) on the rollouts with reward >= threshold (and hook weight > 0, if any)."""
    keep = rewards >= algo.threshold  # (B,)
    if weights is not None:
        keep = keep & (weights > 0)
    rows = torch.nonzero(keep).flatten()
    mask = samples.completion_mask
    norm = Normaliser(len(rows), int(mask[rows].sum()), max_new_tokens)
    device = _device_of(model)
    keep_d, mask_d = keep.to(device), mask.to(device)  # (B,), (B, T)

    def loss_of(logprobs: torch.Tensor, mb: torch.Tensor) -> LossParts:
        mb = mb.to(device)
        return rejection_loss(logprobs, keep_d[mb], mask_d[mb], aggregation=algo.loss_aggregation, norm=norm)

    stats = _run_iterations(model, optimizer, samples, rows, algo.num_iterations, optim, loss_of, 1.0)
    stats.extra["kept"] = float(len(rows))
    return stats


UPDATES: dict[str, Callable[..., UpdateStats]] = {"grpo": grpo_update, "rejection": rejection_update}


def update_policy(
    model: Any, optimizer: torch.optim.Optimizer, samples: Samples, rewards: torch.Tensor, *,
    algo: GRPOConfig | RejectionConfig, optim: OptimSection, temperature: float, max_new_tokens: int,
    ref_model: Any = None, weights: torch.Tensor | None = None,
) -> UpdateStats:
    """Dispatch on ``algo.name``; time the whole update. ``weights`` (B,) in [0, 1] scale each
    rollout's gradient (trajectory filtering)."""
    start = time.perf_counter()
    stats = UPDATES[algo.name](
        model, optimizer, samples, rewards, algo=algo, optim=optim, temperature=temperature,
        max_new_tokens=max_new_tokens, ref_model=ref_model, weights=weights,
    )
    stats.seconds = time.perf_counter() - start
    return stats
