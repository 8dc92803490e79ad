"""Advantages and losses against hand-computed values; aggregation adds up over micro-batches."""

from __future__ import annotations

import math

import pytest
import torch

from motivlab.rl.algorithms import (
    Normaliser,
    aggregate,
    group_advantages,
    grpo_loss,
    k3_kl,
    rejection_loss,
)


def test_group_advantages_known_values():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])  # two groups of 4
    none = group_advantages(r, 4, "none")
    assert torch.allclose(none, torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]))
    std = math.sqrt(((0.75**2) + 3 * 0.25**2) / 3)  # unbiased std of group 1
    grp = group_advantages(r, 4, "group")
    assert torch.allclose(grp[:4], torch.tensor([0.75, -0.25, -0.25, -0.25]) / (std + 1e-4), atol=1e-6)
    assert torch.all(grp[4:] == 0)  # identical rewards: no signal, not 0/0
    batch = group_advantages(r, 4, "batch")
    assert torch.allclose(batch, none / (r.std() + 1e-4), atol=1e-6)


def test_group_advantages_bad_input():
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(torch.zeros(6), 4)
    with pytest.raises(ValueError, match="scale must be one of"):
        group_advantages(torch.zeros(4), 4, "median")  # type: ignore[arg-type]


def test_aggregations_known_values_and_micro_batch_additivity():
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    norm = Normaliser(n_sequences=2, n_tokens=4, max_tokens=5)
    assert float(aggregate(per_token, mask, "token_mean", norm)) == pytest.approx(10 / 4)
    assert float(aggregate(per_token, mask, "sequence_mean", norm)) == pytest.approx((2 + 4) / 2)
    assert float(aggregate(per_token, mask, "constant", norm)) == pytest.approx(10 / (2 * 5))
    for how in ("token_mean", "sequence_mean", "constant"):
        whole = aggregate(per_token, mask, how, norm)
        parts = aggregate(per_token[:1], mask[:1], how, norm) + aggregate(per_token[1:], mask[1:], how, norm)
        assert torch.allclose(whole, parts)
    with pytest.raises(ValueError, match="token_mean"):
        aggregate(per_token, mask, "sum", norm)  # type: ignore[arg-type]


def test_grpo_loss_on_policy_is_minus_mean_advantage_and_gradient_is_reinforce():
    lp = torch.tensor([[-1.0, -2.0], [-0.5, -0.1]], requires_grad=True)
    adv = torch.tensor([1.0, -2.0])
    mask = torch.ones(2, 2, dtype=torch.bool)
    parts = grpo_loss(lp, lp.detach(), adv, mask, epsilon=0.2, epsilon_high=0.2,
                      norm=Normaliser(2, 4, 2))
    assert float(parts.loss.detach()) == pytest.approx(-(1 + 1 - 2 - 2) / 4)
    parts.loss.backward()
    # d/dlp of -rho*A at rho = 1 is -A, divided by the 4 tokens
    assert torch.allclose(lp.grad, torch.tensor([[-0.25, -0.25], [0.5, 0.5]]))
    assert parts.clip_fraction == 0.0


def test_grpo_loss_clips_ratio():
    old = torch.zeros(1, 1)
    adv = torch.tensor([1.0])
    mask = torch.ones(1, 1, dtype=torch.bool)
    norm = Normaliser(1, 1, 1)
    lp = torch.tensor([[math.log(1.5)]], requires_grad=True)  # ratio 1.5 > 1.2: clipped, no gradient
    parts = grpo_loss(lp, old, adv, mask, epsilon=0.2, epsilon_high=0.2, norm=norm)
    assert float(parts.loss.detach()) == pytest.approx(-1.2)
    parts.loss.backward()
    assert float(lp.grad) == 0.0 and parts.clip_fraction == 1.0
    # clip-higher lets the same ratio through
    parts = grpo_loss(lp, old, adv, mask, epsilon=0.2, epsilon_high=0.6, norm=norm)
    assert float(parts.loss.detach()) == pytest.approx(-1.5)
    # negative advantage, ratio below 1 - eps: clipped at 0.8
    lp2 = torch.tensor([[math.log(0.5)]])
    parts = grpo_loss(lp2, old, -adv, mask, epsilon=0.2, epsilon_high=0.2, norm=norm)
    assert float(parts.loss.detach()) == pytest.approx(0.8)


def test_k3_kl_and_beta_term():
    lp = torch.tensor([[-1.0, -1.0]])
    ref = torch.tensor([[-1.0, -2.0]])
    kl = k3_kl(lp, ref)
    assert float(kl[0, 0]) == 0.0
    assert float(kl[0, 1]) == pytest.approx(math.exp(-1) + 1 - 1)
    mask = torch.ones(1, 2, dtype=torch.bool)
    parts = grpo_loss(lp, lp, torch.zeros(1), mask, epsilon=0.2, epsilon_high=0.2, beta=0.5, ref_logprobs=ref,
                      norm=Normaliser(1, 2, 2))
    assert float(parts.loss.detach()) == pytest.approx(0.5 * math.exp(-1) / 2)
    assert parts.kl == pytest.approx(math.exp(-1) / 2)
    with pytest.raises(ValueError, match="ref_logprobs"):
        grpo_loss(lp, lp, torch.zeros(1), mask, epsilon=0.2, epsilon_high=0.2, beta=0.5, norm=Normaliser(1, 2, 2))


def test_rejection_loss_is_nll_of_kept():
    lp = torch.tensor([[-1.0, -3.0], [-2.0, -2.0], [-0.5, 0.0]])
    keep = torch.tensor([True, False, True])
    mask = torch.tensor([[1, 1], [1, 1], [1, 0]], dtype=torch.bool)
    parts = rejection_loss(lp, keep, mask, norm=Normaliser(2, 3, 2))
    assert float(parts.loss.detach()) == pytest.approx((1 + 3 + 0.5) / 3)
