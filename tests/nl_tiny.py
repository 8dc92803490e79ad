"""A tiny random chat-format model for the natural-language world tests: a character tokenizer over
the world's alphabet with a plain chat template, and a 2-layer Llama. Built in the test, no downloads."""

from __future__ import annotations

from typing import Any

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def tiny_chat(seed: int = 0) -> tuple[Any, Any]:
    from motivlab.rl.tiny import char_tokenizer, tiny_llama
    from motivlab.worlds.nl import ALPHABET

    tokenizer = char_tokenizer(ALPHABET)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tiny_llama(tokenizer, seed=seed, hidden=32, layers=2, heads=2), tokenizer


def save_tiny_chat(path: Any, seed: int = 0) -> Any:
    model, tokenizer = tiny_chat(seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
