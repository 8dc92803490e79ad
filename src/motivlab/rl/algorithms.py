"""The math of the update: log-probs, advantages and losses as pure functions with shapes.

B = rollouts in a (micro-)batch, K = group size (samples per prompt), T = completion tokens.
Rollouts are prompt-major, so ``rewards.view(-1, K)`` puts each prompt's group on one row.

Two algorithms share these pieces:

* **Rejection sampling / expert iteration** (Anthony et al. 2017 "Thinking fast and slow";
  RFT, Yuan et al. 2023; ReST-EM, Singh et al. 2023): keep the rollouts whose reward reaches a
  threshold and maximise their likelihood (cross-entropy). It is GRPO with advantage
  ``1[r >= threshold]`` and no ratio — which is how :func:`rejection_loss` is written.
* **GRPO** (Shao et al. 2024, DeepSeekMath): advantage = reward minus the group mean, optionally
  divided by a standard deviation (``scale``); PPO's clipped importance ratio against the policy
  that sampled (Schulman et al. 2017), with an asymmetric upper clip (DAPO's clip-higher, Yu et
  al. 2025); optional KL penalty to the frozen start model with Schulman's k3 estimator; token
  losses aggregated per token (DAPO), per sequence (original GRPO) or by a constant (Dr. GRPO,
  Liu et al. 2025).

Losses over micro-batches must add up to the loss of the whole batch, so aggregation takes the
*global* normaliser (tokens / sequences of the full batch) as an argument instead of computing
it from the micro-batch it sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

AdvantageScale = Literal["group", "batch", "none"]
LossAggregation = Literal["token_mean", "sequence_mean", "constant"]

_STD_EPS = 1e-4  # TRL's choice: a group with identical rewards gets advantage 0, not 0/0


# ---------------------------------------------------------------------------------------------
# log-probabilities of completions


def sequence_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Per-token log-probs ``(B, T)`` of ``completion_ids`` under ``model`` (differentiable);
    0 where ``completion_mask`` is False.

    prompt_ids/mask (B, P) left-padded; completion_ids/mask (B, T) right-padded. Positions follow
    the real tokens (padding does not shift them), exactly as in :func:`motivlab.models.generation.sample`,
    so these log-probs equal the sampler's up to float rounding.
    """
    ids = torch.cat([prompt_ids, completion_ids], dim=1)  # (B, P+T)
    attention = torch.cat([prompt_mask, completion_mask], dim=1).long()  # (B, P+T)
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)  # (B, P+T)
    prompt_len, length = prompt_ids.shape[1], completion_ids.shape[1]
    device = next(model.parameters()).device
    # logits at column c predict token c+1: columns P-1 .. P+T-2 predict the completion
    logits = model(
        input_ids=ids.to(device), attention_mask=attention.to(device), position_ids=positions.to(device),
        use_cache=False,
    ).logits[:, prompt_len - 1 : prompt_len - 1 + length, :]  # (B, T, V)
    if temperature > 0:
        logits = logits / temperature
    logp = torch.log_softmax(logits.float(), dim=-1)  # (B, T, V)
    token_logp = logp.gather(2, completion_ids.to(device)[:, :, None]).squeeze(2)  # (B, T)
    return token_logp * completion_mask.to(device)


# ---------------------------------------------------------------------------------------------
# advantages


def _centre(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    return rewards.view(-1, group_size) - rewards.view(-1, group_size).mean(dim=1, keepdim=True)  # (G, K)


def _scale_group(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    std = rewards.view(-1, group_size).std(dim=1, keepdim=True)  # (G, 1), unbiased as in TRL
    return (_centre(rewards, group_size) / (std + _STD_EPS)).flatten()


def _scale_batch(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    # Hu et al. 2025 (REINFORCE++) / TRL scale_rewards="batch": group baseline, batch-wide std
    return (_centre(rewards, group_size) / (rewards.std() + _STD_EPS)).flatten()


def _scale_none(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    # Dr. GRPO: dividing by the group std up-weights near-solved groups; do not
    return _centre(rewards, group_size).flatten()


_ADVANTAGES: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "group": _scale_group,
    "batch": _scale_batch,
    "none": _scale_none,
}


def group_advantages(rewards: torch.Tensor, group_size: int, scale: AdvantageScale = "group") -> torch.Tensor:
    """GRPO advantages ``(B,)`` from rewards ``(B,)`` in prompt-major groups of ``group_size``."""
    if rewards.ndim != 1 or rewards.numel() % group_size != 0:
        raise ValueError(
            f"group_advantages: rewards must be 1-D with a length divisible by group_size={group_size}, "
            f"got shape {tuple(rewards.shape)}"
        )
    if scale not in _ADVANTAGES:
        raise ValueError(f"scale must be one of {sorted(_ADVANTAGES)}, got {scale!r}")
    return _ADVANTAGES[scale](rewards.double(), group_size).to(rewards.dtype)


# ---------------------------------------------------------------------------------------------
# loss aggregation over tokens


@dataclass(frozen=True)
class Normaliser:
    """Sizes of the *whole* batch an aggregated loss is averaged over (see the module docstring)."""

    n_sequences: int  # rollouts in the batch
    n_tokens: int  # unmasked completion tokens in the batch
    max_tokens: int  # the constant of Dr. GRPO: max_new_tokens


def _token_mean(per_token: torch.Tensor, mask: torch.Tensor, norm: Normaliser) -> torch.Tensor:
    return (per_token * mask).sum() / max(norm.n_tokens, 1)


def _sequence_mean(per_token: torch.Tensor, mask: torch.Tensor, norm: Normaliser) -> torch.Tensor:
    lengths = mask.sum(dim=1).clamp(min=1)  # (B,)
    return ((per_token * mask).sum(dim=1) / lengths).sum() / norm.n_sequences


def _constant(per_token: torch.Tensor, mask: torch.Tensor, norm: Normaliser) -> torch.Tensor:
    return (per_token * mask).sum() / (norm.n_sequences * norm.max_tokens)


_AGGREGATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, Normaliser], torch.Tensor]] = {
    "token_mean": _token_mean,
    "sequence_mean": _sequence_mean,
    "constant": _constant,
}


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, how: LossAggregation, norm: Normaliser) -> torch.Tensor:
    """Scalar loss from per-token losses ``(B, T)`` and their mask ``(B, T)``."""
    if how not in _AGGREGATIONS:
        raise ValueError(f"loss aggregation must be one of {sorted(_AGGREGATIONS)}, got {how!r}")
    return _AGGREGATIONS[how](per_token, mask.to(device=per_token.device, dtype=per_token.dtype), norm)


# ---------------------------------------------------------------------------------------------
# losses


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token KL(π‖π_ref) estimate ``(B, T)``, Schulman's k3: ``e^{ref−lp} − (ref−lp) − 1`` (≥ 0,
    unbiased for samples from π)."""
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1.0


@dataclass
class LossParts:
    """The loss to differentiate plus what the log shows about it (floats, micro-batch sums)."""

    loss: torch.Tensor
    clip_fraction: float = 0.0  # share of tokens whose ratio was clipped
    kl: float = 0.0  # mean k3 KL to the reference model over tokens


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon: float,
    epsilon_high: float,
    beta: float = 0.0,
    ref_logprobs: torch.Tensor | None = None,
    aggregation: LossAggregation = "token_mean",
    norm: Normaliser,
) -> LossParts:
    """GRPO's clipped surrogate (+ β·KL) for one micro-batch.

    logprobs (B, T) with grad; old_logprobs (B, T) of the sampling policy; advantages (B,);
    mask (B, T). Per token: ``−min(ρA, clip(ρ, 1−ε, 1+ε_high)A) + β·k3`` with ``ρ = e^{lp−old}``.
    The other tensors are moved to ``logprobs``' device (no-ops when they are there already).
    """
    device = logprobs.device
    old_logprobs, advantages, mask = old_logprobs.to(device), advantages.to(device), mask.to(device)
    if ref_logprobs is not None:
        ref_logprobs = ref_logprobs.to(device)
    ratio = torch.exp(logprobs - old_logprobs)  # (B, T)
    adv = advantages[:, None].to(logprobs.dtype)  # (B, 1)
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)  # (B, T)
    maskf = mask.to(logprobs.dtype)
    n = maskf.sum().clamp(min=1)
    kl_value = 0.0
    if beta > 0.0:
        if ref_logprobs is None:
            raise ValueError("grpo_loss: beta > 0 needs ref_logprobs")
        kl = k3_kl(logprobs, ref_logprobs)  # (B, T)
        per_token = per_token + beta * kl
        kl_value = float((kl.detach() * maskf).sum() / n)
    was_clipped = ((ratio < 1.0 - epsilon) & (adv < 0)) | ((ratio > 1.0 + epsilon_high) & (adv > 0))
    clip_fraction = float((was_clipped.to(maskf.dtype) * maskf).sum() / n)
    return LossParts(aggregate(per_token, mask, aggregation, norm), clip_fraction, kl_value)


def rejection_loss(
    logprobs: torch.Tensor,
    keep: torch.Tensor,
    mask: torch.Tensor,
    *,
    aggregation: LossAggregation = "token_mean",
    norm: Normaliser,
) -> LossParts:
    """Cross-entropy on the kept rollouts: logprobs (B, T) with grad, keep (B,) bool, mask (B, T).

    ``norm`` counts only kept rollouts, so the loss is the mean negative log-likelihood of the
    kept data however many were kept.
    """
    kept_mask = mask.to(logprobs.device) & keep[:, None].to(logprobs.device)  # (B, T)
    return LossParts(aggregate(-logprobs, kept_mask, aggregation, norm))
