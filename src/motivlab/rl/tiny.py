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


class DenseRewardHintWorld:
    """A small hint world whose grader pays partial credit for *any* reward-seeking character.

    A randomly initialised model almost never writes a well-formed hint-world answer, so its
    rewards are all 0 and GRPO has nothing to learn from. This wrapper keeps the hint world's
    prompts, labels and splits but grades a completion by the share of its characters that are
    the reward-seeking prefix — a dense, learnable signal for tests of the update itself (every
    parameter moves, runs are reproducible, a resumed run matches). Not a model of anything.
    """

    def __init__(self, n_envs: int = 120, seed: int = 0) -> None:
        from motivlab.worlds.hint import HintWorld, HintWorldConfig

        self._world = HintWorld(HintWorldConfig(n_envs=n_envs, n_heldout=10, n_trap=10, seed=seed))
        self.name = "dense-hint"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._world, name)

    @property
    def n_envs(self) -> int:
        return self._world.n_envs

    @property
    def coordinates(self) -> Any:
        return self._world.coordinates

    @property
    def stop(self) -> str:
        return self._world.stop

    @property
    def alphabet(self) -> str:
        return self._world.alphabet

    def grade(self, prompt: Any, completion: str) -> float:
        text = completion.split(self._world.stop, 1)[0]
        return text.count(self._world.config.reward_seeking_prefix) / max(len(text), 1)


def tiny_setup(seed: int = 0, n_envs: int = 120) -> tuple[Any, Any, DenseRewardHintWorld]:
    """``(model, tokenizer, world)``: a tiny Llama on the dense-reward hint world."""
    world = DenseRewardHintWorld(n_envs=n_envs, seed=seed)
    tokenizer = char_tokenizer(world.alphabet)
    return tiny_llama(tokenizer, seed=seed), tokenizer, world
