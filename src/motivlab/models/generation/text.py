"""From text to the token ids a decoder conditions on, and the cheap stop-string pre-check.

Padding is done here, not by the tokenizer, so that its ``padding_side`` setting (which differs
between models) cannot change what a decoder sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


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
    """Token ids ``(N, P)`` left-padded with ``pad_id`` and the mask ``(N, P)`` of real tokens."""
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
    """:func:`_stop_char_table`, computed once per (tokenizer, stop string, vocabulary size): a
    whole-vocabulary decode is seconds for a 49k vocabulary."""
    key = (id(tokenizer), stop or "", vocab_size)
    if key not in _STOP_TABLE_CACHE:
        _STOP_TABLE_CACHE[key] = _stop_char_table(tokenizer, stop, vocab_size)
    return _STOP_TABLE_CACHE[key]
