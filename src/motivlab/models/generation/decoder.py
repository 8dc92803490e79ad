"""The evaluation decoder: a shared prefix, distinct prompts once, finished rows dropped.

The protocol's calls are many short replies to long prompts that differ only in the middle
(system prompt and question wording are shared, the task text varies, each prompt is asked
``samples`` times). ``model.generate`` pays for all of that: every row's whole prompt is
prefilled, identical prompts are prefilled once per sample, finished rows keep being decoded
until the longest row ends, and its growing cache is re-concatenated every step (a third of a
decoding step's time for SmolLM2 on a CPU). This loop instead

1. prefills the longest common token prefix of the batch **once** (batch of one) and copies its
   keys and values to every row;
2. prefills each **distinct** remainder once, left-padded *after* the prefix (the padding holes
   are masked and positions are given explicitly, so every row sees exactly its own prompt),
   then copies the cache out to the rows that repeat it;
3. decodes into a preallocated static cache (:func:`.cache.static_cache`, no concatenation), and
   **drops finished rows** from the batch as they stop (end-of-sequence or the caller's stop
   rule), so a batch costs the sum of its replies, not batch size × the longest reply.

What a row sees is identical to decoding it alone: greedy decoding reproduces
``model.generate`` token for token (tests). Sampling draws from the model's distribution at
``temperature`` with an explicit ``torch.Generator`` (:func:`.draw.draw`, inverse-CDF: one
uniform per row, ~9x cheaper than the RL sampler's exponential race for a 49k vocabulary), so the
same batch with the same generator state gives the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from motivlab.models.generation.cache import forward, select_rows, static_cache
from motivlab.models.generation.draw import draw

# stop_rule(row, tokens so far) -> stop now (the last token is kept); only asked after a
# token that ``stop_candidates`` marks (a cheap table lookup spares most of the text checks)
StopRule = Callable[[int, list[int]], bool]


@dataclass
class Decoded:
    """One row's reply: the new tokens (end-of-sequence excluded) and why it ended."""

    tokens: list[int]
    finish_reason: str  # "stop" (eos or the stop rule) or "length"


def common_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens every prompt starts with, leaving at least one token of each prompt to prefill
    with the rows (its logits give the first reply token)."""
    first, shortest = prompts[0], min(len(p) for p in prompts)
    n = 0
    while n < shortest - 1 and all(p[n] == first[n] for p in prompts):
        n += 1
    return n


@torch.inference_mode()
def decode(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    temperature: float,
    generator: torch.Generator,
    eos_ids: Sequence[int],
    pad_id: int,
    stop_rule: StopRule | None = None,
    stop_candidates: torch.Tensor | None = None,
    grammar: Any = None,
) -> list[Decoded]:
    """Reply to every prompt (token-id lists, unpadded) in one batch; see the module docstring.

    ``stop_candidates`` (V,) bool marks the tokens after which ``stop_rule`` is asked (None: after
    every token). ``grammar`` (a :class:`~motivlab.evals.backends.structure.Grammar`, rows indexed
    like ``prompts``) restricts and forces tokens per row.
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("decode needs at least one prompt, each of at least one token")
    device = next(model.parameters()).device
    n_prefix = common_prefix_length(prompts)
    distinct: dict[tuple[int, ...], int] = {}
    source = torch.tensor([distinct.setdefault(tuple(p[n_prefix:]), len(distinct)) for p in prompts], device=device)  # (B,)
    rests = list(distinct)
    n_distinct, width = len(rests), max(len(r) for r in rests)
    cache_len = n_prefix + width + max_new_tokens
    cache = static_cache(model, cache_len)
    mask = torch.zeros(n_distinct, cache_len, dtype=torch.long, device=device)  # (U, C) 1 = a real token

    if n_prefix:
        forward(model, cache, input_ids=torch.tensor([list(prompts[0][:n_prefix])], device=device), logits_to_keep=1)
        select_rows(cache, torch.zeros(n_distinct, dtype=torch.long, device=device))
        mask[:, :n_prefix] = 1
    ids = torch.full((n_distinct, width), pad_id, dtype=torch.long)  # (U, W) left-padded remainders
    positions = torch.zeros(n_distinct, width, dtype=torch.long)  # (U, W)
    for i, rest in enumerate(rests):
        ids[i, width - len(rest):] = torch.tensor(rest)
        positions[i, width - len(rest):] = torch.arange(n_prefix, n_prefix + len(rest))
        mask[i, n_prefix + width - len(rest): n_prefix + width] = 1
    logits, _ = forward(model, cache, input_ids=ids.to(device), attention_mask=mask[:, : n_prefix + width],
                        position_ids=positions.to(device), logits_to_keep=1)
    logits = logits[:, -1].float()[source]  # (B, V)
    next_position = torch.tensor([n_prefix + len(r) for r in rests], device=device)[source]  # (B,)
    mask = mask[source]  # (B, C)
    select_rows(cache, source)

    replies = [Decoded([], "length") for _ in prompts]
    live = torch.arange(len(prompts), device=device)  # (R,) prompt index of each row still decoding
    eos = set(int(e) for e in eos_ids)
    for step in range(max_new_tokens):
        if grammar is not None:
            allowed, forced = grammar.allowed_and_forced(live.tolist())  # (R, V), R x (token | None)
            logits = logits.masked_fill(~allowed.to(device), float("-inf"))
        tokens, _ = draw(logits, temperature, generator, method="inverse_cdf")  # (R,)
        keep = []
        for j, (row, token) in enumerate(zip(live.tolist(), tokens.tolist(), strict=True)):
            reply, finished = replies[row], False
            if grammar is not None:
                token, finished = grammar.advance(row, token if forced[j] is None else forced[j])
                tokens[j] = token  # the token fed next step: a forced one replaces what was drawn
            if token in eos and not finished:
                reply.finish_reason = "stop"
                continue
            reply.tokens.append(token)
            if finished:
                reply.finish_reason = "stop"
                continue
            asked = stop_rule is not None and (stop_candidates is None or bool(stop_candidates[token]))
            if asked and stop_rule(row, reply.tokens):
                reply.finish_reason = "stop"
                continue
            keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < live.numel():
            kept = torch.tensor(keep, device=device)
            select_rows(cache, kept)
            live, tokens, mask, next_position = live[kept], tokens[kept], mask[kept], next_position[kept]
        column = n_prefix + width + step
        mask[:, column] = 1
        logits, _ = forward(model, cache, input_ids=tokens[:, None], attention_mask=mask[:, : column + 1],
                            position_ids=next_position[:, None])
        logits = logits[:, -1].float()  # (R, V)
        next_position = next_position + 1
    return replies
