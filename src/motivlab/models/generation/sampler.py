"""The RL sampler: batched rollouts with a KV cache, a pure function of (model, prompts, generator).

What it really does: prompts are tokenised and *left*-padded so that every row's last prompt
token sits in the same column; one prefill pass fills the KV cache, then all rows of a batch
decode together, one token per step, over the cache (:mod:`.cache`). A row stops when it emits the
end-of-sequence token or when its decoded text contains ``stop``; finished rows keep riding
along (emitting padding, masked out) until the whole batch is done, because shrinking the cache
costs more than it saves for the short completions of the organism worlds.

Why not ``model.generate``: its per-step machinery (logits processors, stopping criteria,
bookkeeping for beam search) is most of the wall time for tiny models on a CPU; this loop is a
forward call, a softmax and one draw from an explicit ``torch.Generator`` per step
(:func:`.draw.draw` with the exponential race, this sampler's random stream since the first
release). The randomness is the generator only, so the same generator state gives the same
rollouts.

``logprobs`` are the log-probabilities of the sampled tokens under the *sampling* policy: the
model's distribution at ``temperature`` (and renormalised over the ``top_p`` nucleus when
``top_p < 1``). With ``temperature == 0`` decoding is greedy (argmax of the logits) and
``logprobs`` are those of the untempered model (temperature 1). These are the "old" log-probs
GRPO's importance ratio needs.

Devices: the model may live on any device; prompts are moved to it, the per-token draw happens
there with ``generator`` (give one on the model's device: ``torch.Generator(device=...)``), and
every returned tensor is on the CPU, so grading, logging and the update's bookkeeping never
depend on where the model is.

Usage::

    g = torch.Generator().manual_seed(0)
    s = sample(model, tokenizer, ["prompt a", "prompt b"], n_per_prompt=8, max_new_tokens=16,
               stop="\\n", generator=g)
    s.completions[8]   # first sample of "prompt b"
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from motivlab.errors import check_range
from motivlab.models.generation.cache import forward, select_rows
from motivlab.models.generation.draw import draw
from motivlab.models.generation.text import cached_stop_table, encode_left_padded, pad_id_of, render_prompts


@dataclass
class Samples:
    """Rollouts of a batch of prompts, prompt-major: row ``i * n_per_prompt + j`` is the j-th
    sample of prompt ``i``.

    Tensors (B rows, P prompt columns, T completion columns):
      prompt_ids (B, P) long, left-padded; prompt_mask (B, P) bool;
      completion_ids (B, T) long, right-padded; completion_mask (B, T) bool — the tokens the
      policy chose, including the end-of-sequence token if it stopped that way;
      logprobs (B, T) float32, 0 where masked; total_logprob (B,) float32; finished (B,) bool —
      stopped by ``stop``/eos rather than by ``max_new_tokens``.
    """

    prompts: list[str]
    completions: list[str]
    prompt_index: np.ndarray
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    logprobs: torch.Tensor
    total_logprob: torch.Tensor
    finished: torch.Tensor
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.completions)

    @property
    def n_tokens(self) -> int:
        """Completion tokens sampled (the throughput numerator)."""
        return int(self.completion_mask.sum())


# ---------------------------------------------------------------------------------------------
# the sampler


@torch.inference_mode()
def _decode_batch(
    model: Any,
    tokenizer: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    expand: torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    stop: str | None,
    eos_id: int | None,
    pad_id: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """Decode one batch; returns ``(ids (B, T), mask (B, T), logprobs (B, T), finished (B,), texts)``
    with texts cut just after the stop string.

    prompt_ids/mask (U, P) hold each *distinct* prompt once and ``expand`` (B,) says which prompt
    each row continues: the prefill runs on U rows and the KV cache is then copied out to B
    rows, so a group of K samples pays for its prompt once, not K times.
    """
    device = next(model.parameters()).device
    ids = prompt_ids.to(device)
    attention = prompt_mask.to(device).long()  # (U, P)
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)  # (U, P) left padding starts at 0
    batch = len(expand)
    vocab = model.get_output_embeddings().weight.shape[0]
    stop_table = cached_stop_table(tokenizer, stop, vocab)

    out_ids = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long)
    out_mask = torch.zeros((batch, max_new_tokens), dtype=torch.bool)
    out_logp = torch.zeros((batch, max_new_tokens), dtype=torch.float32)
    done = torch.zeros(batch, dtype=torch.bool)
    texts = [""] * batch
    cut: list[int | None] = [None] * batch  # column of the token that completed the stop string

    logits, cache = forward(model, None, input_ids=ids, attention_mask=attention, position_ids=positions,
                            logits_to_keep=1)
    index = expand.to(device)
    select_rows(cache, index)  # (U, ...) -> (B, ...): row b continues prompt expand[b]
    logits = logits[index, -1, :]  # (B, V)
    attention, next_pos = attention[index], positions[index, -1:] + 1  # (B, P), (B, 1)
    for t in range(max_new_tokens):
        tokens, logp = draw(logits, temperature, generator, top_p=top_p, method="race")
        tokens, logp = tokens.cpu(), logp.cpu()
        live = ~done
        out_ids[live, t] = tokens[live]
        out_mask[live, t] = True
        out_logp[live, t] = logp[live]
        if eos_id is not None:
            done |= live & (tokens == eos_id)
        if stop_table is not None:
            for row in torch.nonzero(live & stop_table[tokens]).flatten().tolist():
                text = tokenizer.decode(out_ids[row, : t + 1].tolist(), skip_special_tokens=True)
                if stop in text:  # type: ignore[operator]
                    done[row] = True
                    cut[row] = t
                    texts[row] = text[: text.index(stop) + len(stop)]  # type: ignore[arg-type]
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        attention = torch.cat([attention, attention.new_ones(batch, 1)], dim=1)
        logits, cache = forward(
            model, cache,
            input_ids=tokens.masked_fill(done, pad_id)[:, None].to(device),
            attention_mask=attention,
            position_ids=next_pos,
        )
        logits = logits[:, -1, :]
        next_pos = next_pos + 1

    for row in range(batch):
        if cut[row] is None:
            length = int(out_mask[row].sum())
            texts[row] = tokenizer.decode(out_ids[row, :length].tolist(), skip_special_tokens=True)
    return out_ids, out_mask, out_logp, done, texts


def sample(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    n_per_prompt: int = 1,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    stop: str | None = None,
    generator: torch.Generator,
    batch_size: int | None = None,
    chat_template: bool = False,
) -> Samples:
    """Sample ``n_per_prompt`` completions of every prompt (see the module docstring).

    ``batch_size`` caps the rows decoded together (memory); ``None`` decodes all rows at once.
    The model is put in eval mode for sampling and restored to its previous mode afterwards.
    """
    if len(prompts) == 0:
        raise ValueError("sample: prompts is empty")
    check_range("n_per_prompt", n_per_prompt, low=1)
    check_range("max_new_tokens", max_new_tokens, low=1)
    check_range("temperature", temperature, low=0.0)
    check_range("top_p", top_p, low=0.0, high=1.0, low_inclusive=False)
    if batch_size is not None:
        check_range("batch_size", batch_size, low=1)
    start = time.perf_counter()
    pad_id = pad_id_of(tokenizer)
    eos_id = getattr(tokenizer, "eos_token_id", None)
    texts = render_prompts(tokenizer, prompts, chat_template=chat_template)
    unique_ids, unique_mask = encode_left_padded(tokenizer, texts, pad_id)  # (N, P)
    prompt_index = np.repeat(np.arange(len(prompts)), n_per_prompt)  # (B,)
    index = torch.from_numpy(prompt_index)
    prompt_ids, prompt_mask = unique_ids[index], unique_mask[index]  # (B, P)
    rows = len(prompt_index)
    step = batch_size or rows

    was_training = model.training
    model.eval()
    pieces = []
    try:
        for lo in range(0, rows, step):
            hi = min(rows, lo + step)
            distinct, expand = torch.unique(index[lo:hi], return_inverse=True)  # (U,), (b,)
            ids, mask = unique_ids[distinct], unique_mask[distinct]
            keep = int(mask.sum(dim=1).max())  # drop all-padding columns of this chunk
            pieces.append(
                _decode_batch(
                    model, tokenizer, ids[:, -keep:], mask[:, -keep:], expand, max_new_tokens=max_new_tokens,
                    temperature=temperature, top_p=top_p, stop=stop, eos_id=eos_id, pad_id=pad_id,
                    generator=generator,
                )
            )
    finally:
        model.train(was_training)

    width = max(int(p[1].sum(dim=1).max()) for p in pieces)  # longest completion
    width = max(width, 1)
    completion_ids = torch.cat([p[0][:, :width] for p in pieces])
    completion_mask = torch.cat([p[1][:, :width] for p in pieces])
    logprobs = torch.cat([p[2][:, :width] for p in pieces])
    finished = torch.cat([p[3] for p in pieces])
    completions = [text for p in pieces for text in p[4]]
    return Samples(
        prompts=list(prompts),
        completions=completions,
        prompt_index=prompt_index,
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        completion_ids=completion_ids,
        completion_mask=completion_mask,
        logprobs=logprobs,
        total_logprob=logprobs.sum(dim=1),
        finished=finished,
        seconds=time.perf_counter() - start,
    )
