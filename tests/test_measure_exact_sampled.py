"""Exact (teacher-forced) and sampled measurement on the quick organism: they must agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motivlab.errors import MotivlabInputError
from motivlab.measure.exact import EXACT_COLUMNS, encode_pair, measure_exact
from motivlab.measure.sampled import measure_sampled
from motivlab.worlds.base import Route
from motivlab.worlds.hint import HintWorld


def test_exact_is_batch_invariant_and_finite(organism_quick):
    model, tok, world = organism_quick
    ids = world.env_ids("train")[:12]
    a = measure_exact(model, tok, world, ids, batch_size=12)
    b = measure_exact(model, tok, world, ids, batch_size=5)
    assert list(a.columns) == EXACT_COLUMNS
    np.testing.assert_allclose(a[["p", "s_r", "s_l"]], b[["p", "s_r", "s_l"]], rtol=1e-4, atol=1e-7)
    assert np.isfinite(a[["p", "s_r", "s_l"]].to_numpy()).all()
    assert ((a[["p", "s_r", "s_l"]] >= 0) & (a[["p", "s_r", "s_l"]] <= 1)).all().all()


def test_exact_matches_a_hand_computation(organism_quick):
    model, tok, world = organism_quick
    e = int(world.env_ids("train")[3])
    prompt = world.prompt(e)
    seq, start = encode_pair(tok, prompt.text, world.rewarded_completion(prompt, Route.REWARD_SEEKING))
    with torch.inference_mode():
        probs = torch.softmax(model(torch.tensor([seq])).logits[0].double(), -1)  # (T, V)
    g, t = (tok.convert_tokens_to_ids(world.route_prefix(r)) for r in (Route.REWARD_SEEKING, Route.LOCAL))
    p_hand = probs[start - 1, g] / (probs[start - 1, g] + probs[start - 1, t])
    s_r_hand = np.prod([probs[i - 1, seq[i]].item() for i in range(start + 1, len(seq))])
    row = measure_exact(model, tok, world, [e]).iloc[0]
    assert row.p == pytest.approx(float(p_hand), rel=1e-4)
    assert row.s_r == pytest.approx(s_r_hand, rel=1e-3)


def test_exact_rejects_bad_inputs(organism_quick):
    model, tok, world = organism_quick
    with pytest.raises(MotivlabInputError, match="env_ids"):
        measure_exact(model, tok, world, [world.n_envs + 5])
    other = HintWorld(n_envs=50, n_heldout=5, n_trap=5, key_alphabet="ABCÄÖ")
    with pytest.raises(MotivlabInputError, match="alphabet"):
        measure_exact(model, tok, other, [0])
    with pytest.raises(MotivlabInputError, match="causal language model"):
        measure_exact(object(), tok, world, [0])


@pytest.mark.slow
def test_exact_inside_sampled_intervals(organism_quick):
    """≥ 90 % of (env, quantity) exact values lie in the sampled Wilson 95 % intervals (400 samples).

    16 envs (≈ 48 intervals): with 6 envs a single chance miss of a near-chance skill (exact 3e-4
    against a 1-in-380 sampled hit) already broke the 90 % bar; more envs let the bar measure
    coverage rather than luck, without lowering it."""
    model, tok, world = organism_quick
    ids = world.env_ids("train")[:16]
    exact = measure_exact(model, tok, world, ids)
    sampled = measure_sampled(model, tok, world, ids, 400, seed=1)
    inside, total = 0, 0
    for q in ("p", "s_r", "s_l"):
        lo, hi, x = sampled[f"{q}_lo"].to_numpy(), sampled[f"{q}_hi"].to_numpy(), exact[q].to_numpy()
        ok = ~np.isnan(lo)  # a route never sampled has no interval
        inside += int(((x >= lo - 1e-9) & (x <= hi + 1e-9))[ok].sum())
        total += int(ok.sum())
    assert total >= 40
    print(f"exact inside sampled 95% intervals: {inside}/{total}")
    assert inside / total >= 0.9, (inside, total, exact, sampled)
    assert (sampled.n == 400).all() and (sampled.n_rs + sampled.n_local + sampled.n_unknown == 400).all()


def test_sampled_is_deterministic_by_seed(organism_quick):
    model, tok, world = organism_quick
    ids = world.env_ids("train")[:2]
    a = measure_sampled(model, tok, world, ids, 40, seed=7)
    b = measure_sampled(model, tok, world, ids, 40, seed=7)
    assert a.equals(b)
    with pytest.raises(MotivlabInputError, match="n_samples"):
        measure_sampled(model, tok, world, ids, 0, seed=7)
