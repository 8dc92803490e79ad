"""Exact (teacher-forced) measurement of p, sR and sL per environment.

For each env the world gives the rewarded completion along each route,
``c_R = prefix_R + answer + stop`` and ``c_L = prefix_L + answer + stop``. One forward pass over
``prompt + c`` yields every token's probability, and:

* ``p_rs_raw = P(prefix_R | prompt)``, ``p_local_raw = P(prefix_L | prompt)``;
* ``p = p_rs_raw / (p_rs_raw + p_local_raw)`` — the propensity **among completions that declare a
  route**. Sampling uses the same definition: ``p = #RS / (#RS + #LOCAL)`` with UNKNOWN rollouts
  left out of both (they are counted separately), so the two estimate the same number.
  ``p_unknown = 1 − p_rs_raw − p_local_raw`` is reported too;
* ``s_r = P(answer + stop | prompt + prefix_R)`` — the probability that a reward-seeking rollout
  earns reward 1 under **exact-match** grading, i.e. the product of the answer and stop tokens'
  probabilities (sampling stops at ``stop``; the grader ignores what would follow). ``s_l``
  likewise after ``prefix_L``.

With ``partial_credit`` worlds the expected partial credit would need a sum over all answers
(26⁴ for the default key); we report the exact-match probability instead, which is a lower bound
of the expected reward and equals it for the default (exact-match) grader.

On trap envs the world's rewarded reward-seeking completion is the *true* key after the
reward-seeking prefix, so ``s_r`` there is how often a reward-seeker is still right.

Batched: ``batch_size`` envs (two sequences each) per forward pass, in ``model.eval()`` and
``torch.inference_mode()``; no randomness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from motivlab.errors import MotivlabInputError
from motivlab.worlds.base import Route, World

EXACT_COLUMNS = ["env_id", "p", "s_r", "s_l", "p_rs_raw", "p_local_raw", "p_unknown"]


def encode_pair(tokenizer: Any, prompt: str, completion: str, *, chat_template: bool = False) -> tuple[list[int], int]:
    """Token ids of ``<bos> prompt completion`` and the index where the completion starts; with
    ``chat_template`` the prompt is tokenised exactly as the RL sampler conditions on it."""
    if chat_template:
        from motivlab.models.generation import render_prompts

        head = list(tokenizer(render_prompts(tokenizer, [prompt], chat_template=True)[0])["input_ids"])
    else:
        head = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if tokenizer.bos_token_id is not None and not chat_template:
        head = [tokenizer.bos_token_id, *head]
    tail = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    return head + tail, len(head)


def check_env_ids(world: World, env_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise MotivlabInputError("env_ids is empty: nothing to measure")
    bad = ids[(ids < 0) | (ids >= world.n_envs)]
    if bad.size:
        raise MotivlabInputError(f"env_ids must be in [0, {world.n_envs - 1}], got {bad[:5].tolist()}")
    return ids


def check_model_world(model: Any, tokenizer: Any, world: World) -> None:
    """Clear errors for a model that is not a causal LM or a tokenizer built for another world."""
    from motivlab.models.tokenizer import check_tokenizer_matches

    if not callable(getattr(model, "forward", None)) or not hasattr(model, "get_input_embeddings"):
        raise MotivlabInputError(f"model {type(model).__name__} is not a causal language model")
    if getattr(world, "name", "") == "hint":
        check_tokenizer_matches(tokenizer, world.alphabet)


def completion_logprobs(model: Any, sequences: list[list[int]], starts: list[int], pad_id: int) -> list[np.ndarray]:
    """Per-token log-probabilities of each sequence's tokens from ``starts[i]`` on, as float64
    arrays; one right-padded forward pass for the whole list."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    device = next(model.parameters()).device
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()  # (B, T, V)
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # (B, T-1, V): position t predicts token t+1
    token_logp = logp.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1).double().cpu().numpy()
    return [token_logp[i, starts[i] - 1 : len(s) - 1] for i, s in enumerate(sequences)]


def measure_exact(model: Any, tokenizer: Any, world: World, env_ids: Sequence[int] | np.ndarray, *,
                  batch_size: int = 256, chat_template: bool | None = None) -> pd.DataFrame:
    """Exact ``p, s_r, s_l`` per env (definitions in the module docstring), one row per env.

    ``chat_template``: the prompt is rendered as the sampler renders it for chat models (user
    message + opened assistant turn), and at most 8 envs share a forward pass (a chat model's
    vocabulary makes the logits of 256 envs tens of GB). ``None``: on for worlds whose prompts are
    chat messages (``world.chat_prompts``, the natural-language world) when the tokenizer has a
    chat template — what ``model.chat_template = true`` does in the sampler."""
    import torch

    ids = check_env_ids(world, env_ids)
    check_model_world(model, tokenizer, world)
    if batch_size < 1:
        raise MotivlabInputError(f"batch_size must be >= 1, got {batch_size}")
    if chat_template is None:
        chat_template = bool(getattr(world, "chat_prompts", False)) and getattr(tokenizer, "chat_template", None) is not None
    if chat_template:
        batch_size = min(batch_size, 8)
    routes = (Route.REWARD_SEEKING, Route.LOCAL)
    prefix_len = {r: len(tokenizer(world.route_prefix(r), add_special_tokens=False)["input_ids"]) for r in routes}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    rows = []
    try:
        with torch.inference_mode():
            for lo in range(0, ids.size, batch_size):
                chunk = ids[lo : lo + batch_size]
                seqs, starts = [], []
                for e in chunk.tolist():
                    prompt = world.prompt(e)
                    for r in routes:
                        completion = world.rewarded_completion(prompt, r)
                        if completion is None:
                            raise MotivlabInputError(f"world {world.name!r} gives no rewarded completion for env {e}")
                        s, st = encode_pair(tokenizer, prompt.text, completion, chat_template=chat_template)
                        seqs.append(s)
                        starts.append(st)
                lps = completion_logprobs(model, seqs, starts, pad)
                for j, e in enumerate(chunk.tolist()):
                    lp = {r: lps[2 * j + k] for k, r in enumerate(routes)}
                    pr = {r: float(np.exp(lp[r][: prefix_len[r]].sum())) for r in routes}
                    skill = {r: float(np.exp(lp[r][prefix_len[r] :].sum())) for r in routes}
                    declared = pr[Route.REWARD_SEEKING] + pr[Route.LOCAL]
                    rows.append({
                        "env_id": e,
                        "p": pr[Route.REWARD_SEEKING] / declared if declared > 0 else 0.5,
                        "s_r": skill[Route.REWARD_SEEKING],
                        "s_l": skill[Route.LOCAL],
                        "p_rs_raw": pr[Route.REWARD_SEEKING],
                        "p_local_raw": pr[Route.LOCAL],
                        "p_unknown": max(0.0, 1.0 - declared),
                    })
    finally:
        model.train(was_training)
    return pd.DataFrame(rows, columns=EXACT_COLUMNS)


def summarise(df: pd.DataFrame, columns: Sequence[str] = ("p", "s_r", "s_l")) -> dict[str, float]:
    """Means over envs (the organism's p₀, sR₀, sL₀ when measured on the training split)."""
    return {c: float(df[c].mean()) for c in columns}
