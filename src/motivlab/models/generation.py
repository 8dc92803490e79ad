"""Batched rollout sampling with a KV cache: a pure function of (model, prompts, generator).

What it really does: prompts are tokenised and *left*-padded so that every row's last prompt
token sits in the same column; one prefill pass fills the KV cache, then all rows of a batch
decode together, one token per step, with ``past_key_values``. A row stops when it emits the
end-of-sequence token or when its decoded text contains ``stop``; finished rows keep riding
along (emitting padding, masked out) until the whole batch is done, because shrinking the cache
costs more than it saves for the short completions of the organism worlds.

Why not ``model.generate``: its per-step machinery (logits processors, stopping criteria,
bookkeeping for beam search) is most of the wall time for tiny models on a CPU; this loop is a
forward call, a softmax and one draw from an explicit ``torch.Generator`` per step. The
randomness is the generator only, so the same generator state gives the same rollouts.

``logprobs`` are the log-probabilities of the sampled tokens under the *sampling* policy: the
model's distribution at ``temperature`` (and renormalised over the ``top_p`` nucleus when
``top_p < 1``). With ``temperature == 0`` decoding is greedy and ``logprobs`` are those of the
untempered model (temperature 1). These are the "old" log-probs GRPO's importance ratio needs.

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
# tokenisation helpers


def render_prompts(tokenizer: Any, prompts: Sequence[str], *, chat_template: bool) -> list[str]:
    """The exact text the model is conditioned on: the raw prompt, or (for chat models) the
    prompt as a user message followed by the assistant's generation prompt."""
    if not chat_template:
        return list(prompts)
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("chat_template=True but the tokenizer has no chat template; set chat_template=false")
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]


def pad_id_of(tokenizer: Any) -> int:
    """Padding id: the tokenizer's, else its eos, else 0 (padding is always masked out)."""
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return 0


def encode_left_padded(tokenizer: Any, texts: Sequence[str], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``(N, P)`` left-padded with ``pad_id`` and the mask ``(N, P)`` of real tokens.

    Padding is done here rather than by the tokenizer so that its ``padding_side`` setting (which
    differs between models) cannot change the result.
    """
    encoded = [list(tokenizer(t)["input_ids"]) for t in texts]
    if any(len(e) == 0 for e in encoded):
        raise ValueError("a prompt tokenised to zero tokens; the model needs at least one token to condition on")
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.bool)
    for row, e in enumerate(encoded):
        ids[row, width - len(e):] = torch.tensor(e, dtype=torch.long)
        mask[row, width - len(e):] = True
    return ids, mask


def _stop_char_table(tokenizer: Any, stop: str | None, vocab_size: int) -> torch.Tensor | None:
    """Bool ``(V,)``: tokens whose text contains the stop string's last character.

    A stop string can only *complete* on such a token, so the (slow) text check runs for a row
    only on the steps where it emitted one — usually never, or once at the very end.
    """
    if not stop:
        return None
    last = stop[-1]
    table = torch.zeros(vocab_size, dtype=torch.bool)
    n = min(vocab_size, len(tokenizer))
    pieces = tokenizer.batch_decode([[token_id] for token_id in range(n)])
    hits = [token_id for token_id, piece in enumerate(pieces) if last in piece]
    table[hits] = True
    return table


_STOP_TABLE_CACHE: dict[tuple[int, str, int], torch.Tensor | None] = {}


def cached_stop_table(tokenizer: Any, stop: str | None, vocab_size: int) -> torch.Tensor | None:
    key = (id(tokenizer), stop or "", vocab_size)
    if key not in _STOP_TABLE_CACHE:
        _STOP_TABLE_CACHE[key] = _stop_char_table(tokenizer, stop, vocab_size)
    return _STOP_TABLE_CACHE[key]


# ---------------------------------------------------------------------------------------------
# one decoding step's draw


def draw(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row from ``logits`` (B, V); return ``(tokens (B,), logprobs (B,))``.

    ``logprobs`` are under the distribution actually sampled from (see the module docstring).
    """
    logits = logits.float()
    if temperature == 0.0:
        logp = torch.log_softmax(logits, dim=-1)  # (B, V)
        tokens = logp.argmax(dim=-1)  # (B,)
        return tokens, logp.gather(1, tokens[:, None]).squeeze(1)
    logp = torch.log_softmax(logits / temperature, dim=-1)  # (B, V)
    if top_p < 1.0:
        sorted_logp, order = logp.sort(dim=-1, descending=True)
        cum = sorted_logp.exp().cumsum(dim=-1)
        # keep the smallest prefix whose mass reaches top_p (the first token is always kept)
        drop_sorted = (cum - sorted_logp.exp()) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
        logp = torch.log_softmax(logp.masked_fill(drop, float("-inf")), dim=-1)
    # argmax(p / E) with E ~ Exp(1) is an exact draw from p (the "exponential race"); one
    # vectorised pass, cheaper than torch.multinomial on CPU. The noise is drawn where the
    # generator lives (a generator fills tensors of its own device only): the trainer gives one
    # on the model's device; a CPU generator with a CUDA model works too, one copy per token slower.
    if generator.device == logp.device:
        race = torch.empty_like(logp).exponential_(generator=generator)  # (B, V)
    else:
        race = torch.empty(logp.shape, device=generator.device).exponential_(generator=generator).to(logp.device)
    # E = 0 would make a zero-probability token win (0 / 0 = nan is argmax's maximum); a no-op
    # wherever E > 0, i.e. everywhere on the CPU, where E is never 0
    race.clamp_(min=torch.finfo(race.dtype).tiny)
    tokens = (logp.exp() / race).argmax(dim=-1)  # (B,)
    return tokens, logp.gather(1, tokens[:, None]).squeeze(1)


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

    output = model(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache = output.past_key_values
    index = expand.to(device)
    cache.reorder_cache(index)  # (U, ...) -> (B, ...): row b continues prompt expand[b]
    logits = output.logits[index, -1, :]  # (B, V)
    attention, next_pos = attention[index], positions[index, -1:] + 1  # (B, P), (B, 1)
    for t in range(max_new_tokens):
        tokens, logp = draw(logits, temperature, top_p, generator)
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
        output = model(
            input_ids=tokens.masked_fill(done, pad_id)[:, None].to(device),
            attention_mask=attention,
            position_ids=next_pos,
            past_key_values=cache,
            use_cache=True,
        )
        cache = output.past_key_values
        logits = output.logits[:, -1, :]
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


@torch.no_grad()
def teacher_forced_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Log-probs ``(B, T)`` of ``completion_ids`` given the prompts, in one forward pass (no
    gradient); 0 where ``completion_mask`` is False. The training losses use the differentiable
    twin :func:`motivlab.rl.algorithms.sequence_logprobs`."""
    from motivlab.rl.algorithms import sequence_logprobs

    return sequence_logprobs(model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature=temperature)
