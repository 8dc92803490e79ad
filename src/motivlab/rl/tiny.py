"""A tiny randomly initialised Llama with a character tokenizer, for tests and benchmarks.

Not a model of anything: it exists so that the sampler, the losses and the training loop can be
exercised in seconds on a CPU, with the same code path as the real organism (a ``transformers``
causal LM plus a ``PreTrainedTokenizerFast``).
"""

from __future__ import annotations

from typing import Any


def char_tokenizer(alphabet: str) -> Any:
    """A character tokenizer over ``alphabet`` (the organism's, from :mod:`motivlab.models.tokenizer`)."""
    from motivlab.models.tokenizer import build_char_tokenizer

    return build_char_tokenizer(alphabet)


def tiny_llama(tokenizer: Any, *, seed: int = 0, hidden: int = 64, layers: int = 2, heads: int = 4) -> Any:
    """A freshly initialised ``LlamaForCausalLM`` sized for ``tokenizer`` (eval mode, float32)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()
